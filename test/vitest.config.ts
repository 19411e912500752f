import { defineConfig } from 'vitest/config';

// One project per tier, by what is real: unit (pure, any user), kernel (real BPF, root),
// e2e (real processes and clients against the CLI/agent), vm (features this kernel lacks,
// run by `make test` inside one ../shared/vm/vm-run).
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], root: '.' } },
      {
        test: {
          name: 'kernel', include: ['test/kernel/**/*.test.ts'], root: '.',
          testTimeout: 60_000, hookTimeout: 60_000, pool: 'forks', poolOptions: { forks: { singleFork: true } },
        },
      },
      {
        test: {
          name: 'e2e', include: ['test/e2e/**/*.test.ts'], root: '.',
          testTimeout: 120_000, hookTimeout: 120_000, pool: 'forks', poolOptions: { forks: { singleFork: true } },
        },
      },
      {
        test: {
          name: 'vm', include: ['test/vm/**/*.test.ts'], root: '.',
          testTimeout: 300_000, hookTimeout: 300_000, pool: 'forks', poolOptions: { forks: { singleFork: true } },
        },
      },
    ],
  },
});
