import { describe, expect, it } from 'vitest';
import { progress } from '../../../agent/cli/progress.js';

describe('progress', () => {
  it('writes each step on a terminal, and nothing otherwise', () => {
    let written = '';
    const out = { write: (text: string): void => { written += text; } };
    progress(out, true)('rotating');
    expect(written).toBe('tether: rotating...\n');
    written = '';
    progress(out, false)('rotating');
    expect(written).toBe('');
  });
});
