/** DHT provider records of a town live under the CID of this prefix + the town name. */
export const TOWN_KEY_PREFIX = '/meshtown/town/1.0.0/'

/** How often to redial known town members we lost, once the first rounds are done. */
export const DEFAULT_LOOKUP_INTERVAL_MS = 5_000

/**
 * Once past the fast rounds, query the DHT only every this many rounds while every
 * known member is connected: newcomers dial us themselves, and every DHT query
 * opens a stream to several peers (a peer-store write each), which in a town of
 * 50 was most of an idle peer's CPU.
 */
export const DEFAULT_QUERY_EVERY_ROUNDS = 6
/**
 * Each query that finds nothing new, with no member lost meanwhile, doubles the gap
 * to the next one, up to this many rounds (5 min at the default interval); a new or
 * lost member brings it back to DEFAULT_QUERY_EVERY_ROUNDS. In a settled town of 25
 * the queries every 30 s were about a third of the idle town's CPU.
 */
export const DEFAULT_MAX_QUERY_EVERY_ROUNDS = 60

/** The first lookups come fast so a new peer finds its town within a second or two. */
export const DEFAULT_FAST_LOOKUP_INTERVAL_MS = 500
export const DEFAULT_FAST_LOOKUPS = 10

export const DEFAULT_MAX_DIALS_PER_LOOKUP = 64
export const TOWN_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/
