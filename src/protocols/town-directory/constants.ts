/** DHT provider records of a town live under the CID of this prefix + the town name. */
export const TOWN_KEY_PREFIX = '/meshtown/town/1.0.0/'

/** How often to redial known town members we lost, once the first rounds are done. */
export const DEFAULT_LOOKUP_INTERVAL_MS = 5_000

/**
 * Once past the fast rounds, query the DHT only every this many rounds (2 min at
 * the default interval) while every known member is connected: newcomers dial us
 * themselves, lost members are redialled every round, and a DHT query costs the
 * asking peer ~0.5 s of CPU in a town of 25 (20 streams, a peer-store write for
 * every peer named in the answers) and every answering peer its peer-store reads.
 * It is there for what nothing else finds: members that never dialled us.
 */
export const DEFAULT_QUERY_EVERY_ROUNDS = 24
/**
 * Each query that finds nothing new, with no member newly lost meanwhile, doubles
 * the gap to the next one, up to this many rounds (10 min at the default interval);
 * a new or newly lost member brings it back to DEFAULT_QUERY_EVERY_ROUNDS.
 */
export const DEFAULT_MAX_QUERY_EVERY_ROUNDS = 120

/** The first lookups come fast so a new peer finds its town within a second or two. */
export const DEFAULT_FAST_LOOKUP_INTERVAL_MS = 500
export const DEFAULT_FAST_LOOKUPS = 10

export const DEFAULT_MAX_DIALS_PER_LOOKUP = 64
export const TOWN_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/
