import { TopicValidatorResult, type Message } from '@libp2p/gossipsub'
import { serviceCapabilities, type PeerId, type PeerInfo, type Startable } from '@libp2p/interface'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { TypedEventEmitter } from 'main-event'
import { othersReached, peerTag, publishReach } from '../../node/gossip-routes.js'
import { silentLogger, type Logger } from '../../node/logger.js'
import type { MeshLibp2p } from '../../node/peer.js'
import { roomTopic } from '../topics.js'
import { decodeJson, describeZodError, encodeJson, handle, RemoteError, request } from '../wire.js'
import {
  DEFAULT_REQUEST_TIMEOUT_MS, DROP_REASONS, MAX_CONFIG_REPLY_BYTES, MAX_ROOM_MESSAGE_BYTES, MAX_ROOM_REACH,
  MAX_SYNC_MESSAGES, MAX_SYNC_REPLY_BYTES, ROOM_CONFIG_PROTOCOL, ROOM_PROTOCOL, ROOM_SYNC_PROTOCOL
} from './constants.js'
import type {
  ArrivalPath, ConfigProvider, DropReason, RoomEndpoint, RoomNetworkComponents, RoomNetworkEvents, RoomNetworkInit,
  RoomNetworkService, RoomNetworkStats, RoomTransport
} from './index.js'
import {
  ConfigRequestSchema, DeliveryAckSchema, RoomGossipSchema, RoomManifestSchema, RoomMessageSchema, signRoomMessage, SyncReplySchema,
  SyncRequestSchema, verifyRoomMessage, type ConfigRequest, type RoomManifest, type RoomMessage, type SyncRequest
} from './messages.js'
import { roomKey } from './room-id.js'

/** `author`: the sender's seat, whose PeerId string is kept (a message's own `from` would be encoded anew each time). */
type Checked = { ok: true, msg: RoomMessage, author: PeerId, reach?: string[] } | { ok: false, reason: DropReason, detail: string }

/** Room message bytes as the JSON encoder writes them; the reply frame must hold a batch. */
function encodedSize (msg: RoomMessage): number {
  return encodeJson(msg).byteLength
}

export class RoomNetwork extends TypedEventEmitter<RoomNetworkEvents> implements RoomNetworkService, Startable {
  readonly [serviceCapabilities] = ['@meshtown/room-network']
  readonly [Symbol.toStringTag] = '@meshtown/room-network'
  readonly stats: RoomNetworkStats = {
    accepted: { gossip: 0, direct: 0, sync: 0 },
    dropped: Object.fromEntries(DROP_REASONS.map(r => [r, 0])) as Record<DropReason, number>,
    spared: 0
  }

  private readonly libp2p: MeshLibp2p
  private readonly components: RoomNetworkComponents
  private readonly log: Logger
  private readonly timeoutMs: number
  private readonly maxMessageBytes: number
  private readonly rooms = new Map<string, RoomEndpoint>()
  private readonly configs = new Map<string, ConfigProvider>()
  /** Parsed by the topic validator, handed to the 'message' listener (same Message object). */
  private readonly validated = new WeakMap<Message, RoomMessage>()
  private started = false

  constructor (components: RoomNetworkComponents, init: RoomNetworkInit) {
    super()
    this.components = components
    this.libp2p = components.libp2p
    this.log = components.log ?? silentLogger()
    this.timeoutMs = init.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
    this.maxMessageBytes = init.maxMessageBytes ?? MAX_ROOM_MESSAGE_BYTES
  }

  async start (): Promise<void> {
    if (this.started) return
    // a refused direct message is a dropped room message; a refused catch-up or
    // config request is only a failed request, answered with its error code
    const onRefused = (code: string, message: string, from: PeerId): void => {
      const reason: DropReason = code === 'MESSAGE_TOO_LARGE'
        ? 'oversized'
        : code === 'MALFORMED' || code === 'INVALID_REQUEST'
          ? 'malformed'
          : code === 'FORGED' ? 'forged' : code === 'MISROUTED' ? 'misrouted' : code === 'UNKNOWN_ROOM' ? 'unknown-room' : 'rejected'
      this.drop({ reason, via: 'direct', from: from.toString(), detail: `${code}: ${message}` })
    }
    await handle(this.libp2p, ROOM_PROTOCOL, RoomMessageSchema, async (msg, connection) => {
      const ep = this.rooms.get(msg.room)
      if (ep == null) throw new RemoteError('UNKNOWN_ROOM', `not in room ${msg.room}`)
      const checked = await this.check(ep, msg, connection.remotePeer, 'direct')
      if (!checked.ok) {
        const code = checked.reason === 'forged' ? 'FORGED' : checked.reason === 'misrouted' ? 'MISROUTED' : 'REJECTED'
        throw new RemoteError(code, checked.detail)
      }
      this.stats.accepted.direct++
      ep.receive(checked.msg, 'direct')
      return { accepted: true }
    }, { maxBytes: this.maxMessageBytes, timeoutMs: this.timeoutMs, onRefused })

    await handle(this.libp2p, ROOM_SYNC_PROTOCOL, SyncRequestSchema, (req, connection) => {
      const ep = this.rooms.get(req.room)
      if (ep == null) throw new RemoteError('UNKNOWN_ROOM', `not in room ${req.room}`)
      const requester = ep.agentOf(connection.remotePeer)
      if (requester == null) throw new RemoteError('FORBIDDEN', 'only the agents of a room may catch up on it')
      return this.boundSyncReply(ep.serveSync(requester, req))
    }, { maxBytes: MAX_SYNC_REPLY_BYTES, timeoutMs: this.timeoutMs })

    await handle(this.libp2p, ROOM_CONFIG_PROTOCOL, ConfigRequestSchema, async (req, connection) => {
      const provider = this.configs.get(req.room)
      if (provider == null) throw new RemoteError('UNKNOWN_ROOM', `this peer does not serve room ${req.room}`)
      return await provider(req, connection.remotePeer)
    }, { maxBytes: MAX_CONFIG_REPLY_BYTES, timeoutMs: this.timeoutMs })

    this.libp2p.services.pubsub.addEventListener('message', this.onGossip)
    this.started = true
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.libp2p.services.pubsub.removeEventListener('message', this.onGossip)
    for (const room of [...this.rooms.keys()]) this.leave(room)
    this.configs.clear()
    await Promise.all([ROOM_PROTOCOL, ROOM_SYNC_PROTOCOL, ROOM_CONFIG_PROTOCOL].map(async p => this.libp2p.unhandle(p).catch(() => {})))
  }

  join (endpoint: RoomEndpoint): RoomTransport {
    if (this.rooms.has(endpoint.room)) throw new Error(`already in room ${endpoint.room} on this peer`)
    this.rooms.set(endpoint.room, endpoint)
    const topic = roomTopic(endpoint.room)
    const pubsub = this.libp2p.services.pubsub
    pubsub.topicValidators.set(topic, async (source, message) => {
      if (this.rooms.get(endpoint.room) !== endpoint) return TopicValidatorResult.Ignore
      if (message.type !== 'signed') {
        this.drop({ room: endpoint.room, reason: 'forged', via: 'gossip', detail: 'unsigned gossip' })
        return TopicValidatorResult.Reject
      }
      const checked = await this.check(endpoint, message.data, message.from, 'gossip')
      if (!checked.ok) {
        this.drop({ room: endpoint.room, reason: checked.reason, via: 'gossip', from: message.from.toString(), detail: checked.detail })
        return TopicValidatorResult.Reject
      }
      if (checked.reach != null && othersReached(pubsub, topic, source.toString(), checked.author.toString(), checked.reach)) {
        // every other subscriber known here had it from its author: taken in here, and gossipsub
        // (answered Ignore) neither forwards it nor holds it against the sender
        this.stats.accepted.gossip++
        this.stats.spared++
        endpoint.receive(checked.msg, 'gossip')
        return TopicValidatorResult.Ignore
      }
      this.validated.set(message, checked.msg)
      return TopicValidatorResult.Accept
    })
    pubsub.subscribe(topic)
    return this.transportFor(endpoint)
  }

  private leave (room: string): void {
    const topic = roomTopic(room)
    const pubsub = this.libp2p.services.pubsub
    this.rooms.delete(room)
    pubsub.topicValidators.delete(topic)
    try { pubsub.unsubscribe(topic) } catch {}
  }

  serveConfig (room: string, provider: ConfigProvider): void {
    this.configs.set(room, provider)
  }

  stopServingConfig (room: string): void {
    this.configs.delete(room)
  }

  async fetchConfig (peer: PeerId | Multiaddr, req: ConfigRequest, signal?: AbortSignal): Promise<RoomManifest> {
    return await request(this.libp2p, peer, ROOM_CONFIG_PROTOCOL, req, RoomManifestSchema, {
      maxBytes: MAX_CONFIG_REPLY_BYTES, timeoutMs: this.timeoutMs, signal
    })
  }

  async provide (room: string, signal?: AbortSignal): Promise<void> {
    await this.libp2p.contentRouting.provide(await roomKey(room), { signal })
  }

  async * findProviders (room: string, signal?: AbortSignal): AsyncIterable<PeerInfo> {
    yield * this.libp2p.contentRouting.findProviders(await roomKey(room), { signal })
  }

  private transportFor (ep: RoomEndpoint): RoomTransport {
    const topic = roomTopic(ep.room)
    const pubsub = this.libp2p.services.pubsub
    const peerOf = (agent: string): PeerId => {
      const peer = ep.peerOf(agent)
      if (peer == null) throw new Error(`no seat for agent ${agent} in room ${ep.room}`)
      return peer
    }
    return {
      room: ep.room,
      sign: async (msg) => signRoomMessage(this.components.privateKey, msg),
      publish: async (msg) => {
        if (msg.visibility !== 'public') throw new Error('a private message never goes on the room topic')
        const reach = [...publishReach(this.libp2p, topic)].slice(0, MAX_ROOM_REACH).map(peerTag)
        const withReach = reach.length > 0 ? encodeJson({ ...msg, reach }) : undefined
        await pubsub.publish(topic, withReach != null && withReach.byteLength <= this.maxMessageBytes ? withReach : encodeJson(msg))
      },
      sendPrivate: async (msg, receiver, signal) => {
        if (msg.visibility !== 'private') throw new Error('only private messages go on direct streams')
        await request(this.libp2p, peerOf(receiver), ROOM_PROTOCOL, msg, DeliveryAckSchema, {
          maxBytes: this.maxMessageBytes, timeoutMs: this.timeoutMs, signal
        })
      },
      sync: async (agent, req, signal) => {
        const peer = peerOf(agent)
        const reply = await request(this.libp2p, peer, ROOM_SYNC_PROTOCOL, { ...req, room: ep.room } satisfies SyncRequest, SyncReplySchema, {
          maxBytes: MAX_SYNC_REPLY_BYTES, timeoutMs: this.timeoutMs, signal
        })
        const messages: RoomMessage[] = []
        for (const value of reply.messages) {
          const checked = await this.check(ep, value, peer, 'sync')
          if (checked.ok) {
            this.stats.accepted.sync++
            messages.push(checked.msg)
          } else {
            this.drop({ room: ep.room, reason: checked.reason, via: 'sync', from: peer.toString(), detail: checked.detail })
          }
        }
        return { messages, more: reply.more }
      },
      connect: async (agent, signal) => {
        const peer = peerOf(agent)
        const addrs = (ep.addrsOf?.(agent) ?? []).flatMap(a => {
          try { return [multiaddr(a)] } catch { return [] }
        })
        if (addrs.length > 0) await this.libp2p.peerStore.merge(peer, { multiaddrs: addrs }).catch(() => {})
        await this.libp2p.dial(peer, { signal: signal ?? AbortSignal.timeout(this.timeoutMs) })
      },
      subscribedAgents: () => {
        const agents: string[] = []
        for (const peer of pubsub.getSubscribers(topic)) {
          const agent = ep.agentOf(peer)
          if (agent != null && agent !== ep.self) agents.push(agent)
        }
        return agents
      },
      leave: () => {
        if (this.rooms.get(ep.room) === ep) this.leave(ep.room)
      }
    }
  }

  private readonly onGossip = (evt: CustomEvent<Message>): void => {
    const message = evt.detail
    const msg = this.validated.get(message)
    if (msg == null) return
    this.validated.delete(message)
    const ep = this.rooms.get(msg.room)
    if (ep == null || message.topic !== roomTopic(msg.room)) return
    this.stats.accepted.gossip++
    ep.receive(msg, 'gossip')
  }

  /**
   * The one gate every room message passes, whichever way it came. `peer` is
   * who vouches for it: the gossip author, the direct stream's remote end, or
   * the peer that answered a catch-up request.
   */
  private async check (ep: RoomEndpoint, input: Uint8Array | unknown, peer: PeerId, via: ArrivalPath): Promise<Checked> {
    let value = input
    if (input instanceof Uint8Array) {
      if (input.byteLength > this.maxMessageBytes) return { ok: false, reason: 'oversized', detail: `${input.byteLength} bytes > ${this.maxMessageBytes}` }
      try {
        value = decodeJson(input)
      } catch (err: any) {
        return { ok: false, reason: 'malformed', detail: err.message }
      }
    }
    const parsed = (via === 'gossip' ? RoomGossipSchema : RoomMessageSchema).safeParse(value)
    if (!parsed.success) return { ok: false, reason: 'malformed', detail: describeZodError(parsed.error) }
    let msg: RoomMessage = parsed.data
    let reach: string[] | undefined
    if ('reach' in parsed.data) {
      // only gossip carries a reach; it is never stored or relayed, so the message goes on without it
      const { reach: named, ...rest } = parsed.data as RoomMessage & { reach?: string[] }
      reach = named
      msg = rest
    }
    if (via === 'sync' && encodedSize(msg) > this.maxMessageBytes) return { ok: false, reason: 'oversized', detail: 'relayed message over the size bound' }
    if (msg.room !== ep.room) return { ok: false, reason: 'misrouted', detail: `message of room ${msg.room} in room ${ep.room}` }
    const seat = ep.peerOf(msg.sender)
    if (seat == null) return { ok: false, reason: 'forged', detail: `sender ${msg.sender} holds no seat` }
    if (via !== 'sync' && !seat.equals(peer)) {
      return { ok: false, reason: 'forged', detail: `sender ${msg.sender} is not the agent of peer ${peer.toString()}` }
    }
    if (via === 'gossip' && msg.visibility !== 'public') return { ok: false, reason: 'misrouted', detail: 'private message on the room topic' }
    if (via === 'direct' && (msg.visibility !== 'private' || !msg.receivers.includes(ep.self))) {
      return { ok: false, reason: 'misrouted', detail: 'direct streams carry only private messages addressed to this agent' }
    }
    if (via === 'sync' && msg.visibility === 'private') {
      const party = [msg.sender, ...msg.receivers]
      const relay = ep.agentOf(peer)
      if (!party.includes(ep.self) || relay == null || !party.includes(relay)) {
        return { ok: false, reason: 'misrouted', detail: 'private message relayed by a peer not party to it' }
      }
    }
    const refused = ep.check?.(msg)
    if (refused != null) return { ok: false, reason: 'rejected', detail: refused }
    if (seat.publicKey == null || !(await verifyRoomMessage(seat.publicKey, msg))) {
      return { ok: false, reason: 'forged', detail: `bad signature for ${msg.sender}` }
    }
    return { ok: true, msg, author: seat, reach }
  }

  private boundSyncReply (messages: RoomMessage[]): { messages: RoomMessage[], more: boolean } {
    const out: RoomMessage[] = []
    let bytes = 64
    for (const msg of messages) {
      const size = encodedSize(msg) + 1
      if (out.length >= MAX_SYNC_MESSAGES || bytes + size > MAX_SYNC_REPLY_BYTES) return { messages: out, more: true }
      out.push(msg)
      bytes += size
    }
    return { messages: out, more: false }
  }

  private drop (d: { room?: string, reason: DropReason, via: ArrivalPath, from?: string, detail: string }): void {
    this.stats.dropped[d.reason]++
    this.log.warn(`room ${d.room ?? '?'}: dropped ${d.reason} message (${d.via}${d.from != null ? ` from ${d.from}` : ''}): ${d.detail}`)
    this.safeDispatchEvent('dropped', { detail: d })
  }
}
