import { readFileSync, readdirSync } from 'node:fs';
import { posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * STYLE.md section 1: the folders of agent/ are the rows of ARCHITECTURE.md's table, in its order,
 * each with what it may import. A folder may import its row's folders and, through them, what
 * they may import (the closure); arrows point up the table. Any other import fails here.
 */
const ROWS: ReadonlyArray<readonly [folder: string, mayImport: readonly string[]]> = [
  ['spiffe', []],
  ['kernel', []], // and the native addon's types: NATIVE below
  ['attest', ['kernel']],
  ['ca', ['spiffe']],
  ['registry', ['spiffe']],
  ['svid', ['ca', 'registry']],
  ['workload', ['attest', 'svid', 'registry']],
  ['enforce', ['kernel', 'attest', 'registry']],
  ['mesh', ['kernel', 'svid', 'enforce']],
  ['profile', ['kernel', 'attest', 'enforce']],
  ['admin', ['spiffe', 'kernel', 'attest', 'ca', 'registry', 'svid', 'workload', 'enforce', 'mesh', 'profile']],
  ['telemetry', []],
  // "everything": every folder above it; cli is below and imports daemon (once, lazily), not the reverse.
  ['daemon', ['spiffe', 'kernel', 'attest', 'ca', 'registry', 'svid', 'workload', 'enforce', 'mesh', 'profile', 'admin', 'telemetry']],
  // Exact (EXACT_ROWS): what reads or changes the running agent goes through admin/'s client;
  // registry for the offline `entry list|show`; kernel only for `tether uninstall` (FILE_EXCEPTIONS).
  ['cli', ['admin', 'workload', 'registry', 'spiffe']],
];

/**
 * Rows that name every folder their files may import: what the named folders reach stays behind
 * them. cli/ reaches the agent's insides (attest, kernel, ca...) only through admin/'s client,
 * never by loading them in the CLI's process.
 */
const EXACT_ROWS: ReadonlySet<string> = new Set(['cli']);

/** One file's exceptions to its folder's row, each with why; `dynamic`: only as import(). */
const FILE_EXCEPTIONS: ReadonlyArray<{ file: string; folder: string; dynamic: boolean; why: string }> = [
  { file: 'cli/commands/agent.ts', folder: 'daemon', dynamic: true, why: '`tether agent run` hands over to the composition root' },
  { file: 'cli/commands/uninstall.ts', folder: 'kernel', dynamic: false, why: '`tether uninstall` removes the pins of a stopped agent: there is no agent to ask' },
];

/** kernel/ is the typed face of the addon: it may import the addon's .d.ts, and only as types. */
const NATIVE = { folder: 'kernel', target: 'native/index.js' };

interface ImportRef {
  readonly specifier: string;
  readonly line: number;
  readonly typeOnly: boolean;
  readonly dynamic: boolean;
}

const FOLDERS = new Map(ROWS);

function closure(folder: string, seen = new Set<string>()): Set<string> {
  for (const f of FOLDERS.get(folder) ?? []) {
    if (seen.has(f)) continue;
    seen.add(f);
    closure(f, seen);
  }
  return seen;
}

/** Every module specifier a file names: import/export ... from, import(), import x = require(), require('...'). */
function findImports(fileName: string, text: string): ImportRef[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: ImportRef[] = [];
  const add = (node: ts.Node, spec: ts.Node | undefined, typeOnly: boolean, dynamic: boolean): void => {
    const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
    // A computed specifier cannot be checked, so it is refused: '<computed>' is never allowed.
    const specifier = spec && ts.isStringLiteralLike(spec) ? spec.text : '<computed>';
    out.push({ specifier, line, typeOnly, dynamic });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      add(node, node.moduleSpecifier, node.importClause?.isTypeOnly === true, false);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier) {
      add(node, node.moduleSpecifier, node.isTypeOnly, false);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node, node.moduleReference.expression, node.isTypeOnly, false);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node, node.argument.literal, true, false);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(node, node.arguments[0], false, true);
    } else if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'require'
      && node.arguments[0] && ts.isStringLiteralLike(node.arguments[0])) {
      // Only literal require(): kernel/native.ts loads the addon by a computed path, by design.
      add(node, node.arguments[0], false, false);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

/** The violations of one file (path relative to agent/), each naming the file, line, specifier and rule. */
function checkFile(file: string, text: string): string[] {
  const from = file.split('/');
  const folder = from.length > 1 ? from[0] ?? '' : '';
  if (folder === '') return [`agent/${file}: a file directly in agent/; it belongs in a folder of the table`];
  if (!FOLDERS.has(folder)) return [`agent/${file}: folder ${folder}/ has no row in ARCHITECTURE.md's table (add one)`];
  const allowed = EXACT_ROWS.has(folder) ? new Set(FOLDERS.get(folder)) : closure(folder);
  const problems: string[] = [];
  for (const ref of findImports(file, text)) {
    const problem = checkImport(file, folder, allowed, ref);
    if (problem !== undefined) problems.push(`agent/${file}:${ref.line}: '${ref.specifier}': ${problem}`);
  }
  return problems;
}

function checkImport(file: string, folder: string, allowed: Set<string>, ref: ImportRef): string | undefined {
  const spec = ref.specifier;
  if (spec === '<computed>') return 'a computed specifier cannot be checked against the table';
  if (spec.startsWith('/')) return 'an absolute path: import by a relative specifier';
  if (!spec.startsWith('./') && !spec.startsWith('../')) return undefined; // node: builtins and npm packages
  // Resolve against the file's directory, from the repository root (agent/ is one level down).
  const target = posix.normalize(posix.join('agent', posix.dirname(file), spec));
  if (target.startsWith('../')) return 'outside the repository';
  const [top, to, ...rest] = target.split('/');
  if (top !== 'agent') {
    if (folder === NATIVE.folder && target === NATIVE.target) {
      return ref.typeOnly ? undefined : 'kernel/ imports the native addon\'s types only (import type / export type)';
    }
    return `outside agent/: only ${NATIVE.folder}/ may reach ${NATIVE.target}, for types`;
  }
  if (to === undefined || rest.length === 0) return 'a file directly in agent/';
  if (to === folder) return undefined;
  if (rest.join('/') !== 'index.js') return `another folder is reached through its index.js ('${to}/index.js'), never a file behind it`;
  if (allowed.has(to)) return undefined;
  const exception = FILE_EXCEPTIONS.find((x) => x.file === file && x.folder === to);
  if (exception && (!exception.dynamic || ref.dynamic)) return undefined;
  if (exception) return `${file} may reach ${to}/ only lazily, with import() (${exception.why})`;
  const may = [...allowed].sort().join(', ') || 'nothing of the project';
  return `${folder}/ may not import ${to}/ (its row, with what that reaches: ${may})`;
}

const AGENT = fileURLToPath(new URL('../../agent/', import.meta.url));

function agentFiles(): string[] {
  return readdirSync(AGENT, { recursive: true, encoding: 'utf8' })
    .map((f) => f.split('\\').join('/'))
    .filter((f) => f.endsWith('.ts'))
    .sort();
}

describe('layering', () => {
  it('holds for every file of agent/', () => {
    const files = agentFiles();
    expect(files.length).toBeGreaterThan(10);
    const violations = files.flatMap((f) => checkFile(f, readFileSync(posix.join(AGENT, f), 'utf8')));
    expect(violations).toEqual([]);
  });

  it('has a row for every folder of agent/', () => {
    const dirs = readdirSync(AGENT, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    expect(dirs.filter((d) => !FOLDERS.has(d))).toEqual([]);
  });

  it('has rows that point up the table only', () => {
    const order = ROWS.map(([f]) => f);
    const down = ROWS.flatMap(([f, may]) => may.filter((m) => !(order.indexOf(m) >= 0 && order.indexOf(m) < order.indexOf(f))).map((m) => `${f} -> ${m}`));
    expect(down).toEqual([]);
    expect(FILE_EXCEPTIONS.every((x) => FOLDERS.has(x.folder) && FOLDERS.has(x.file.split('/')[0] ?? ''))).toBe(true);
  });

  it('reaches through allowed folders: workload may import kernel through attest, ca may not', () => {
    expect([...closure('workload')].sort()).toEqual(['attest', 'ca', 'kernel', 'registry', 'spiffe', 'svid']);
    expect([...closure('mesh')].sort()).toEqual(['attest', 'ca', 'enforce', 'kernel', 'registry', 'spiffe', 'svid']);
    expect(closure('ca').has('kernel')).toBe(false);
    expect(checkFile('workload/server.ts', "import { ProcEventSource } from '../kernel/index.js';")).toEqual([]);
  });
});

describe('the layering checker', () => {
  it.each([
    ['an import of a folder not in the row', 'attest/x.ts', "import { SvidCache } from '../svid/index.js';", 'attest/ may not import svid/'],
    ['a type-only import of a forbidden folder', 'spiffe/x.ts', "import type { Logger } from '../telemetry/index.js';", 'spiffe/ may not import telemetry/'],
    ['a re-export', 'ca/index.ts', "export { X } from '../attest/index.js';", 'ca/ may not import attest/'],
    ['a dynamic import', 'kernel/x.ts', "const m = await import('../attest/index.js');", 'kernel/ may not import attest/'],
    ['an import spread over lines after a comment', 'registry/x.ts',
      "// from '../spiffe/index.js' is fine\nimport {\n  a,\n  b,\n} from '../svid/index.js';", "registry/x.ts:2: '../svid/index.js'"],
    ['a file behind another folder\'s index', 'workload/x.ts', "import { SvidCache } from '../svid/cache.js';", 'through its index.js'],
    ['a folder reached by a deeper path', 'cli/commands/x.ts', "import { a } from '../../attest/proc-reader.js';", 'through its index.js'],
    ['the daemon from any other cli file', 'cli/commands/ps.ts', "const d = await import('../../daemon/index.js');", 'cli/ may not import daemon/'],
    ['the daemon from cli/commands/agent.ts, statically', 'cli/commands/agent.ts', "import { runAgent } from '../../daemon/index.js';", 'only lazily'],
    ['the tracker from the CLI, which asks the agent instead', 'cli/commands/ps.ts', "import { hostTracker } from '../../attest/index.js';", 'cli/ may not import attest/'],
    ['the CA from the CLI, though admin/ reaches it', 'cli/commands/ca.ts', "import { LocalAuthority } from '../../ca/index.js';", 'cli/ may not import ca/'],
    ['the kernel from a CLI file other than uninstall', 'cli/commands/status.ts', "import { detectKernelFeatures } from '../../kernel/index.js';", 'cli/ may not import kernel/'],
    ['the addon itself from kernel', 'kernel/x.ts', "import * as addon from '../../native/index.js';", 'types only'],
    ['the addon from another folder', 'attest/x.ts', "import type { RingHandle } from '../../native/index.js';", 'only kernel/'],
    ['a computed import', 'kernel/x.ts', 'const m = await import(name);', 'computed'],
    ['a file of agent/ itself', 'svid/x.ts', "import { a } from '../util.js';", 'directly in agent/'],
    ['a test helper', 'spiffe/x.ts', "import { a } from '../../test/support/wait.js';", 'outside agent/'],
  ])('catches %s', (_name, file, text, message) => {
    const problems = checkFile(file, text);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(message);
    expect(problems[0]).toContain(`agent/${file}`);
  });

  it('catches a file directly in agent/ and a folder without a row', () => {
    expect(checkFile('main.ts', '')).toEqual([expect.stringContaining('directly in agent/')]);
    expect(checkFile('utils/strings.ts', '')).toEqual([expect.stringContaining('utils/ has no row')]);
  });

  it('lets through what the rows allow', () => {
    expect(checkFile('cli/commands/agent.ts', "const { runAgent } = await import('../../daemon/index.js');")).toEqual([]);
    expect(checkFile('kernel/native.ts', "import type * as N from '../../native/index.js';\nexport type { A } from '../../native/index.js';")).toEqual([]);
    expect(checkFile('cli/commands/ps.ts', "import { a } from '../output.js';\nimport { b } from '../../admin/index.js';")).toEqual([]);
    expect(checkFile('cli/commands/entry.ts', "import { readEntriesFile } from '../../registry/index.js';")).toEqual([]);
    expect(checkFile('cli/commands/uninstall.ts', "import { uninstall } from '../../kernel/index.js';")).toEqual([]);
    expect(checkFile('daemon/agent.ts', "import { c } from '../telemetry/index.js';\nimport { readFileSync } from 'node:fs';\nimport { z } from 'zod';")).toEqual([]);
  });
});
