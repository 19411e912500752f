/**
 * telemetry/: logging, and prom-client metrics served on --metrics-addr (every name `tether_...`;
 * more metrics and /healthz, /readyz come with the operations issue). Folders above it in
 * ARCHITECTURE.md never import it: daemon/ hands them a logger and registers the metrics.
 * May import: nothing of the project.
 */
export { createLogger, type Logger, type LogLevel } from './logger.js';
export { MetricsServer, parseListenAddress, type MetricsLog } from './metrics-server.js';
