/**
 * Trades between two villagers, directly, on TRADE_PROTOCOL: propose -> accept |
 * reject -> confirm | cancel, atomic across crashes and partitions. The rules of a
 * trade are pure functions in src/town/trades.ts; this is the wire and the journal.
 */
import type { MeshPeer } from '../../node/peer.js'
import type { VillagerService } from '../../town/villager-service.js'
import { TradeService, type TradeServiceInit } from './trade-service.js'

export * from './constants.js'
export { TradeRequestSchema, TradeReplySchema, TradeIdSchema, type TradeRequest, type TradeReply } from './schemas.js'
export { TradeService, type TradeServiceInit, type ProposeInput, type TradeEvents } from './trade-service.js'

export function createTradeService (peer: MeshPeer, villager: VillagerService, init: TradeServiceInit = {}): TradeService {
  return new TradeService(peer, villager, init)
}
