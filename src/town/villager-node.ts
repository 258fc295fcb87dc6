import type { MeshPeer } from '../node/peer.js'
import { MessagingService } from '../protocols/messaging/index.js'
import { createTradeService, type TradeService } from '../protocols/trade/index.js'
import { VillagerService, type VillagerServiceInit } from './villager-service.js'

export interface VillagerNodeInit extends VillagerServiceInit {
  settleIntervalMs?: number
}

/** Everything a villager peer runs, started and stopped in the right order. */
export interface VillagerNode {
  villager: VillagerService
  trades: TradeService
  messaging: MessagingService
  stop: () => Promise<void>
}

export async function startVillagerNode (peer: MeshPeer, init: VillagerNodeInit): Promise<VillagerNode> {
  const villager = new VillagerService(peer, init)
  await villager.start()
  const trades = createTradeService(peer, villager, { settleIntervalMs: init.settleIntervalMs })
  await trades.start()
  const messaging = new MessagingService(peer, villager)
  await messaging.start()
  return {
    villager,
    trades,
    messaging,
    stop: async () => {
      await messaging.stop()
      await trades.stop()
      await villager.stop()
    }
  }
}
