import { serviceCapabilities, type Connection, type Logger, type PeerId, type Startable } from '@libp2p/interface'
import { TypedEventEmitter } from 'main-event'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { UsageError } from '../../node/errors.js'
import {
  DEFAULT_FAST_LOOKUP_INTERVAL_MS, DEFAULT_FAST_LOOKUPS, DEFAULT_LOOKUP_INTERVAL_MS,
  DEFAULT_MAX_DIALS_PER_LOOKUP, DEFAULT_MAX_QUERY_EVERY_ROUNDS, DEFAULT_QUERY_EVERY_ROUNDS, TOWN_KEY_PREFIX, TOWN_NAME_PATTERN
} from './constants.js'
import type { DhtRoutingTable, TownDirectoryComponents, TownDirectoryEvents, TownDirectoryInit, TownDirectoryService } from './index.js'


export function assertTownName (town: string): string {
  if (!TOWN_NAME_PATTERN.test(town)) {
    throw new UsageError(`invalid town name "${town}": use 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit`)
  }
  return town
}

/** The DHT key every member of `town` provides. */
export async function townKey (town: string): Promise<CID> {
  const digest = await sha256.digest(new TextEncoder().encode(TOWN_KEY_PREFIX + town))
  return CID.createV1(raw.code, digest)
}

/** A round may not outlive this: a DHT query that hangs must not stall discovery. */
const ROUND_TIMEOUT_MS = 10_000
/**
 * Once announced, announce again every this many rounds (10 min at the default
 * interval). A provider record lives 48 h and kad-dht re-provides it on its own;
 * announcing again only places it on peers that joined closer to the key since. An
 * announce is a whole closest-peers query plus a record written at 20 peers: every
 * minute, as before, it was most of a settled town of 25's DHT work.
 */
const REANNOUNCE_EVERY_ROUNDS = 120
/** A peer that found its town announces this many rounds after (mayAnnounce). */
const ANNOUNCE_AFTER_FOUND_ROUNDS = 4
/** How often one link is identified again while lookups find no one. */
const MAX_IDENTIFY_TRIES = 3
const IDENTIFY_LINKS_PER_ROUND = 2

export class TownDirectory extends TypedEventEmitter<TownDirectoryEvents> implements TownDirectoryService, Startable {
  readonly town: string
  readonly [serviceCapabilities] = ['@meshtown/town-directory']
  readonly [Symbol.toStringTag] = '@meshtown/town-directory'

  private readonly components: TownDirectoryComponents
  private readonly log: Logger
  private readonly lookupInterval: number
  private readonly fastLookupInterval: number
  private readonly fastLookups: number
  private readonly maxDialsPerLookup: number
  private readonly queryEveryRounds: number
  private readonly maxQueryEveryRounds: number
  /** rounds from one settled DHT query to the next: doubles while nothing changes */
  private queryGap: number
  private lastQueryRound = -Infinity
  private lostLastRound = 0
  private readonly known = new Map<string, PeerId>()
  private key?: CID
  private timer?: ReturnType<typeof setTimeout>
  private controller?: AbortController
  private rounds = 0
  private lastAnnounceRound = -Infinity
  /** the round whose lookup first found another member */
  private foundInRound?: number
  private running?: Promise<void>

  constructor (components: TownDirectoryComponents, init: TownDirectoryInit) {
    super()
    this.components = components
    this.town = assertTownName(init.town)
    this.log = components.logger.forComponent('meshtown:town-directory')
    this.lookupInterval = init.lookupInterval ?? DEFAULT_LOOKUP_INTERVAL_MS
    this.fastLookupInterval = init.fastLookupInterval ?? DEFAULT_FAST_LOOKUP_INTERVAL_MS
    this.fastLookups = init.fastLookups ?? DEFAULT_FAST_LOOKUPS
    this.maxDialsPerLookup = init.maxDialsPerLookup ?? DEFAULT_MAX_DIALS_PER_LOOKUP
    this.queryEveryRounds = Math.max(1, init.queryEveryRounds ?? DEFAULT_QUERY_EVERY_ROUNDS)
    this.maxQueryEveryRounds = Math.max(this.queryEveryRounds, init.maxQueryEveryRounds ?? DEFAULT_MAX_QUERY_EVERY_ROUNDS)
    this.queryGap = this.queryEveryRounds
    this.dhtTable = init.dhtTable
  }

  private readonly dhtTable?: () => DhtRoutingTable | undefined
  /** a round asked for while one was running: it follows at once */
  private roundWanted = false

  async start (): Promise<void> {
    this.key = await townKey(this.town)
    this.controller = new AbortController()
  }

  /** Rounds begin once libp2p is listening, so that the announced record carries our addresses. */
  afterStart (): void {
    this.schedule(0)
    this.dhtTable?.()?.addEventListener('peer:add', this.onFirstDhtPeer, { once: true })
  }

  /**
   * The first round runs as libp2p starts, before any link: its lookup finds no one and it
   * cannot announce. The next fast round came up to a fast interval (500 ms) after the
   * DHT's first peer, most of a newcomer's wait between its bootstrap link and its town.
   * So the DHT's first peer starts a round at once (once: later peers only join a query
   * under way or the next round).
   */
  private readonly onFirstDhtPeer = (): void => {
    if (this.known.size > 0 && this.lastAnnounceRound > -Infinity) return
    this.runSoon()
  }

  /** A round now, or right after the one under way. */
  private runSoon (): void {
    if (this.controller == null || this.controller.signal.aborted) return
    if (this.running != null) {
      this.roundWanted = true
      return
    }
    clearTimeout(this.timer)
    this.schedule(0)
  }

  async stop (): Promise<void> {
    this.dhtTable?.()?.removeEventListener('peer:add', this.onFirstDhtPeer)
    clearTimeout(this.timer)
    this.timer = undefined
    this.controller?.abort()
    await this.running?.catch(() => {})
  }

  members (): PeerId[] {
    return [...this.known.values()]
  }

  /** Dial the members we already know (a healed link), then run an announce and lookup round. */
  async refresh (): Promise<void> {
    this.redialLost()
    if (this.running != null) await this.running.catch(() => {})
    await this.runRound(true)
  }

  /** Dial the known members we have no connection to (a healed link, a restarted peer). */
  private redialLost (): number {
    let lost = 0
    for (const member of this.known.values()) {
      if (this.components.connectionManager.getConnections(member).length > 0) continue
      lost++
      this.components.connectionManager.openConnection(member).catch((err: any) => {
        this.log('could not redial town member %p - %s', member, err.message)
      })
    }
    return lost
  }

  private schedule (delay: number): void {
    if (this.controller == null || this.controller.signal.aborted) return
    this.timer = setTimeout(() => {
      this.running = this.runRound().finally(() => {
        this.running = undefined
        const wanted = this.roundWanted
        this.roundWanted = false
        this.schedule(wanted ? 0 : this.rounds < this.fastLookups ? this.fastLookupInterval : this.lookupInterval)
      })
    }, delay)
  }

  private async runRound (force = false): Promise<void> {
    const key = this.key
    const parent = this.controller
    if (key == null || parent == null || parent.signal.aborted) return
    this.rounds++
    const settled = this.rounds > this.fastLookups && this.known.size > 0
    const lost = settled ? this.redialLost() : 0
    // a member newly lost (not one long gone) is news: look again soon
    const newlyLost = lost > this.lostLastRound
    this.lostLastRound = lost
    if (newlyLost) this.queryGap = this.queryEveryRounds
    if (!force && settled && this.rounds - this.lastQueryRound < this.queryGap) {
      // a quiet round: lost members were redialled above; ask the DHT only if every
      // one of them is gone (then the town may have moved to other addresses)
      if (lost < this.known.size) return
    }
    this.lastQueryRound = this.rounds
    const knownBefore = this.known.size
    const signal = AbortSignal.any([parent.signal, AbortSignal.timeout(ROUND_TIMEOUT_MS)])
    // the lookup first: a newcomer's way into its town waited for its announce, a whole
    // closest-peers query and a record written at 20 peers (the town finds it anyway once
    // it dials the members the lookup names)
    let found = 0
    try {
      found = await this.lookup(key, signal)
    } catch (err: any) {
      this.log('lookup failed - %s', err.message)
    }
    if (found > 0) this.foundInRound ??= this.rounds
    try {
      // kad-dht's provide does not fail when its record reaches no one: a first round, run
      // as libp2p starts, "announced" to an empty routing table and was not repeated for
      // 120 rounds (~10 min), so the town's record stayed with the member alone
      if (this.rounds - this.lastAnnounceRound >= REANNOUNCE_EVERY_ROUNDS && (this.dhtTable?.()?.size ?? 1) > 0 && this.mayAnnounce()) {
        await this.components.contentRouting.provide(key, { signal })
        this.lastAnnounceRound = this.rounds
        this.log('announced membership of town %s', this.town)
      }
    } catch (err: any) {
      // a query cut short (the round's deadline, a stop): the next round tries again
      this.log('announce failed - %s', err.message)
    }
    if (found === 0 && this.rounds >= this.fastLookups) this.identifyLinksAgain()
    if (settled && !force) {
      this.queryGap = this.known.size > knownBefore || newlyLost
        ? this.queryEveryRounds
        : Math.min(this.queryGap * 2, this.maxQueryEveryRounds)
    }
  }

  /**
   * A peer that found no one announces at once: until then no one can find it. One that
   * found its town announces a few rounds later (2 s at the fast interval, still within the
   * others' fast rounds): the town learns of it from its links meanwhile, and an announce
   * (a closest-peers query and a record written at up to 20 peers: 27 DHT requests in a
   * town of 10) was most of a newcomer's DHT work between its first lookup and its first
   * vote.
   */
  private mayAnnounce (): boolean {
    return this.foundInRound == null || this.rounds - this.foundInRound >= ANNOUNCE_AFTER_FOUND_ROUNDS
  }

  /**
   * The DHT adds a peer to its routing table when identify reports its protocols on a
   * new link, after one ping; if that ping fails (a loaded machine, or another ping
   * on the same link: the ping service allows one at a time) the peer is never added
   * while the link lasts. A villager linked only to its bootstrap peer then had an
   * empty table and found no one for minutes. Identifying the link again makes the
   * DHT try once more: two links per round, a few tries each, only while lookups
   * find nobody (each identify also tells the other topologies of the link again).
   */
  private identifyLinksAgain (): void {
    const identify = this.components.identify
    if (identify == null) return
    // one DHT peer in the table is enough for a lookup to reach the rest (and every peer
    // that answers is added): a couple of links per round, least tried first
    const links = this.components.connectionManager.getConnections()
      .filter(c => c.status === 'open' && (this.identifyTries.get(c) ?? 0) < MAX_IDENTIFY_TRIES)
      .sort((a, b) => (this.identifyTries.get(a) ?? 0) - (this.identifyTries.get(b) ?? 0))
      .slice(0, IDENTIFY_LINKS_PER_ROUND)
    for (const connection of links) {
      this.identifyTries.set(connection, (this.identifyTries.get(connection) ?? 0) + 1)
      this.log('lookup found no one: identifying %p again so the DHT can add it', connection.remotePeer)
      identify.identify(connection, { signal: AbortSignal.timeout(ROUND_TIMEOUT_MS) }).catch((err: any) => {
        this.log('identify of %p failed - %s', connection.remotePeer, err.message)
      })
    }
  }

  private readonly identifyTries = new WeakMap<Connection, number>()

  /** Resolves with the number of other members the DHT returned. */
  private async lookup (key: CID, signal: AbortSignal): Promise<number> {
    const self = this.components.peerId
    let dials = 0
    let found = 0
    for await (const provider of this.components.contentRouting.findProviders(key, { signal })) {
      if (provider.id.equals(self)) continue
      found++
      const id = provider.id.toString()
      if (!this.known.has(id)) {
        this.known.set(id, provider.id)
        this.safeDispatchEvent('member:found', { detail: provider.id })
      }
      if (this.components.connectionManager.getConnections(provider.id).length > 0) continue
      if (dials++ >= this.maxDialsPerLookup) continue
      if (provider.multiaddrs.length > 0) {
        await this.components.peerStore.merge(provider.id, { multiaddrs: provider.multiaddrs }).catch(() => {})
      }
      // not awaited: one slow or blocked peer must not hold up the others
      this.components.connectionManager.openConnection(provider.id, { signal }).catch((err: any) => {
        this.log('could not dial town member %p - %s', provider.id, err.message)
      })
    }
    return found
  }
}
