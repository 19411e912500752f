import { describe, expect, it } from 'vitest';
import { applyConfigReload, changedKeys } from '../../../agent/daemon/config-reload.js';
import { ConfigError, loadConfig } from '../../../agent/daemon/config.js';
import type { Logger } from '../../../agent/telemetry/index.js';

function fakeLog(): { log: Logger; lines: Array<[string, object, string]> } {
  const lines: Array<[string, object, string]> = [];
  const at = (level: string) => (obj: object, msg: string) => { lines.push([level, obj, msg]); };
  const log = { level: 'info', info: at('info'), warn: at('warn'), error: at('error') } as unknown as Logger;
  return { log, lines };
}

describe('SIGHUP config reload', () => {
  const base = loadConfig({}, {});

  it('applies a new log level live and names the keys that wait for a restart', () => {
    const { log, lines } = fakeLog();
    applyConfigReload(base, () => loadConfig({ logLevel: 'debug', pinDir: '/sys/fs/bpf/other', cgroup: '/sys/fs/cgroup/unified/x' }, {}), log);
    expect(log.level).toBe('debug');
    expect(lines).toContainEqual(['info', { component: 'daemon', logLevel: 'debug' }, 'SIGHUP: log level changed']);
    expect(lines).toContainEqual(['warn', { component: 'daemon', keys: ['enforce.cgroup', 'pinDir'] }, 'SIGHUP: these config keys changed and take effect at the next restart']);
  });

  it('keeps the running config when the new one is refused, saying why', () => {
    const { log, lines } = fakeLog();
    applyConfigReload(base, () => { throw new ConfigError('config.yaml: metricsAddr: expected host:port'); }, log);
    expect(log.level).toBe('info');
    expect(lines).toEqual([['error', { component: 'daemon', err: 'config.yaml: metricsAddr: expected host:port' }, 'SIGHUP: config refused; the running config stays']]);
  });

  it('finds nothing changed in an equal config, and nested keys by their dotted name', () => {
    expect(changedKeys(base, loadConfig({}, {}))).toEqual([]);
    expect(changedKeys(base, { ...base, ca: { ...base.ca, intermediate: true } })).toEqual(['ca.intermediate']);
  });
});
