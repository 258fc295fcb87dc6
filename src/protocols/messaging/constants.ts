export const MESSAGE_PROTOCOL = '/meshtown/message/1.0.0'
export const MAX_MESSAGE_CHARS = 2000
/** A message frame: the text plus a little JSON around it, in UTF-8 (up to 4 bytes a character). */
export const MAX_MESSAGE_BYTES = MAX_MESSAGE_CHARS * 4 + 512
export const MESSAGE_TIMEOUT_MS = 5_000
/** Inbox entries kept; older ones are dropped from the list (they stay on disk until compacted). */
export const MAX_INBOX = 10_000
