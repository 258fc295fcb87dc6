import { createHash } from 'node:crypto'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { bootstrap } from '@libp2p/bootstrap'
import { gossipsub, type GossipSub, type GossipsubOpts } from '@libp2p/gossipsub'
import { identify, identifyPush, type Identify } from '@libp2p/identify'
import { KEEP_ALIVE, type PeerId, type PrivateKey } from '@libp2p/interface'
import { kadDHT, passthroughMapper, type KadDHT } from '@libp2p/kad-dht'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping, type Ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import type { LevelDatastore } from 'datastore-level'
import { createLibp2p, type Libp2p } from 'libp2p'
import { chatTopic } from '../protocols/topics.js'
import { memberLinks, type MemberLinksInit, type MemberLinksService } from './member-links.js'
import { noiseCrypto } from './noise-crypto.js'
import { townDirectory, type DhtRoutingTable, type TownDirectoryService } from '../protocols/town-directory/index.js'
import pRetry from 'p-retry'
import { parseBootstrapAddr, parseListenAddr } from './addresses.js'
import { BootstrapUnreachableError } from './errors.js'
import { loadOrCreatePeerKey, openDatastore } from './data-dir.js'
import { PartitionGater } from './gater.js'
import { PeerStoreCache } from './peer-store-cache.js'
import { silentLogger, type Logger } from './logger.js'

export const DHT_PROTOCOL = '/meshtown/kad/1.0.0'
export const LOOPBACK_LISTEN = ['/ip4/127.0.0.1/tcp/0']
export const ALL_INTERFACES_LISTEN = ['/ip4/0.0.0.0/tcp/0']

/** Wire bound for any gossip message: votes are tiny, room messages a few KB. */
export const MAX_GOSSIP_MESSAGE_BYTES = 256 * 1024

/**
 * Mesh degree for every topic. The author already floods each message to every
 * subscriber it is connected to (floodPublish), and the peers of a town or room
 * connect to each other: mesh forwarding then mostly delivers copies that are
 * decrypted and decoded only to be dropped. A thin mesh still covers a peer the
 * author cannot reach; two mesh peers keep that cover when one link is lost.
 * Gossip (IHAVE) goes to two non-mesh peers per heartbeat instead of six: the
 * clock's own re-publishes and catch-up repair what gossip would. (In a
 * 10-villager town the default 6/4/12 cost about a third of the clock's CPU;
 * see BENCHMARKS.md.)
 */
export const THIN_MESH: Partial<GossipsubOpts> = { D: 2, Dlo: 2, Dhi: 4, Dout: 1, Dlazy: 2 }

/**
 * Gossipsub v1.2 answers each received message with an IDONTWANT to every mesh
 * peer once the message is at least this big. For a town's messages (votes and
 * status notices of a few hundred bytes) that frame cost as much as the copy it
 * might spare; only large messages (a long re-published vote set, a big room
 * message) are worth it.
 */
export const IDONTWANT_MIN_BYTES = 16 * 1024

const EMPTY = new Uint8Array(0)

/**
 * Gossipsub checks the author's signature before it looks for duplicates, so each
 * copy of a message from each mesh neighbour cost a signature check. A fast id of
 * everything signed (signature included, so a forged copy cannot shadow the real
 * message) drops the copies first: on a 9-agent room, half the CPU.
 */
function fastGossipId (msg: { from?: Uint8Array, seqno?: Uint8Array, topic: string, data?: Uint8Array, signature?: Uint8Array }): string {
  return createHash('sha256')
    .update(msg.from ?? EMPTY).update(msg.seqno ?? EMPTY).update(msg.topic)
    .update(msg.data ?? EMPTY).update(msg.signature ?? EMPTY)
    .digest('base64')
}

export interface PeerOptions {
  /** Where the key, peer store, DHT records and later the town state live. */
  dataDir: string
  /** Multiaddrs to listen on; loopback on an OS-chosen port by default. */
  listen?: string[]
  /** Full multiaddrs (with /p2p/) of bootstrap peers. */
  bootstrap?: string[]
  /** Join this town's directory (DHT provider key) so members find each other. */
  town?: string
  logger?: Logger
  /** Passphrase (>= 20 chars) protecting the key in the data dir. */
  keyPass?: string
  gossipsub?: Partial<GossipsubOpts>
  /** Town directory lookup intervals in ms (tests shorten or lengthen them). */
  lookupInterval?: number
  fastLookupInterval?: number
  /** How member links wait and back off (tests shorten them). */
  memberLinks?: MemberLinksInit
}

export interface MeshServices {
  identify: Identify
  ping: Ping
  pubsub: GossipSub
  dht: KadDHT
  memberLinks: MemberLinksService
  [key: string]: unknown
}

export type MeshLibp2p = Libp2p<MeshServices>

/**
 * One Meshtown peer: a libp2p node plus what every role needs around it (its
 * data dir, a run-time partition gater, a logger, the town directory).
 */
export class MeshPeer {
  readonly libp2p: MeshLibp2p
  readonly datastore: LevelDatastore
  readonly gater: PartitionGater
  readonly log: Logger
  readonly dataDir: string
  readonly town?: string
  /** Signs what this peer says beyond gossip's own signatures (votes, trade steps). */
  readonly privateKey: PrivateKey
  /** libp2p's view of the datastore: peer records cached in memory (see PeerStoreCache). */
  readonly peerStoreCache: PeerStoreCache
  private stopped = false

  constructor (libp2p: MeshLibp2p, privateKey: PrivateKey, datastore: LevelDatastore, peerStoreCache: PeerStoreCache, gater: PartitionGater, log: Logger, dataDir: string, town?: string) {
    this.libp2p = libp2p
    this.peerStoreCache = peerStoreCache
    this.privateKey = privateKey
    this.datastore = datastore
    this.gater = gater
    this.log = log
    this.dataDir = dataDir
    this.town = town
  }

  get peerId (): PeerId {
    return this.libp2p.peerId
  }

  get pubsub (): GossipSub {
    return this.libp2p.services.pubsub
  }

  get directory (): TownDirectoryService | undefined {
    return this.libp2p.services.townDirectory as TownDirectoryService | undefined
  }

  /** Keeps a direct link to each member of the town it is given (member-links.ts). */
  get memberLinks (): MemberLinksService {
    return this.libp2p.services.memberLinks
  }

  /** Full dialable addresses, `/ip4/.../tcp/.../p2p/<id>`. */
  addresses (): string[] {
    return this.libp2p.getMultiaddrs().map(ma => ma.toString())
  }

  connectedPeers (): string[] {
    // not getPeers(): its PeerSet turns each PeerId into base58 and back, and a new PeerId
    // encodes again; a connection's own PeerId keeps its string (each status notice asks
    // this: ~1 % of a town of 50's CPU by perf)
    const ids = new Set<string>()
    for (const conn of this.libp2p.getConnections()) ids.add(conn.remotePeer.toString())
    return [...ids].sort()
  }

  /** Cut the link to a peer: refuse it from now on and close what is open. */
  async block (peer: PeerId | string): Promise<void> {
    const id = typeof peer === 'string' ? peerIdFromString(peer) : peer
    this.gater.block(id)
    await this.libp2p.hangUp(id).catch(() => {})
  }

  unblock (peer: PeerId | string): void {
    this.gater.unblock(peer)
    this.redial()
  }

  /** Lift every block, and look for the town's members again at once. */
  heal (): void {
    this.gater.heal()
    this.redial()
  }

  private redial (): void {
    this.memberLinks.retryNow()
    void this.directory?.refresh().catch(() => {})
  }

  /**
   * Dial the bootstrap peers until one answers, backing off between rounds and
   * warning each time, so an unreachable bootstrap is reported, not a silent hang.
   */
  async connectBootstrap (addrs: string[], options: { retries?: number, signal?: AbortSignal, minDelay?: number, maxDelay?: number } = {}): Promise<string> {
    const targets = addrs.map(parseBootstrapAddr)
    if (targets.length === 0) throw new BootstrapUnreachableError('no bootstrap address given')
    const retries = options.retries ?? 8
    try {
      return await pRetry(async () => {
        const errors: string[] = []
        for (const ma of targets) {
          try {
            const conn = await this.libp2p.dial(ma, { signal: options.signal ?? AbortSignal.timeout(5_000) })
            return conn.remotePeer.toString()
          } catch (err: any) {
            errors.push(`${ma.toString()}: ${err.message ?? err}`)
          }
        }
        throw new Error(errors.join('; '))
      }, {
        retries,
        minTimeout: options.minDelay ?? 500,
        maxTimeout: options.maxDelay ?? 10_000,
        signal: options.signal,
        onFailedAttempt: ({ error, attemptNumber, retriesLeft, retryDelay }) => {
          if (retriesLeft > 0) this.log.warn(`bootstrap unreachable (attempt ${attemptNumber}/${retries + 1}, next in ${Math.round(retryDelay)} ms): ${error.message}`)
        }
      })
    } catch (err: any) {
      if (options.signal?.aborted === true) throw err
      throw new BootstrapUnreachableError(`no bootstrap peer answered after ${retries + 1} attempts: ${err.message}`)
    }
  }

  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    await this.libp2p.stop()
    await this.peerStoreCache.flush().catch((err: any) => { this.log.warn(`peer store: last records not written: ${err.message}`) })
    await this.datastore.close()
  }
}

/** kad-dht's first self-query comes this long after start (its default is 1 s: see createPeer). */
const SELF_QUERY_DELAY_MS = 5_000

/** kad-dht's routing table (not part of its typed interface). */
export function dhtRoutingTable (libp2p: MeshLibp2p): DhtRoutingTable | undefined {
  return (libp2p.services.dht as unknown as { routingTable?: DhtRoutingTable }).routingTable
}

/** Peers in kad-dht's routing table; undefined if it does not show it. */
export function dhtPeerCount (libp2p: MeshLibp2p): number | undefined {
  return dhtRoutingTable(libp2p)?.size
}

export async function createPeer (options: PeerOptions): Promise<MeshPeer> {
  const log = options.logger ?? silentLogger()
  const listen = (options.listen ?? LOOPBACK_LISTEN).map(a => parseListenAddr(a).toString())
  const bootstrapList = (options.bootstrap ?? []).map(a => parseBootstrapAddr(a).toString())
  const datastore = await openDatastore(options.dataDir)
  let privateKey: PrivateKey
  try {
    privateKey = await loadOrCreatePeerKey(datastore, options.dataDir, options.keyPass)
  } catch (err) {
    await datastore.close()
    throw err
  }
  const gater = new PartitionGater()
  const peerStoreCache = new PeerStoreCache(datastore)
  const services: Record<string, any> = {
    identify: identify(),
    // services registered after start (merchant, rooms) reach already-connected peers
    identifyPush: identifyPush(),
    ping: ping(),
    pubsub: gossipsub({
      allowPublishToZeroTopicPeers: true,
      emitSelf: false,
      // signed by the author and checked by every receiver: a peer speaks only for itself
      globalSignaturePolicy: 'StrictSign',
      maxInboundDataLength: MAX_GOSSIP_MESSAGE_BYTES,
      fastMsgIdFn: fastGossipId,
      idontwantMinDataSize: IDONTWANT_MIN_BYTES,
      ...THIN_MESH,
      ...options.gossipsub,
      scoreParams: {
        // every peer of a town on one machine shares 127.0.0.1: gossipsub's penalty for many
        // peers on one address would graylist them all past ten, and the clock would stop
        IPColocationFactorWhitelist: new Set(['127.0.0.1', '::1']),
        ...options.gossipsub?.scoreParams
      }
    }),
    dht: kadDHT({
      protocol: DHT_PROTOCOL,
      clientMode: false,
      // towns run on LANs and loopback: keep private addresses in DHT records
      peerInfoMapper: passthroughMapper,
      allowQueryWithZeroPeers: true,
      // kad-dht's first self-query (~10 requests, each answer's peers written to the peer
      // store) came 1 s after start, in the middle of a newcomer's join; the town
      // directory's own lookups fill the table meanwhile
      initialQuerySelfInterval: SELF_QUERY_DELAY_MS
    }),
    memberLinks: memberLinks(options.memberLinks)
  }
  if (options.town != null) {
    // bound once libp2p exists (created before it starts)
    services.townDirectory = townDirectory({ town: options.town, lookupInterval: options.lookupInterval, fastLookupInterval: options.fastLookupInterval, dhtTable: () => libp2p == null ? undefined : dhtRoutingTable(libp2p) })
  }
  let libp2p: MeshLibp2p | undefined
  try {
    libp2p = await createLibp2p({
      privateKey,
      datastore: peerStoreCache,
      addresses: { listen },
      transports: [tcp()],
      connectionEncrypters: [noise({ crypto: noiseCrypto() })],
      streamMuxers: [yamux()],
      connectionGater: gater.toConnectionGater(),
      connectionManager: {
        // every local peer dials from 127.0.0.1: the default 5 inbound/s per IP refuses a local town
        inboundConnectionThreshold: 10_000,
        maxIncomingPendingConnections: 500,
        maxConnections: 2_000,
        dialTimeout: 5_000,
        // A dial given its own deadline (member links, requests) keeps it whole: with libp2p's
        // 6 s per address, and its 10 s for an inbound handshake, a town of 50 processes on
        // 2 cores, whose event loops lag by seconds while it forms, failed four of five
        // member-link dials in the noise handshake, redialled, and never finished linking.
        // A dial with no deadline of its own still ends at dialTimeout.
        addressDialTimeout: 30_000,
        inboundUpgradeTimeout: 30_000
      },
      connectionMonitor: {
        // Off. Cutting a link whose ping came back late was worse than useless: a peer starved
        // of CPU for a few seconds answers late, and redialling cost handshakes, identify and a
        // clock catch-up on both sides, which starved it more (in a town of 25 processes on
        // 2 cores every link was cut and redialled in a loop). Without cutting, the pings only
        // cost a new stream per link every 10 s (a town of 25 has 300 links: 30 streams a
        // second). Liveness is the clock's business (heartbeats, evictions); yamux's own
        // keep-alive frames keep idle links open.
        enabled: false
      },
      peerDiscovery: bootstrapList.length > 0 ? [bootstrap({ list: bootstrapList, timeout: 0, tagName: KEEP_ALIVE })] : [],
      services: services as any,
      start: false
    }) as unknown as MeshLibp2p
  } catch (err) {
    await datastore.close()
    throw err
  }
  const peer = new MeshPeer(libp2p, privateKey, datastore, peerStoreCache, gater, log, options.dataDir, options.town)
  try {
    await libp2p.start()
  } catch (err) {
    try { await libp2p.stop() } catch {}
    await datastore.close()
    throw err
  }
  // the clock topic is joined by whoever keeps or follows the town's time (ClockService):
  // a peer that does not, such as the merchant, would take in every heartbeat and
  // forward it unchecked, and count as a subscriber the clock must reach
  if (options.town != null) peer.pubsub.subscribe(chatTopic(options.town))
  return peer
}
