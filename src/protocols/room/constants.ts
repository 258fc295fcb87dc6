/** Direct stream that carries a private room message to one receiver. */
export const ROOM_PROTOCOL = '/meshtown/room/1.0.0'
/** Catch-up: ask a peer for room messages this agent is missing. */
export const ROOM_SYNC_PROTOCOL = '/meshtown/room-sync/1.0.0'
/** Fetch a room's config and seats (and claim a seat) from its creator or a member. */
export const ROOM_CONFIG_PROTOCOL = '/meshtown/room-config/1.0.0'

/** DHT provider records of a room live under the CID of this prefix + the room id. */
export const ROOM_KEY_PREFIX = '/meshtown/room/1.0.0/'

export const ROOM_ID_LENGTH = 16
export const ROOM_ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
export const ROOM_ID_PATTERN = /^[A-Za-z0-9]{16}$/

/** Same rule as config.ts: no ">" so names are safe clock keys. */
export const AGENT_NAME_PATTERN = /^[A-Za-z0-9_-]{1,32}$/
/** `<sender>.<n>`: unique per sender without coordination, and it says who wrote it. */
export const MESSAGE_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}\.[1-9][0-9]{0,8}$/

/** One room message on the wire (gossip, direct stream): a few KB in practice. */
export const MAX_ROOM_MESSAGE_BYTES = 64 * 1024
/** Hard wire bound; a room's config sets a lower `max_message_chars`. */
export const MAX_CONTENT_CHARS = 16_000
export const MAX_RECEIVERS = 64
/** 64 public channels plus every ordered pair of 64 agents. */
export const MAX_CLOCK_ENTRIES = 64 + 64 * 63
export const MAX_END_CHARS = 500
/** Subscribers a public message names as reached by its author (the rest are left to forwarding). */
export const MAX_ROOM_REACH = 64

/** wire.ts bounds both frames of a request by one number: the reply's. */
export const MAX_SYNC_REPLY_BYTES = 4 * 1024 * 1024
export const MAX_SYNC_MESSAGES = 1024
export const MAX_SYNC_RANGES = 256

export const MAX_CONFIG_REPLY_BYTES = 512 * 1024
export const MAX_ADDRS_PER_SEAT = 16

export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000
/** Re-announce a provided room this often; DHT provider records expire. */
export const DEFAULT_REPROVIDE_INTERVAL_MS = 60_000

export const DROP_REASONS = ['oversized', 'malformed', 'forged', 'misrouted', 'unknown-room', 'rejected'] as const
