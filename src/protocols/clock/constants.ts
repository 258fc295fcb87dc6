/**
 * Direct catch-up: "what is your (day, period), membership and votes?" 1.1.0 carries
 * each join request once (codec.ts, PackedSnapshotSchema); 1.0.0, every vote's in full,
 * is still served, and asked of a peer that speaks nothing newer.
 */
export const CLOCK_SYNC_PROTOCOL = '/meshtown/clock-sync/1.1.0'
export const CLOCK_SYNC_PROTOCOL_1_0 = '/meshtown/clock-sync/1.0.0'

/** A clock gossip message carries at most one period's statements: a few hundred bytes each. */
export const MAX_CLOCK_MESSAGE_BYTES = 512 * 1024
/** A reach bitmap (reach.ts) of at most 1,024 members (the view's bound): 128 bytes in base64url. */
export const MAX_REACH_CHARS = 171
/** Subscribers outside the view (observers, newcomers) an author names as reached, by a tag of their PeerId (gossip-routes.ts). */
export const MAX_REACH_GUESTS = 32
/** A snapshot also carries the certificate of the previous period. clock-sync 1.0.0's bound, which older peers keep. */
export const MAX_SNAPSHOT_BYTES = 1024 * 1024
/**
 * clock-sync 1.1.0's bound: the largest honest snapshot, of a town of 1,024 members with
 * two periods of votes each backing 64 join requests, is ~1.3 MB packed (clock-codec.test.ts).
 */
export const MAX_PACKED_SNAPSHOT_BYTES = 2 * 1024 * 1024
/** A snapshot request names a town. */
export const MAX_SYNC_REQUEST_BYTES = 1024

/**
 * How often a peer re-publishes the statements it holds for the current period
 * while its state is changing (one message repairs every gap a neighbour has).
 */
export const DEFAULT_REPUBLISH_INTERVAL_MS = 1_000
/** Re-publish at that pace for this long after the last change; after that only heartbeats. */
export const REPAIR_WINDOW_MS = 3_000
/**
 * A quiet peer still re-publishes this often (its heartbeat): a sixth of the
 * eviction timeout, between the re-publish interval and this bound (pace.ts).
 */
export const MAX_HEARTBEAT_MS = 5_000
/** In a larger town the heartbeat slows to this much per member, up to a quarter of the eviction timeout (pace.ts). */
export const HEARTBEAT_MS_PER_MEMBER = 200
/** A member silent this long in a period gets an eviction signed by each member that noticed. */
export const DEFAULT_EVICT_AFTER_MS = 30_000
export const EVICTION_CHECK_INTERVAL_MS = 250
/**
 * Authors whose last message time and gossip sequence number a peer keeps; past
 * this, those of peers outside the view are forgotten (members are at most 1,024,
 * and anyone connected can relay messages signed by as many new keys as it likes).
 */
export const MAX_TRACKED_AUTHORS = 2_048
/** Don't ask the same peer for a snapshot more often than this. */
export const SYNC_BACKOFF_MS = 500
export const SYNC_TIMEOUT_MS = 5_000

export const SIGNING_DOMAIN = 'meshtown-clock-v1'

/** A voter hands its vote to the period's relay on this protocol (relay.ts). */
export const CLOCK_RELAY_PROTOCOL = '/meshtown/clock-relay/1.0.0'
/** A relay request is one vote: a few hundred bytes, plus up to 64 join requests it backs. */
export const MAX_RELAY_REQUEST_BYTES = 64 * 1024
/**
 * A relay holds the votes handed to it until they complete the period, or this
 * long after the first of them: a period of people thinking is not held up, and
 * the town sees who has acted.
 */
export const RELAY_HOLD_MS = 250
/** Below this many members a relay saves no sends: each vote goes to one or two peers either way. */
export const RELAY_MIN_MEMBERS = 4
