/**
 * Watching rooms as an outsider: find a room's config (from a connected peer
 * that serves room configs, else from the DHT's providers of the room id),
 * subscribe to its public topic with the seats as the only accepted senders,
 * and keep a connection to each agent's peer so its gossip reaches us.
 *
 * The observer holds no seat. Private room messages travel only on direct
 * streams to their receivers, so none ever reaches it; catch-up is served to
 * agents only, so the transcript starts when the observer starts watching.
 */
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { MeshPeer } from '../node/peer.js'
import { ROOM_CONFIG_PROTOCOL, type RoomNetworkService, type RoomTransport } from '../protocols/room/index.js'
import type { RoomManifest } from '../protocols/room/messages.js'
import { assertRoomId } from '../protocols/room/room-id.js'
import { setupFromManifest, type RoomSetup } from '../rooms/manifest.js'
import { startRoomNetwork } from '../rooms/room-peer.js'
import type { TownModel } from './town-model.js'

/** Not an agent name (agent names have no parentheses): never a receiver, never a sender. */
const OBSERVER_SELF = '(observer)'
const LOOK_MIN_MS = 500
const LOOK_MAX_MS = 10_000
const DIAL_INTERVAL_MS = 3_000

interface Watched {
  room: string
  setup?: RoomSetup
  transport?: RoomTransport
  timer?: ReturnType<typeof setTimeout>
  delay: number
}

export class RoomWatcher {
  private readonly peer: MeshPeer
  private readonly model: TownModel
  private readonly onChange: () => void
  private readonly watched = new Map<string, Watched>()
  private network?: RoomNetworkService
  private readonly controller = new AbortController()
  private stopped = false

  constructor (peer: MeshPeer, model: TownModel, onChange: () => void) {
    this.peer = peer
    this.model = model
    this.onChange = onChange
  }

  async watch (roomId: string): Promise<void> {
    const room = assertRoomId(roomId)
    if (this.watched.has(room) || this.stopped) return
    this.model.watchRoom(room)
    this.network ??= await startRoomNetwork(this.peer)
    const w: Watched = { room, delay: LOOK_MIN_MS }
    this.watched.set(room, w)
    this.schedule(w, 0)
  }

  async stop (): Promise<void> {
    this.stopped = true
    this.controller.abort()
    for (const w of this.watched.values()) {
      clearTimeout(w.timer)
      w.transport?.leave()
    }
    await this.network?.stop()
  }

  private schedule (w: Watched, delay: number): void {
    if (this.stopped) return
    w.timer = setTimeout(() => {
      void this.step(w).catch((err: any) => { this.peer.log.debug(`observer: room ${w.room}: ${err.message}`) })
    }, delay)
  }

  /** Looking for the config until the room is sealed; then keeping the agents connected. */
  private async step (w: Watched): Promise<void> {
    if (w.setup == null || !w.setup.manifest.sealed) {
      const manifest = await this.findManifest(w.room)
      if (manifest != null) {
        try {
          this.adopt(w, manifest)
        } catch (err: any) {
          this.model.roomError(w.room, `unusable config: ${err.message}`)
          this.onChange()
        }
      }
    }
    if (w.setup != null) {
      await this.dialAgents(w.setup)
      this.onChange()
      this.schedule(w, w.setup.manifest.sealed ? DIAL_INTERVAL_MS : LOOK_MIN_MS)
    } else {
      w.delay = Math.min(w.delay * 2, LOOK_MAX_MS)
      this.schedule(w, w.delay)
    }
  }

  private adopt (w: Watched, manifest: RoomManifest): void {
    const setup = setupFromManifest(manifest)
    w.setup = setup
    this.model.roomReady(w.room, setup.config.name, [...setup.seats].map(([name, id]) => ({ name, peerId: id.toString() })))
    if (w.transport == null && this.network != null) {
      // the endpoint reads w.setup at each message, so seats taken later count as they come
      w.transport = this.network.join({
        room: w.room,
        self: OBSERVER_SELF,
        peerOf: (agent) => w.setup?.seats.get(agent),
        agentOf: (peer) => {
          for (const [name, id] of w.setup?.seats ?? []) if (id.equals(peer)) return name
          return undefined
        },
        addrsOf: (agent) => w.setup?.addrs.get(agent) ?? [],
        receive: (msg) => {
          if (this.model.roomMessage(w.room, msg)) this.onChange()
        },
        serveSync: () => []
      })
    }
    this.onChange()
  }

  private async findManifest (room: string): Promise<RoomManifest | undefined> {
    const network = this.network
    if (network == null) return undefined
    const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(5_000)])
    const tried = new Set<string>()
    const attempt = async (id: PeerId): Promise<RoomManifest | undefined> => {
      if (tried.has(id.toString()) || id.equals(this.peer.peerId)) return undefined
      tried.add(id.toString())
      try {
        const m = await network.fetchConfig(id, { room }, signal)
        return m.room === room ? m : undefined
      } catch {
        return undefined
      }
    }
    // peers we already know serve room configs: the creator or an agent may be among them
    for (const id of this.peer.libp2p.getPeers()) {
      const record = await this.peer.libp2p.peerStore.get(id).catch(() => undefined)
      if (record?.protocols.includes(ROOM_CONFIG_PROTOCOL) !== true) continue
      const m = await attempt(id)
      if (m != null) return m
    }
    try {
      for await (const provider of network.findProviders(room, signal)) {
        if (provider.multiaddrs.length > 0) await this.peer.libp2p.peerStore.merge(provider.id, { multiaddrs: provider.multiaddrs }).catch(() => {})
        const m = await attempt(provider.id)
        if (m != null) return m
      }
    } catch { /* no providers yet, or the lookup timed out */ }
    return undefined
  }

  private async dialAgents (setup: RoomSetup): Promise<void> {
    const connected = new Set(this.peer.connectedPeers())
    await Promise.all([...setup.seats].map(async ([name, id]) => {
      if (connected.has(id.toString()) || this.stopped) return
      const addrs = (setup.addrs.get(name) ?? []).flatMap(a => { try { return [multiaddr(a)] } catch { return [] } })
      if (addrs.length > 0) await this.peer.libp2p.peerStore.merge(id, { multiaddrs: addrs }).catch(() => {})
      await this.peer.libp2p.dial(peerIdFromString(id.toString()), { signal: AbortSignal.any([this.controller.signal, AbortSignal.timeout(5_000)]) }).catch(() => {})
    }))
  }
}
