/**
 * svid/: the SVIDs of registration entries, cached, renewed and announced. An X509-SVID is minted
 * on first demand, cached per entry, re-minted when at most half its life (±10% jitter, SPIRE's
 * rule) is left, when the entry's SPIFFE ID, TTL or DNS names change, and when its CA has left
 * the bundle; one timer drives renewal, and onRotate listeners (Workload API streams) hear which
 * entries changed, or all of them after a CA change, within NOTIFY_SETTLE_MS. JWT-SVIDs are
 * cached per (entry, SPIFFE ID, audience set) in a bounded LRU; concurrent asks share one mint.
 * Invariants: a failed mint never replaces a still-valid SVID of the same identity; memory is
 * bounded (retain() drops the SVIDs of entries that are gone, the JWT cache is capped); time is
 * the clock option, timers are injectable. Handles: each cache holds a timer and a CA listener
 * until close(). May import: ca/, registry/, spiffe/ (registry/ not yet: SvidEntry is declared here).
 */
export { SvidError, type SvidErrorCode } from './errors.js';
export type { SvidAuthority, SvidClock, SvidEntry, SvidLog, SvidTimers } from './deps.js';
export { MIN_REFRESH_MS, refreshTime, type RefreshPolicy } from './refresh-time.js';
export {
  NOTIFY_SETTLE_MS, X509SvidCache, type CachedX509Svid, type X509SvidCacheOptions, type X509SvidCacheStats,
} from './x509-svid-cache.js';
export { JwtSvidCache, type JwtSvid, type JwtSvidCacheOptions, type JwtSvidCacheStats } from './jwt-svid-cache.js';
