/**
 * daemon/: the composition root. Only here are modules constructed, connected, started and
 * stopped; signals are handled only here. Config is one zod schema (config.ts) with flags one to
 * one onto keys. May import: everything.
 */
export { runAgent } from './agent.js';
export { loadConfig, ConfigError, type Config, type ConfigFlags } from './config.js';
