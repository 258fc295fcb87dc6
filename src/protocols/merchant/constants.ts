export const MERCHANT_PROTOCOL = '/meshtown/merchant/1.0.0'

/**
 * Largest request or reply frame. An order is about 100 bytes and the price
 * table about 200; 4 KiB leaves room for error messages and nothing else.
 */
export const MAX_MERCHANT_MESSAGE_BYTES = 4 * 1024

/** A client waits this long for a reply, dial included. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000

/**
 * The merchant gives up on one request after this long. Ledger writes are
 * serialized, so a slow disk delays every queued order: keep this above the client timeout.
 */
export const DEFAULT_HANDLER_TIMEOUT_MS = 15_000

/** Concurrent merchant requests one connection may have open (libp2p's default is 32). */
export const MAX_INBOUND_STREAMS_PER_CONNECTION = 32

/** How long `waitForMerchant` looks for a merchant among the connected peers by default. */
export const DEFAULT_WAIT_FOR_MERCHANT_MS = 30_000

/** A client-chosen order id; only these characters, so it can be part of a datastore key. */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9_-]{8,64}$/

/** Datastore keys: one ledger record per (villager, requestId), and the running totals. */
export const LEDGER_KEY_PREFIX = '/meshtown/merchant/ledger'
export const TOTALS_KEY = '/meshtown/merchant/totals'
