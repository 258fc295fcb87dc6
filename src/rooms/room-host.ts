/**
 * The creator's side of a room: it serves the config and hands out seats,
 * first come first served, and announces the room id in the DHT. This is
 * set-up only: once every seat is taken the manifest is sealed, every agent
 * keeps its own copy, and the game runs without the host.
 */
import type { PeerId } from '@libp2p/interface'
import { silentLogger, type Logger } from '../node/logger.js'
import { DEFAULT_REPROVIDE_INTERVAL_MS, type RoomNetworkService } from '../protocols/room/index.js'
import type { ConfigRequest, RoomManifest, Seat } from '../protocols/room/messages.js'
import { RemoteError } from '../protocols/wire.js'
import type { RoomConfig } from './config.js'
import { buildManifest } from './manifest.js'
import type { RoomStore } from './room-store.js'

export interface RoomHostOptions {
  network: RoomNetworkService
  room: string
  config: RoomConfig
  creator: PeerId
  store: RoomStore
  /** Seats known up front (a local run creates every agent's peer itself). */
  seats?: Seat[]
  /** Announce the room in the DHT (off for a purely local run). */
  provide?: boolean
  reprovideIntervalMs?: number
  log?: Logger
}

export class RoomHost {
  readonly room: string
  private readonly options: RoomHostOptions
  private readonly log: Logger
  private seats: Seat[]
  private readonly controller = new AbortController()
  private timer?: ReturnType<typeof setTimeout>
  private providing?: Promise<void>

  constructor (options: RoomHostOptions) {
    this.options = options
    this.room = options.room
    this.seats = [...(options.seats ?? [])]
    this.log = options.log ?? silentLogger()
  }

  manifest (): RoomManifest {
    return buildManifest(this.room, this.options.config, this.options.creator.toString(), this.seats)
  }

  async start (): Promise<void> {
    const saved = await this.options.store.loadManifest()
    // a restarted creator keeps the seats it gave out
    if (saved !== undefined && this.seats.length === 0) this.seats = [...saved.seats]
    await this.options.store.saveManifest(this.manifest())
    this.options.network.serveConfig(this.room, async (req, from) => await this.answer(req, from))
    if (this.options.provide !== false) this.scheduleProvide(0)
  }

  async stop (): Promise<void> {
    this.controller.abort()
    clearTimeout(this.timer)
    this.options.network.stopServingConfig(this.room)
    await this.providing?.catch(() => {})
  }

  /** Announce now and wait for it (tests and `room create` want to know it is findable). */
  async provideNow (signal?: AbortSignal): Promise<void> {
    await this.options.network.provide(this.room, signal ?? this.controller.signal)
  }

  private scheduleProvide (delay: number): void {
    if (this.controller.signal.aborted) return
    this.timer = setTimeout(() => {
      this.providing = this.provideNow(AbortSignal.any([this.controller.signal, AbortSignal.timeout(10_000)]))
        .then(() => { this.log.debug(`room ${this.room}: announced in the DHT`) })
        .catch((err: any) => { this.log.debug(`room ${this.room}: DHT announce failed (${err.message}); retrying`) })
        .finally(() => { this.scheduleProvide(this.options.reprovideIntervalMs ?? DEFAULT_REPROVIDE_INTERVAL_MS) })
    }, delay)
  }

  private async answer (req: ConfigRequest, from: PeerId): Promise<RoomManifest> {
    if (req.claim !== undefined) await this.claim(req.claim.name, from, req.claim.addrs)
    return this.manifest()
  }

  private async claim (name: string, from: PeerId, addrs: string[]): Promise<void> {
    const config = this.options.config
    if (!config.agents.some(a => a.name === name)) {
      throw new RemoteError('NO_SUCH_SEAT', `room ${this.room} has no agent ${name} (agents: ${config.agents.map(a => a.name).join(', ')})`)
    }
    const peer = from.toString()
    const held = this.seats.find(s => s.name === name)
    if (held !== undefined && held.peer !== peer) throw new RemoteError('SEAT_TAKEN', `seat ${name} of room ${this.room} is taken by another peer`)
    const other = this.seats.find(s => s.peer === peer && s.name !== name)
    if (other !== undefined) throw new RemoteError('ALREADY_SEATED', `this peer already plays ${other.name} in room ${this.room}`)
    const seat: Seat = { name, peer, addrs: addrs.slice(0, 16) }
    this.seats = [...this.seats.filter(s => s.name !== name), seat]
    await this.options.store.saveManifest(this.manifest())
    if (held === undefined) this.log.info(`room ${this.room}: ${name} taken by ${peer} (${this.seats.length}/${config.agents.length} seats)`)
  }
}
