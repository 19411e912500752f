/**
 * telemetry/: logging now; prom-client metrics and /healthz, /readyz come with the operations
 * issue. Folders above it in ARCHITECTURE.md never import it: daemon/ hands them a logger.
 * May import: nothing of the project.
 */
export { createLogger, type Logger, type LogLevel } from './logger.js';
