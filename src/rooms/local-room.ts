/**
 * A whole room in one process: a local bootstrap peer that also hosts the
 * config, and every agent of the file as its own peer with its own data dir,
 * its own inbox and its own decider. The agents still only talk over libp2p
 * (TCP on 127.0.0.1): nothing in the process shares state between them.
 * Used by `meshtown room run` and by the tests.
 */
import path from 'node:path'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Logger } from '../node/logger.js'
import { createPeer as createMeshPeer, type MeshPeer, type PeerOptions } from '../node/peer.js'
import { newRoomId, type RoomNetworkService } from '../protocols/room/index.js'
import type { Seat } from '../protocols/room/messages.js'
import type { RoomDecider } from './actions.js'
import type { RoomConfig } from './config.js'
import type { RoomEnd } from './end-condition.js'
import { buildManifest, setupFromManifest, type RoomSetup } from './manifest.js'
import { RoomAgent, type RoomAgentTiming } from './room-agent.js'
import { RoomHost } from './room-host.js'
import { ROOM_GOSSIPSUB_OPTIONS, startRoomNetwork } from './room-peer.js'
import { RoomStore } from './room-store.js'

export interface LocalRoomOptions {
  config: RoomConfig
  /** Where every peer's data dir goes: `<baseDir>/bootstrap`, `<baseDir>/<agent>`. */
  baseDir: string
  roomId?: string
  /** Seed for the deciders; the room id by default. */
  seed?: string
  /** Which decider plays each seat. */
  decider: (agent: string) => RoomDecider
  /** Creates a peer (tests pass their PeerPool's). */
  createPeer?: (options: PeerOptions) => Promise<MeshPeer>
  log?: Logger
  timing?: RoomAgentTiming
  keyPass?: string
  /** Called for each agent before it starts (to listen from its first message on). */
  onAgent?: (agent: RoomAgent) => void
}

export interface LocalAgent {
  readonly name: string
  readonly dataDir: string
  peer: MeshPeer
  network: RoomNetworkService
  agent: RoomAgent
}

export class LocalRoom {
  readonly room: string
  readonly agents = new Map<string, LocalAgent>()
  private setupValue?: RoomSetup
  private host?: RoomHost
  private bootstrapPeer?: MeshPeer
  private bootstrapNetwork?: RoomNetworkService

  private constructor (private readonly options: LocalRoomOptions) {
    this.room = options.roomId ?? newRoomId()
  }

  /** Start the peers, seat the agents and start every agent; the game begins as soon as they all listen. */
  static async start (options: LocalRoomOptions): Promise<LocalRoom> {
    const local = new LocalRoom(options)
    try {
      await local.open()
    } catch (err) {
      await local.stop()
      throw err
    }
    return local
  }

  get setup (): RoomSetup {
    if (this.setupValue === undefined) throw new Error('room not started')
    return this.setupValue
  }

  get bootstrap (): MeshPeer {
    if (this.bootstrapPeer === undefined) throw new Error('room not started')
    return this.bootstrapPeer
  }

  agent (name: string): RoomAgent {
    const a = this.agents.get(name)
    if (a === undefined) throw new Error(`no agent ${name}`)
    return a.agent
  }

  private get createPeer (): (options: PeerOptions) => Promise<MeshPeer> {
    return this.options.createPeer ?? createMeshPeer
  }

  private async open (): Promise<void> {
    const { config, baseDir } = this.options
    this.bootstrapPeer = await this.createPeer({ dataDir: path.join(baseDir, 'bootstrap'), logger: this.options.log, gossipsub: ROOM_GOSSIPSUB_OPTIONS })
    const bootAddr = this.bootstrapPeer.addresses()[0] as string
    const names = config.agents.map(a => a.name)
    const peers = await Promise.all(names.map(async name => await this.createPeer({ dataDir: path.join(baseDir, name), bootstrap: [bootAddr], logger: this.options.log, gossipsub: ROOM_GOSSIPSUB_OPTIONS })))
    const seats: Seat[] = names.map((name, i) => ({ name, peer: (peers[i] as MeshPeer).peerId.toString(), addrs: (peers[i] as MeshPeer).addresses() }))
    const manifest = buildManifest(this.room, config, this.bootstrapPeer.peerId.toString(), seats)
    this.setupValue = setupFromManifest(manifest)
    // the bootstrap peer plays the creator: anyone who has the room id can fetch the config from it
    this.bootstrapNetwork = await startRoomNetwork(this.bootstrapPeer)
    this.host = new RoomHost({
      network: this.bootstrapNetwork,
      room: this.room,
      config,
      creator: this.bootstrapPeer.peerId,
      store: new RoomStore(this.bootstrapPeer.datastore, this.room),
      seats,
      provide: false,
      log: this.options.log
    })
    await this.host.start()
    // handlers first: registering a protocol pushes identify to every connected peer,
    // which is cheap before the agents know each other and costly after
    const networks = await Promise.all(peers.map(async peer => await startRoomNetwork(peer)))
    // then connect them now, not when each agent starts: connections, identify and
    // gossipsub streams take a while, and an agent waits for them before its first word
    for (const [i, a] of peers.entries()) {
      for (const b of peers.slice(i + 1)) void a.libp2p.dial(b.libp2p.getMultiaddrs()[0] as Multiaddr).catch(() => {})
    }
    for (const [i, name] of names.entries()) {
      const peer = peers[i] as MeshPeer
      const network = networks[i] as RoomNetworkService
      this.agents.set(name, { name, dataDir: path.join(baseDir, name), peer, network, agent: this.makeAgent(name, peer, network, this.setup) })
    }
    await Promise.all([...this.agents.values()].map(async a => await a.agent.start()))
  }

  private makeAgent (name: string, peer: MeshPeer, network: RoomNetworkService, setup: RoomSetup): RoomAgent {
    const agent = new RoomAgent({
      network,
      setup,
      self: name,
      decider: this.options.decider(name),
      store: new RoomStore(peer.datastore, this.room),
      seed: this.options.seed,
      log: this.options.log,
      timing: this.options.timing
    })
    this.options.onAgent?.(agent)
    return agent
  }

  /** Resolves when every running agent has seen the end, with each one's verdict. */
  async whenEnded (): Promise<Map<string, RoomEnd>> {
    const entries = await Promise.all([...this.agents.values()].map(async a => [a.name, await a.agent.whenEnded()] as const))
    return new Map(entries)
  }

  /** Stop one agent's peer (as a crash would, but cleanly closing its datastore). */
  async stopAgent (name: string): Promise<void> {
    const a = this.agents.get(name)
    if (a === undefined) throw new Error(`no agent ${name}`)
    await a.agent.stop()
    await a.network.stop()
    await a.peer.stop()
  }

  /**
   * Start a stopped agent again from its data dir: same key, so the same
   * peer and seat; the manifest and transcript come from its datastore.
   */
  async restartAgent (name: string): Promise<RoomAgent> {
    const a = this.agents.get(name)
    if (a === undefined) throw new Error(`no agent ${name}`)
    const bootAddr = this.bootstrap.addresses()[0] as string
    const peer = await this.createPeer({ dataDir: a.dataDir, bootstrap: [bootAddr], logger: this.options.log, gossipsub: ROOM_GOSSIPSUB_OPTIONS })
    const store = new RoomStore(peer.datastore, this.room)
    const manifest = await store.loadManifest()
    if (manifest === undefined) throw new Error(`${a.dataDir} holds no manifest for room ${this.room}`)
    const network = await startRoomNetwork(peer)
    const agent = this.makeAgent(name, peer, network, setupFromManifest(manifest))
    a.peer = peer
    a.network = network
    a.agent = agent
    await agent.start()
    return agent
  }

  async stop (): Promise<void> {
    for (const a of this.agents.values()) {
      await a.agent.stop().catch(() => {})
      await a.network.stop().catch(() => {})
    }
    await this.host?.stop().catch(() => {})
    await this.bootstrapNetwork?.stop().catch(() => {})
    await Promise.all([...this.agents.values()].map(async a => await a.peer.stop().catch(() => {})))
    await this.bootstrapPeer?.stop().catch(() => {})
  }
}
