/** DHT provider records of a town live under the CID of this prefix + the town name. */
export const TOWN_KEY_PREFIX = '/meshtown/town/1.0.0/'

/** How often to look for new town members once the first round is done. */
export const DEFAULT_LOOKUP_INTERVAL_MS = 5_000

/** The first lookups come fast so a new peer finds its town within a second or two. */
export const DEFAULT_FAST_LOOKUP_INTERVAL_MS = 500
export const DEFAULT_FAST_LOOKUPS = 10

export const DEFAULT_MAX_DIALS_PER_LOOKUP = 64
export const TOWN_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/
