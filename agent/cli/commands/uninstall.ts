import type { Command } from 'commander';
import { uninstall } from '../../kernel/index.js';
import { outputOption, toJson, type OutputFormat } from '../output.js';

/** `tether uninstall`: offline; detaches and removes everything pinned under the pin dir. */
export function register(program: Command): void {
  program.command('uninstall')
    .description('detach every link and remove every pin under the pin dir (stop the agent first: a running one attaches and pins its programs again)')
    .option('--pin-dir <dir>', 'pin dir (env TETHER_PIN_DIR; default /sys/fs/bpf/tether)')
    .addOption(outputOption())
    .action((opts: { pinDir?: string; output: OutputFormat }) => {
      const pinDir = opts.pinDir ?? process.env.TETHER_PIN_DIR ?? '/sys/fs/bpf/tether';
      const removed = uninstall(pinDir);
      process.stdout.write(opts.output === 'json' ? `${toJson({ pinDir, removed })}\n`
        : `removed ${removed.length} pins from ${pinDir}\n`);
    });
}
