/** Direct catch-up: "what is your (day, period), membership and votes?" */
export const CLOCK_SYNC_PROTOCOL = '/meshtown/clock-sync/1.0.0'

/** A clock gossip message carries at most one period's statements: a few hundred bytes each. */
export const MAX_CLOCK_MESSAGE_BYTES = 512 * 1024
/** A snapshot also carries the certificate of the previous period. */
export const MAX_SNAPSHOT_BYTES = 1024 * 1024

/** How often every peer re-publishes the statements it holds for the current period (also its heartbeat). */
export const DEFAULT_REPUBLISH_INTERVAL_MS = 1_000
/** A member silent this long in a period gets an eviction signed by each member that noticed. */
export const DEFAULT_EVICT_AFTER_MS = 30_000
export const EVICTION_CHECK_INTERVAL_MS = 250
/** Don't ask the same peer for a snapshot more often than this. */
export const SYNC_BACKOFF_MS = 500
export const SYNC_TIMEOUT_MS = 5_000

export const SIGNING_DOMAIN = 'meshtown-clock-v1'
