import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Entry } from '../../../agent/registry/entry.js';
import { FileEntryStore, readEntriesFile } from '../../../agent/registry/entry-store.js';
import { RegistryError } from '../../../agent/registry/errors.js';
import { TrustDomain } from '../../../agent/spiffe/index.js';
import { waitFor } from '../../support/wait.js';

const TD = TrustDomain.parse('example.org');

/** A file of one entry per name, each for uid 1000 (and whatever else is given). */
function entriesYaml(names: readonly string[], extra = ''): string {
  return `entries:\n${names.map((n) => `  - spiffeId: spiffe://example.org/${n}\n    selectors: [unix:uid:1000]\n${extra}`).join('')}`;
}

const BAD = 'entries:\n  - spiffeId: spiffe://example.org/web\n    selectors: [unix:uid:1000]\n    x509SvidTtl: forever\n';

class RecordingLog {
  readonly lines: Array<{ level: 'info' | 'error'; obj: object; msg: string }> = [];
  info(obj: object, msg: string): void {
    this.lines.push({ level: 'info', obj, msg });
  }
  error(obj: object, msg: string): void {
    this.lines.push({ level: 'error', obj, msg });
  }
}

const names = (entries: readonly Entry[]): string[] => entries.map((e) => e.spiffeId.path);

describe('FileEntryStore', () => {
  let dir: string;
  let file: string;
  let store: FileEntryStore | undefined;
  let log: RecordingLog;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tether-entries-'));
    file = join(dir, 'entries.yaml');
    log = new RecordingLog();
  });
  afterEach(() => {
    store?.stop();
    store = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  function open(options: { watch?: boolean } = {}): FileEntryStore {
    store = new FileEntryStore({ path: file, trustDomain: TD, log, debounceMs: 20, watch: options.watch ?? true });
    return store;
  }

  /** Resolves with the next set a listener hears of; a deadline turns a lost reload into a failure. */
  function nextChange(s: FileEntryStore): Promise<readonly Entry[]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for the store to report a change')), 4000);
      const off = s.onChange((entries) => {
        clearTimeout(timer);
        off();
        resolve(entries);
      });
    });
  }

  it('starts empty, with a log line, when the file does not exist', async () => {
    const s = open();
    await s.start();
    expect(s.current()).toEqual([]);
    expect(s.lastError()).toBeUndefined();
    expect(log.lines).toEqual([{ level: 'info', obj: { file }, msg: expect.stringContaining('no entries file') }]);
  });

  it('refuses to start on a bad file, naming its line', async () => {
    writeFileSync(file, BAD);
    const err = await open().start().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect(err).toMatchObject({ code: 'BAD_ENTRIES', line: 4, message: expect.stringContaining(`${file}:4:`) });
  });

  it('refuses to start on a file it cannot read', async () => {
    mkdirSync(file); // a directory where the file should be: EISDIR
    await expect(open().start()).rejects.toMatchObject({ code: 'UNREADABLE_ENTRIES_FILE', file });
  });

  it('reloads a rewritten file and tells its listeners', async () => {
    writeFileSync(file, entriesYaml(['web']));
    const s = open();
    await s.start();
    expect(names(s.current())).toEqual(['/web']);
    const changed = nextChange(s);
    writeFileSync(file, entriesYaml(['web', 'db']));
    expect(names(await changed)).toEqual(['/web', '/db']);
    expect(names(s.current())).toEqual(['/web', '/db']);
  });

  it('reloads a file replaced by rename, as editors and config tools write it', async () => {
    writeFileSync(file, entriesYaml(['web']));
    const s = open();
    await s.start();
    const changed = nextChange(s);
    const temp = join(dir, '.entries.yaml.tmp');
    writeFileSync(temp, entriesYaml(['api']));
    renameSync(temp, file);
    expect(names(await changed)).toEqual(['/api']);
    // and again: the watch is on the directory, so the replaced inode does not end it
    const again = nextChange(s);
    writeFileSync(temp, entriesYaml(['api', 'worker']));
    renameSync(temp, file);
    expect(names(await again)).toEqual(['/api', '/worker']);
  });

  it('follows a Kubernetes ConfigMap volume, which swaps its "..data" symlink', async () => {
    const version = (n: number, content: string): string => {
      const d = join(dir, `..2026_${n}`);
      mkdirSync(d);
      writeFileSync(join(d, 'entries.yaml'), content);
      return d;
    };
    symlinkSync(version(1, entriesYaml(['web'])), join(dir, '..data'));
    symlinkSync(join('..data', 'entries.yaml'), file);
    const s = open();
    await s.start();
    expect(names(s.current())).toEqual(['/web']);
    const changed = nextChange(s);
    symlinkSync(version(2, entriesYaml(['db'])), join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    expect(names(await changed)).toEqual(['/db']);
  });

  it('keeps the last good set when a rewrite is bad, names the line, and recovers when it is fixed', async () => {
    writeFileSync(file, entriesYaml(['web']));
    const s = open();
    await s.start();
    const heard: Array<readonly Entry[]> = [];
    s.onChange((entries) => heard.push(entries));
    const good = s.current();

    writeFileSync(file, BAD);
    const error = await waitFor('the bad file to be reported', () => s.lastError());
    expect(error).toMatchObject({ code: 'BAD_ENTRIES', line: 4, message: expect.stringContaining(`${file}:4:`) });
    expect(error.message).toContain('x509SvidTtl: "forever" is not a duration');
    expect(s.current()).toBe(good);
    expect(heard).toEqual([]);
    expect(log.lines.at(-1)).toMatchObject({ level: 'error', obj: { file, line: 4, code: 'BAD_ENTRIES' } });

    writeFileSync(file, entriesYaml(['web', 'fixed']));
    await waitFor('the fixed file to be served', () => heard.length === 1);
    expect(names(s.current())).toEqual(['/web', '/fixed']);
    expect(s.lastError()).toBeUndefined();
  });

  it('tells listeners only of real changes: not of comments, not of moved lines', async () => {
    writeFileSync(file, entriesYaml(['web']));
    const s = open({ watch: false });
    await s.start();
    let calls = 0;
    s.onChange(() => calls++);
    writeFileSync(file, `# a comment moves every line down\n\n${entriesYaml(['web'])}`);
    const same = await s.reload();
    expect(same.ok).toBe(true);
    expect(calls).toBe(0);
    expect(s.current()[0]?.line).toBe(4); // what is served still has the file's lines

    writeFileSync(file, entriesYaml(['web'], '    hint: primary\n'));
    expect((await s.reload()).ok).toBe(true);
    expect(calls).toBe(1);
    expect(s.current()[0]?.hint).toBe('primary');

    writeFileSync(file, entriesYaml(['web'], '    hint: primary\n    x509SvidTtl: 10m\n'));
    await s.reload();
    expect(calls).toBe(2); // the same id (SPIFFE ID and selectors), another field

    writeFileSync(file, `entries:\n  - spiffeId: spiffe://example.org/b\n    selectors: [unix:uid:1]\n  - spiffeId: spiffe://example.org/a\n    selectors: [unix:uid:1]\n`);
    await s.reload();
    writeFileSync(file, `entries:\n  - spiffeId: spiffe://example.org/a\n    selectors: [unix:uid:1]\n  - spiffeId: spiffe://example.org/b\n    selectors: [unix:uid:1]\n`);
    await s.reload();
    expect(calls).toBe(4); // order is meaning: the first SVID is the default identity
  });

  it('keeps the last good set when the file disappears (revoking all takes `entries: []`)', async () => {
    writeFileSync(file, entriesYaml(['web']));
    const s = open({ watch: false });
    await s.start();
    unlinkSync(file);
    const result = await s.reload();
    expect(result).toMatchObject({ ok: false, error: { code: 'NO_ENTRIES_FILE' } });
    expect(names(s.current())).toEqual(['/web']);
    writeFileSync(file, 'entries: []\n');
    expect(await s.reload()).toEqual({ ok: true, entries: [] });
    expect(s.current()).toEqual([]);
  });

  it('runs reloads one at a time, in order', async () => {
    writeFileSync(file, entriesYaml(['web']));
    const s = open({ watch: false });
    await s.start();
    const first = s.reload();
    writeFileSync(file, entriesYaml(['db']));
    const second = s.reload();
    await first;
    expect(await second).toMatchObject({ ok: true });
    expect(names(s.current())).toEqual(['/db']);
  });

  it('refuses an entry of another trust domain, as the agent could not mint it', async () => {
    writeFileSync(file, 'entries:\n  - spiffeId: spiffe://other.test/web\n    selectors: [unix:uid:1]\n');
    await expect(open().start()).rejects.toMatchObject({ code: 'BAD_ENTRIES', line: 2 });
  });

  it('keeps serving when a listener throws', async () => {
    writeFileSync(file, entriesYaml(['web']));
    const s = open({ watch: false });
    await s.start();
    s.onChange(() => {
      throw new Error('listener bug');
    });
    writeFileSync(file, entriesYaml(['db']));
    expect((await s.reload()).ok).toBe(true);
    expect(names(s.current())).toEqual(['/db']);
    expect(log.lines.at(-1)).toMatchObject({ level: 'error', msg: 'an entries listener threw' });
  });
});

describe('readEntriesFile', () => {
  it('names a missing file', async () => {
    await expect(readEntriesFile('/nonexistent/tether/entries.yaml')).rejects.toMatchObject({
      code: 'NO_ENTRIES_FILE', message: 'no entries file at /nonexistent/tether/entries.yaml',
    });
  });
});
