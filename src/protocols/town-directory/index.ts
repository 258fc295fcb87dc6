/**
 * Town directory: how the peers of a town find each other. Every member
 * announces itself as a DHT provider of a key derived from the town name and
 * looks up the other providers, dialling those it is not connected to. A peer
 * told only a bootstrap address thus finds every member of its town.
 */
import type { AbortOptions, ComponentLogger, Connection, ContentRouting, PeerId, PeerStore, TypedEventTarget, Libp2pEvents } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'
import { TownDirectory } from './town-directory.js'

export { townKey, assertTownName } from './town-directory.js'
export * from './constants.js'

export interface TownDirectoryInit {
  town: string
  /** ms between lookups once the first fast rounds are over */
  lookupInterval?: number
  fastLookupInterval?: number
  fastLookups?: number
  /** once the fast rounds are over, query the DHT every this many rounds (others only redial lost members) */
  queryEveryRounds?: number
  /** while queries find nothing new, their gap doubles up to this many rounds */
  maxQueryEveryRounds?: number
  maxDialsPerLookup?: number
  /**
   * The DHT's routing table, once libp2p exists: an announce waits for a peer in it (without
   * one, every round may announce), and a peer's first entry in it starts a round at once.
   */
  dhtTable?: () => DhtRoutingTable | undefined
}

/** What the directory reads of kad-dht's routing table. */
export interface DhtRoutingTable {
  readonly size: number
  addEventListener(type: 'peer:add', listener: () => void, options?: { once?: boolean }): void
  removeEventListener(type: 'peer:add', listener: () => void): void
}

export interface TownDirectoryComponents {
  peerId: PeerId
  contentRouting: ContentRouting
  connectionManager: ConnectionManager
  peerStore: PeerStore
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
  /** libp2p's identify service, to identify a link again when the DHT has no peers (see TownDirectory) */
  identify?: { identify: (connection: Connection, options?: AbortOptions) => Promise<unknown> }
}

export interface TownDirectoryEvents {
  'member:found': CustomEvent<PeerId>
}

export interface TownDirectoryService extends TypedEventTarget<TownDirectoryEvents> {
  readonly town: string
  /** Members seen in the DHT (not necessarily connected now). */
  members(): PeerId[]
  /** Run one announce + lookup round now; resolves when it is done. */
  refresh(): Promise<void>
}

export function townDirectory (init: TownDirectoryInit): (components: TownDirectoryComponents) => TownDirectoryService {
  return (components) => new TownDirectory(components, init)
}
