/**
 * telemetry/: logging, and prom-client metrics served on --metrics-addr (every name `tether_...`),
 * with /healthz and /readyz on the same server. Folders above it in ARCHITECTURE.md never import
 * it: daemon/ hands them a logger, registers the metrics and supplies the readiness checks.
 * May import: nothing of the project.
 */
export { createLogger, type Logger, type LogLevel } from './logger.js';
export {
  MetricsServer, parseListenAddress, type MetricsLog, type MetricsServerOptions, type Readiness, type ReadinessCheck,
} from './metrics-server.js';
