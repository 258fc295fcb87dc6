/**
 * The town's public status board: every villager (and, if wired, the merchant)
 * publishes what anyone in the town may know about it on `meshtown/<town>/status`.
 */
export function statusTopic (town: string): string {
  return `meshtown/${town}/status`
}

/** One status notice on the wire; a full one (64 peers, 20 trades) is about 14 KB. */
export const MAX_STATUS_BYTES = 24 * 1024
/** Connections listed in one notice (the rest are counted in `peerCount`). */
export const MAX_STATUS_PEERS = 64
/** Trades listed in one notice: every open one first, then the latest settled ones. */
export const MAX_STATUS_TRADES = 20
/** Heartbeat: a notice this often even when nothing changed, so silence means unreachable. */
export const DEFAULT_STATUS_INTERVAL_MS = 5_000
/** Changes within this window are coalesced into one notice. */
export const DEFAULT_STATUS_COALESCE_MS = 1_000
