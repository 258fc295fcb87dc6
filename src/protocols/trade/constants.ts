export const TRADE_PROTOCOL = '/meshtown/trade/1.0.0'
/** Trade messages are a few hundred bytes; nothing legitimate comes near this. */
export const MAX_TRADE_MESSAGE_BYTES = 4096
export const TRADE_REQUEST_TIMEOUT_MS = 5_000
/** How often open trades whose last step the other side has not acknowledged are re-sent. */
export const DEFAULT_SETTLE_INTERVAL_MS = 1_000
/** Concurrent trade streams accepted per connection. */
export const MAX_INBOUND_TRADE_STREAMS = 128
