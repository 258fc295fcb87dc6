/**
 * The observer peer's runtime: it follows the town's clock without voting,
 * listens to the status and chat topics, watches rooms' public topics, and
 * keeps a TownModel of it all for the dashboard. It never votes, never trades
 * and registers no handler for private messages: there is nothing private for
 * it to receive, and nothing to answer with.
 */
import { TopicValidatorResult, type Message } from '@libp2p/gossipsub'
import type { PeerId, Startable } from '@libp2p/interface'
import { TypedEventEmitter } from 'main-event'
import { z } from 'zod'
import type { MeshPeer } from '../node/peer.js'
import { ClockService } from '../protocols/clock/clock-service.js'
import { MAX_MESSAGE_BYTES, MAX_MESSAGE_CHARS } from '../protocols/messaging/constants.js'
import { MERCHANT_PROTOCOL } from '../protocols/merchant/constants.js'
import { chatTopic } from '../protocols/topics.js'
import { checkStatusMessage, statusTopic } from '../protocols/town-status/index.js'
import { decodeJson } from '../protocols/wire.js'
import { RoomWatcher } from './room-watcher.js'
import { TownModel, type DashboardState } from './town-model.js'

/** The town chat's broadcast, as src/protocols/messaging publishes it. */
const BroadcastSchema = z.strictObject({
  v: z.literal(1),
  id: z.string().max(32),
  text: z.string().trim().min(1).max(MAX_MESSAGE_CHARS)
})

export interface TownObserverInit {
  town: string
  /** Room ids whose public transcripts to show. */
  rooms?: string[]
  /** PeerIds of the bootstrap peers, to name them in the graph. */
  bootstrapPeers?: string[]
  /** How often connections and silences are looked at again. */
  refreshIntervalMs?: number
  /** Passed to the clock follower (tests speed it up). */
  republishIntervalMs?: number
}

export interface TownObserverEvents {
  change: CustomEvent<void>
}

export class TownObserver extends TypedEventEmitter<TownObserverEvents> implements Startable {
  readonly town: string
  readonly model: TownModel
  readonly clock: ClockService
  private readonly peer: MeshPeer
  private readonly init: TownObserverInit
  private readonly statusTopic: string
  private readonly chatTopic: string
  private readonly rooms: RoomWatcher
  private timer?: ReturnType<typeof setInterval>
  private started = false
  private readonly onClockChange = (): void => { this.model.setClock(this.clock.state); this.changed() }
  private readonly onTopology = (): void => { this.refreshConnections(); this.changed() }
  private readonly onIdentify = (e: CustomEvent<{ peerId: PeerId, protocols: string[] }>): void => {
    if (e.detail.protocols.includes(MERCHANT_PROTOCOL) && this.model.hint(e.detail.peerId.toString(), 'merchant')) this.changed()
  }

  constructor (peer: MeshPeer, init: TownObserverInit) {
    super()
    this.peer = peer
    this.init = init
    this.town = init.town
    this.model = new TownModel(init.town)
    this.statusTopic = statusTopic(init.town)
    this.chatTopic = chatTopic(init.town)
    // a follower: no identity, so it never votes, joins or signs an eviction
    this.clock = new ClockService(peer, { town: init.town, republishIntervalMs: init.republishIntervalMs })
    this.rooms = new RoomWatcher(peer, this.model, () => { this.changed() })
  }

  get peerId (): string {
    return this.peer.peerId.toString()
  }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    this.model.setSelf(this.peerId)
    for (const id of this.init.bootstrapPeers ?? []) this.model.hint(id, 'bootstrap')
    const pubsub = this.peer.pubsub
    pubsub.topicValidators.set(this.statusTopic, (from, msg) => this.onStatus(from, msg))
    pubsub.topicValidators.set(this.chatTopic, (_from, msg) => this.onChat(msg))
    pubsub.subscribe(this.statusTopic)
    pubsub.subscribe(this.chatTopic)
    this.clock.addEventListener('change', this.onClockChange)
    await this.clock.start()
    this.model.setClock(this.clock.state)
    this.peer.libp2p.addEventListener('peer:connect', this.onTopology)
    this.peer.libp2p.addEventListener('peer:disconnect', this.onTopology)
    this.peer.libp2p.addEventListener('peer:identify', this.onIdentify as any)
    this.refreshConnections()
    for (const room of this.init.rooms ?? []) await this.watchRoom(room)
    this.timer = setInterval(() => { this.refreshConnections(); this.changed() }, this.init.refreshIntervalMs ?? 1_000)
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    clearInterval(this.timer)
    this.peer.libp2p.removeEventListener('peer:connect', this.onTopology)
    this.peer.libp2p.removeEventListener('peer:disconnect', this.onTopology)
    this.peer.libp2p.removeEventListener('peer:identify', this.onIdentify as any)
    this.clock.removeEventListener('change', this.onClockChange)
    await this.rooms.stop()
    await this.clock.stop()
    const pubsub = this.peer.pubsub
    pubsub.topicValidators.delete(this.statusTopic)
    pubsub.topicValidators.delete(this.chatTopic)
    try { pubsub.unsubscribe(this.statusTopic) } catch {}
  }

  /** Show a room's public transcript from now on. */
  async watchRoom (room: string): Promise<void> {
    await this.rooms.watch(room)
    this.changed()
  }

  snapshot (): DashboardState {
    return this.model.snapshot()
  }

  private changed (): void {
    if (this.started) this.safeDispatchEvent('change')
  }

  private refreshConnections (): void {
    this.model.setConnections(this.peer.connectedPeers())
  }

  /** What was refused off the wire, by topic and reason. */
  get rejections (): Record<string, number> {
    return this.model.refused
  }

  private count (code: string): void {
    this.model.refused[code] = (this.model.refused[code] ?? 0) + 1
  }

  private onStatus (_from: PeerId, msg: Message): TopicValidatorResult {
    const r = checkStatusMessage(msg, this.town)
    if (!r.ok) {
      this.count(`status:${r.code}`)
      this.peer.log.debug(`observer: refused status notice (${r.code}): ${r.detail}`)
      return TopicValidatorResult.Reject
    }
    if (msg.type === 'signed' && this.model.status(msg.from.toString(), r.notice)) this.changed()
    return TopicValidatorResult.Accept
  }

  private onChat (msg: Message): TopicValidatorResult {
    if (msg.type !== 'signed' || msg.data.byteLength > MAX_MESSAGE_BYTES) { this.count('chat:TOO_LARGE'); return TopicValidatorResult.Reject }
    let value: unknown
    try { value = decodeJson(msg.data) } catch { this.count('chat:MALFORMED'); return TopicValidatorResult.Reject }
    const parsed = BroadcastSchema.safeParse(value)
    if (!parsed.success) { this.count('chat:MALFORMED'); return TopicValidatorResult.Reject }
    const from = msg.from.toString()
    const name = this.clock.state?.view[from]?.name ?? this.model.snapshotName(from) ?? `peer …${from.slice(-6)}`
    this.model.chatMessage({ id: parsed.data.id, from, fromName: name, text: parsed.data.text, at: Date.now() })
    this.changed()
    return TopicValidatorResult.Accept
  }
}
