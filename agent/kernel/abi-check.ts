import { LAYOUT } from './abi.gen.js';
import { KernelError } from './errors.js';

type Layout = Record<string, { size: number; fields: Record<string, number> }>;

/**
 * Compares the layout the BPF compiler produced (abi.gen.ts, from BTF) with the one the C++
 * compiler produced (the addon's layout()), struct by struct and field by field. Throws
 * ABI_MISMATCH naming every difference: a stale build fails at start-up, not at a late read.
 */
export function checkAbi(native: Layout, generated: Layout = LAYOUT): void {
  const problems: string[] = [];
  for (const [struct, gen] of Object.entries(generated)) {
    const nat = native[struct];
    if (!nat) { problems.push(`${struct}: missing from the addon`); continue; }
    if (nat.size !== gen.size) problems.push(`sizeof(${struct}): BPF ${gen.size}, addon ${nat.size}`);
    for (const [field, offset] of Object.entries(gen.fields)) {
      const other = nat.fields[field];
      if (other !== offset) problems.push(`offsetof(${struct}, ${field}): BPF ${offset}, addon ${other ?? 'absent'}`);
    }
    for (const field of Object.keys(nat.fields)) {
      if (!(field in gen.fields)) problems.push(`${struct}.${field}: in the addon only`);
    }
  }
  for (const struct of Object.keys(native)) {
    if (!(struct in generated)) problems.push(`${struct}: in the addon only (run 'make build')`);
  }
  if (problems.length > 0) {
    throw new KernelError('ABI_MISMATCH', `struct layouts differ between bpf/ and native/ (rebuild both with 'make build'):\n  ${problems.join('\n  ')}`);
  }
}
