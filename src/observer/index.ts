/**
 * The live town dashboard: an observer peer (TownObserver) and the page it
 * serves on loopback (startDashboardServer), started and stopped together.
 */
import type { GossipsubOpts } from '@libp2p/gossipsub'
import type { MeshPeer } from '../node/peer.js'
import { startDashboardServer, type DashboardServer } from './http-server.js'
import { TownObserver, type TownObserverInit } from './observer.js'

export { TownObserver, type TownObserverInit } from './observer.js'
export { startDashboardServer, PortInUseError, type DashboardServer } from './http-server.js'
export { TownModel, type DashboardState } from './town-model.js'

/**
 * Gossipsub options for the observer's peer. It connects to every member of the
 * town and to every agent of the rooms it watches: on one machine that is more
 * than gossipsub's IP-colocation threshold (10 peers on one address), past which
 * every peer on 127.0.0.1 is scored below the graylist and its messages ignored.
 * Loopback peers are this machine's own: they are not counted.
 */
export const OBSERVER_GOSSIPSUB_OPTIONS: Partial<GossipsubOpts> = {
  scoreParams: { IPColocationFactorWhitelist: new Set(['127.0.0.1', '::1']) }
}

export interface Dashboard {
  observer: TownObserver
  server: DashboardServer
  url: string
  stop: () => Promise<void>
}

export async function startDashboard (peer: MeshPeer, init: TownObserverInit & { httpPort?: number }): Promise<Dashboard> {
  const observer = new TownObserver(peer, init)
  await observer.start()
  let server: DashboardServer
  try {
    server = await startDashboardServer(() => observer.snapshot(), init.httpPort ?? 0)
  } catch (err) {
    await observer.stop()
    throw err
  }
  observer.addEventListener('change', () => { server.changed() })
  return {
    observer,
    server,
    url: server.url,
    stop: async () => {
      await server.close()
      await observer.stop()
    }
  }
}
