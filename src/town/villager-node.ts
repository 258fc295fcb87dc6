import type { MeshPeer } from '../node/peer.js'
import { MessagingService } from '../protocols/messaging/index.js'
import { startVillagerStatus, type TownStatusPublisher } from '../protocols/town-status/index.js'
import { createTradeService, type TradeService } from '../protocols/trade/index.js'
import { VillagerService, type VillagerServiceInit } from './villager-service.js'

export interface VillagerNodeInit extends VillagerServiceInit {
  settleIntervalMs?: number
  /** How often the villager's public status (for observers) is re-published. */
  statusIntervalMs?: number
}

/** Everything a villager peer runs, started and stopped in the right order. */
export interface VillagerNode {
  villager: VillagerService
  trades: TradeService
  messaging: MessagingService
  status: TownStatusPublisher
  stop: () => Promise<void>
}

export async function startVillagerNode (peer: MeshPeer, init: VillagerNodeInit): Promise<VillagerNode> {
  const villager = new VillagerService(peer, init)
  await villager.start()
  const trades = createTradeService(peer, villager, { settleIntervalMs: init.settleIntervalMs })
  await trades.start()
  const messaging = new MessagingService(peer, villager)
  await messaging.start()
  const status = await startVillagerStatus(peer, { villager, trades, intervalMs: init.statusIntervalMs })
  return {
    villager,
    trades,
    messaging,
    status,
    stop: async () => {
      await status.stop()
      await messaging.stop()
      await trades.stop()
      await villager.stop()
    }
  }
}
