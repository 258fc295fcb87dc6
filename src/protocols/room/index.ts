/**
 * Room protocols: how the agents of a room, each its own peer, exchange
 * messages with nobody in the middle.
 *
 * - public messages: gossipsub on `meshtown/room/<roomId>`, checked by a topic
 *   validator (so a bad message is neither delivered nor forwarded);
 * - private messages: one direct stream per receiver on /meshtown/room/1.0.0,
 *   never on the topic;
 * - catch-up: /meshtown/room-sync/1.0.0, a peer answers with the messages the
 *   requester may see (public ones to any member; private ones only to their
 *   sender or receivers);
 * - config: /meshtown/room-config/1.0.0 serves a room's config and seats, and
 *   a DHT provider record under roomKey(roomId) says who serves it.
 *
 * A message counts only if its sender field names the agent whose seat the
 * signing peer holds; everything else is dropped and counted. The rules of
 * any game live elsewhere (src/rooms): this layer moves and checks bytes.
 */
import type { PeerId, PeerInfo, PrivateKey, Startable, TypedEventTarget } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Logger } from '../../node/logger.js'
import type { MeshLibp2p } from '../../node/peer.js'
import type { DROP_REASONS } from './constants.js'
import type { ConfigRequest, RoomManifest, RoomMessage, SyncRequest, UnsignedRoomMessage } from './messages.js'
import { RoomNetwork } from './room-network.js'

export * from './constants.js'
export * from './messages.js'
export { newRoomId, isRoomId, assertRoomId, roomKey } from './room-id.js'

export type ArrivalPath = 'gossip' | 'direct' | 'sync'

/**
 * oversized/malformed: failed the byte bound or the schema; forged: the sender
 * field is not the signing or connecting peer's agent, or the signature is
 * wrong; misrouted: a private message on the topic, a public one on a direct
 * stream, or a private one relayed by a peer not party to it; rejected: the
 * room refused it (config-level checks).
 */
export type DropReason = (typeof DROP_REASONS)[number]

export interface RoomNetworkStats {
  accepted: Record<ArrivalPath, number>
  dropped: Record<DropReason, number>
  /** Gossip taken in without letting gossipsub forward it: every other subscriber known here had it from its author. */
  spared: number
}

export interface DroppedMessage {
  room?: string
  reason: DropReason
  via: ArrivalPath
  from?: string
  detail: string
}

export interface RoomNetworkEvents {
  dropped: CustomEvent<DroppedMessage>
}

/** One room as this peer takes part in it: who is who, and where messages go. */
export interface RoomEndpoint {
  readonly room: string
  /** The agent this peer plays in the room. */
  readonly self: string
  peerOf(agent: string): PeerId | undefined
  agentOf(peer: PeerId): string | undefined
  /** Known addresses of an agent's peer, to dial it by PeerId. */
  addrsOf?(agent: string): readonly string[]
  /** Room-level check (limits from the config); a returned reason drops the message. */
  check?(msg: RoomMessage): string | undefined
  /** A message that passed every check. */
  receive(msg: RoomMessage, via: ArrivalPath): void
  /** Messages for a catch-up request; the network has already checked who asks. */
  serveSync(requester: string, request: SyncRequest): RoomMessage[]
}

/** What a room agent uses to talk; one per joined room. */
export interface RoomTransport {
  readonly room: string
  sign(msg: UnsignedRoomMessage): Promise<RoomMessage>
  publish(msg: RoomMessage): Promise<void>
  sendPrivate(msg: RoomMessage, receiver: string, signal?: AbortSignal): Promise<void>
  /** Ask `agent`'s peer for messages; returns only those that pass every check. */
  sync(agent: string, request: Omit<SyncRequest, 'room'>, signal?: AbortSignal): Promise<{ messages: RoomMessage[], more: boolean }>
  connect(agent: string, signal?: AbortSignal): Promise<void>
  /** Other agents whose peers this peer sees subscribed to the room topic. */
  subscribedAgents(): string[]
  leave(): void
}

/** Answers config requests for one room: the creator's seat registry, or a member's sealed manifest. */
export type ConfigProvider = (request: ConfigRequest, from: PeerId) => Promise<RoomManifest> | RoomManifest

export interface RoomNetworkService extends Startable, TypedEventTarget<RoomNetworkEvents> {
  readonly stats: RoomNetworkStats
  /** Registers the three protocol handlers and listens to gossip. */
  start(): Promise<void>
  /** Leaves every room and unregisters the handlers. */
  stop(): Promise<void>
  join(endpoint: RoomEndpoint): RoomTransport
  serveConfig(room: string, provider: ConfigProvider): void
  stopServingConfig(room: string): void
  fetchConfig(peer: PeerId | Multiaddr, request: ConfigRequest, signal?: AbortSignal): Promise<RoomManifest>
  /** Announce this peer as a provider of the room's config in the DHT. */
  provide(room: string, signal?: AbortSignal): Promise<void>
  findProviders(room: string, signal?: AbortSignal): AsyncIterable<PeerInfo>
}

export interface RoomNetworkInit {
  requestTimeoutMs?: number
  maxMessageBytes?: number
}

export interface RoomNetworkComponents {
  libp2p: MeshLibp2p
  /** The peer's own key: room messages are signed with it. */
  privateKey: PrivateKey
  log?: Logger
}

/**
 * One per peer (a protocol has one handler per peer); a peer may be in many
 * rooms. MeshPeer builds its libp2p services itself, so this is started by its
 * owner rather than registered as a libp2p service.
 */
export function roomNetwork (init: RoomNetworkInit = {}): (components: RoomNetworkComponents) => RoomNetworkService {
  return (components) => new RoomNetwork(components, init)
}
