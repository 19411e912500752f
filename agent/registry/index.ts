/**
 * registry/: registration entries (selectors → SPIFFE ID) from one YAML file, hot-reloaded.
 * Selectors are canonical strings "type:key:value" (parseSelector): the contract with attest/,
 * which produces a caller's set in the same spelling; the two folders never import each other.
 * An entry matches when every one of its selectors is in the caller's set (matchEntries).
 * Values are made only by parsing: an Entry in hand is valid (SPIFFE ID in the trust domain, at
 * least one known selector, positive TTLs), and its id is stable across reloads.
 * FileEntryStore owns one fs.watch on the file's directory from start() to stop(); a file that
 * fails to read or validate leaves the last good set serving and is reported with its line.
 * An entry's `posture:` (posture.ts) is parsed here only: the checks are attest/'s, applied by workload/.
 * Errors are RegistryError with a code. May import: spiffe/.
 */
export { RegistryError, type RegistryErrorCode } from './errors.js';
export { parseSelector, SELECTOR_TYPES } from './selector.js';
export { parseDuration, formatDuration } from './duration.js';
export { type Entry } from './entry.js';
export {
  CAPABILITIES, POSTURE_CHECKS, SECCOMP_MODES, capabilityName, normalizeCapability, postureChecks,
  type Posture, type PostureCheckName, type SeccompMode,
} from './posture.js';
export { parseEntriesFile } from './entries-file.js';
export {
  FileEntryStore, readEntriesFile, type FileEntryStoreOptions, type RegistryLog, type ReloadResult,
} from './entry-store.js';
export { explainMatch, matchEntries, type MatchExplanation } from './match.js';
export { listProblems, locate, typeError, where, yamlValue, type YamlProblem } from './yaml-problems.js';
