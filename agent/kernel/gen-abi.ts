/**
 * Writes agent/kernel/abi.gen.ts from the BTF of bpf/abi.bpf.c (`bpftool btf dump file
 * build/bpf/abi.bpf.o -j`), so the TypeScript side of every struct and enum in
 * bpf/include/tether_abi.h is generated, never hand-mirrored; and native/src/layout.gen.h, the
 * list of structs and fields whose sizeof/offsetof the addon reports (the C++ compiler computes
 * them: the check at load compares two compilers' layouts). Run by `make build`:
 *   node build/agent/kernel/gen-abi.js build/bpf/abi.btf.json agent/kernel/abi.gen.ts native/src/layout.gen.h
 * Prints "updated" when it changed a file. Imports nothing of the project.
 */
import { readFileSync, writeFileSync, existsSync } from 'node:fs';

interface BtfMember { name: string; type_id: number; bits_offset: number }
interface BtfType {
  id: number; kind: string; name: string; size?: number; type_id?: number; nr_elems?: number;
  encoding?: string; members?: BtfMember[]; values?: { name: string; val: number }[];
}

type FieldKind =
  | { kind: 'int'; size: 1 | 2 | 4 | 8; signed: boolean }
  | { kind: 'string'; size: number }
  | { kind: 'bytes'; size: number };

interface Field { cName: string; tsName: string; offset: number; type: FieldKind }

const camel = (s: string): string => s.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
const pascal = (s: string): string => camel(s).replace(/^./, (c) => c.toUpperCase());
const tsTypeName = (cName: string): string => pascal(cName.replace(/^tether_/, ''));

function resolve(types: Map<number, BtfType>, id: number): BtfType {
  let t = types.get(id);
  while (t && (t.kind === 'TYPEDEF' || t.kind === 'CONST' || t.kind === 'VOLATILE')) t = types.get(t.type_id ?? -1);
  if (!t) throw new Error(`BTF type ${id} does not resolve`);
  return t;
}

function fieldKind(types: Map<number, BtfType>, m: BtfMember, owner: string): FieldKind {
  const t = resolve(types, m.type_id);
  if (t.kind === 'INT' || t.kind === 'ENUM') {
    const size = t.size as 1 | 2 | 4 | 8;
    return { kind: 'int', size, signed: t.encoding === 'SIGNED' };
  }
  if (t.kind === 'ARRAY') {
    const elem = resolve(types, t.type_id ?? -1);
    const size = (elem.size ?? 0) * (t.nr_elems ?? 0);
    return elem.name === 'char' ? { kind: 'string', size } : { kind: 'bytes', size };
  }
  throw new Error(`${owner}.${m.name}: unsupported BTF kind ${t.kind} (the ABI allows fixed-width ints, enums and arrays)`);
}

function enumPrefix(names: string[]): string {
  let p = names[0] ?? '';
  for (const n of names) while (!n.startsWith(p)) p = p.slice(0, -1);
  return p.slice(0, p.lastIndexOf('_') + 1);
}

function genEnum(t: BtfType): string {
  const values = t.values ?? [];
  const prefix = enumPrefix(values.map((v) => v.name));
  const name = tsTypeName(t.name);
  const rows = values.map((v) => `  ${v.name.slice(prefix.length)}: ${v.val},`).join('\n');
  return `/** enum ${t.name} */\nexport const ${name} = {\n${rows}\n} as const;\n` +
    `export type ${name} = (typeof ${name})[keyof typeof ${name}];\n`;
}

const READ = { 1: 'readUInt8', 2: 'readUInt16LE', 4: 'readUInt32LE', 8: 'readBigUInt64LE' } as const;
const READ_SIGNED = { 1: 'readInt8', 2: 'readInt16LE', 4: 'readInt32LE', 8: 'readBigInt64LE' } as const;
const WRITE = { 1: 'writeUInt8', 2: 'writeUInt16LE', 4: 'writeUInt32LE', 8: 'writeBigUInt64LE' } as const;
const WRITE_SIGNED = { 1: 'writeInt8', 2: 'writeInt16LE', 4: 'writeInt32LE', 8: 'writeBigInt64LE' } as const;

function tsFieldType(f: Field): string {
  if (f.type.kind === 'int') return f.type.size === 8 ? 'bigint' : 'number';
  return f.type.kind === 'string' ? 'string' : 'Buffer';
}

function decodeExpr(f: Field): string {
  const at = `offset + ${f.offset}`;
  switch (f.type.kind) {
    case 'int': return `buf.${(f.type.signed ? READ_SIGNED : READ)[f.type.size]}(${at})`;
    case 'string': return `cString(buf, ${at}, ${f.type.size})`;
    case 'bytes': return `Buffer.from(buf.subarray(${at}, ${at} + ${f.type.size}))`;
  }
}

function encodeStmt(f: Field): string {
  const v = `value.${f.tsName}`;
  switch (f.type.kind) {
    case 'int': return `  buf.${(f.type.signed ? WRITE_SIGNED : WRITE)[f.type.size]}(${v}, ${f.offset});`;
    case 'string': return `  buf.write(${v}.slice(0, ${f.type.size - 1}), ${f.offset}, ${f.type.size - 1}, 'utf8');`;
    case 'bytes': return `  ${v}.copy(buf, ${f.offset}, 0, ${f.type.size});`;
  }
}

function genStruct(types: Map<number, BtfType>, t: BtfType): { layout: string; code: string } {
  const fields: Field[] = (t.members ?? []).map((m) => ({
    cName: m.name, tsName: camel(m.name), offset: m.bits_offset / 8, type: fieldKind(types, m, t.name),
  }));
  const visible = fields.filter((f) => !f.cName.startsWith('_pad'));
  const name = tsTypeName(t.name);
  const layout = `  ${t.name}: { size: ${t.size}, fields: { ${fields.map((f) => `${f.cName}: ${f.offset}`).join(', ')} } },`;
  const iface = visible.map((f) => `  readonly ${f.tsName}: ${tsFieldType(f)};`).join('\n');
  const dec = visible.map((f) => `    ${f.tsName}: ${decodeExpr(f)},`).join('\n');
  const enc = visible.map(encodeStmt).join('\n');
  const code = `/** struct ${t.name} (${t.size} bytes) */\nexport interface ${name} {\n${iface}\n}\n` +
    `export function decode${name}(buf: Buffer, offset = 0): ${name} {\n` +
    `  if (buf.length < offset + ${t.size}) throw new RangeError(\`${t.name}: need ${t.size} bytes at \${offset}, have \${buf.length}\`);\n` +
    `  return {\n${dec}\n  };\n}\n` +
    `export function encode${name}(value: ${name}): Buffer {\n  const buf = Buffer.alloc(${t.size});\n${enc}\n  return buf;\n}\n`;
  return { layout, code };
}

function abiStructs(btfJson: string): { types: Map<number, BtfType>; all: BtfType[]; structs: BtfType[] } {
  const all = (JSON.parse(btfJson) as { types: BtfType[] }).types;
  const types = new Map(all.map((t) => [t.id, t]));
  return { types, all, structs: all.filter((t) => t.kind === 'STRUCT' && t.name.startsWith('tether_')) };
}

/** native/src/layout.gen.h: an X-macro of every ABI struct and its fields. */
export function generateLayoutHeader(btfJson: string): string {
  const rows = abiStructs(btfJson).structs.map((t) =>
    `  S(${t.name}, ${(t.members ?? []).map((m) => `F(${m.name})`).join(' ')})`);
  return [
    '// Generated by agent/kernel/gen-abi.ts from the BTF of bpf/abi.bpf.c (bpf/include/tether_abi.h). Do not edit.',
    '// S(struct, fields) for every shared struct; F(field) for each of its fields.',
    '#pragma once',
    '#define TETHER_ABI_STRUCTS(S, F) \\',
    rows.join(' \\\n'),
    '',
  ].join('\n');
}

export function generate(btfJson: string): string {
  const { types, all, structs } = abiStructs(btfJson);
  const enums = all.filter((t) => t.kind === 'ENUM' && t.name.startsWith('tether_'));
  const gen = structs.map((s) => genStruct(types, s));
  return [
    '// Generated by agent/kernel/gen-abi.ts from the BTF of bpf/abi.bpf.c (bpf/include/tether_abi.h). Do not edit.',
    '/* eslint-disable */',
    '',
    '/** sizeof and offsetof as the BPF compiler laid them out; kernel/abi-check.ts compares them with the addon\'s. */',
    `export const LAYOUT = {\n${gen.map((g) => g.layout).join('\n')}\n} as const;`,
    '',
    ...enums.map(genEnum),
    'function cString(buf: Buffer, at: number, size: number): string {',
    '  const end = buf.indexOf(0, at);',
    "  return buf.toString('utf8', at, end < 0 || end > at + size ? at + size : end);",
    '}',
    '',
    ...gen.map((g) => g.code),
  ].join('\n');
}

function writeIfChanged(path: string, text: string): boolean {
  if (existsSync(path) && readFileSync(path, 'utf8') === text) return false;
  writeFileSync(path, text);
  return true;
}

function main(argv: string[]): void {
  const [input, outputTs, outputH] = argv;
  if (!input || !outputTs || !outputH) throw new Error('usage: gen-abi BTF_JSON OUTPUT_TS OUTPUT_H');
  const btf = readFileSync(input, 'utf8');
  const changed = [writeIfChanged(outputTs, generate(btf)), writeIfChanged(outputH, generateLayoutHeader(btf))];
  if (changed.some(Boolean)) process.stdout.write('updated\n');
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) main(process.argv.slice(2));
