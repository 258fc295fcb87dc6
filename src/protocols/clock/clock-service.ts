import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { Message } from '@libp2p/gossipsub'
import type { Connection, PeerId, Startable } from '@libp2p/interface'
import { Key } from 'interface-datastore'
import { TypedEventEmitter } from 'main-event'
import PQueue from 'p-queue'
import { authorOf, meshPeers, publishReach } from '../../node/gossip-routes.js'
import type { MeshPeer } from '../../node/peer.js'
import {
  applyStatement, checkSnapshot, currentStatements, evictionTargets, genesis, isMember, joinsToBack, memberByName,
  mergeStates, now, tally, type Certificate, type ClockState, type JoinStatement, type Statement,
  type Tally, type VoteStatement
} from '../../town/clock.js'
import { comparePeriods, nextPeriod, type Occupation, type PeriodAction, type TownTime } from '../../town/rules.js'
import { RpcClient, handleRpc } from '../rpc.js'
import { clockTopic } from '../topics.js'
import { decodeJson, encodeJson, handle, request, RemoteError, describeZodError, WireError } from '../wire.js'
import {
  ClockMessageSchema, fromSnapshot, PackedSyncResponseSchema, sign, snapshotStatements, splitBySize, StatementVerifier, SyncRequestSchema,
  SyncResponseSchema, toPackedSnapshot, toSnapshot, unpackSnapshot, type ClockMessage, type Snapshot
} from './codec.js'
import {
  CLOCK_RELAY_PROTOCOL, CLOCK_SYNC_PROTOCOL, CLOCK_SYNC_PROTOCOL_1_0, DEFAULT_EVICT_AFTER_MS, DEFAULT_REPUBLISH_INTERVAL_MS, EVICTION_CHECK_INTERVAL_MS,
  MAX_CLOCK_MESSAGE_BYTES, MAX_PACKED_SNAPSHOT_BYTES, MAX_RELAY_REQUEST_BYTES, MAX_SNAPSHOT_BYTES, MAX_SYNC_REQUEST_BYTES, MAX_TRACKED_AUTHORS, RELAY_HOLD_MS,
  REPAIR_WINDOW_MS, SYNC_BACKOFF_MS, SYNC_TIMEOUT_MS
} from './constants.js'
import { heartbeatIntervalMs } from './pace.js'
import { relayOf, RelayReplySchema, RelayRequestSchema, type RelayReply, type RelayRequest } from './relay.js'
import { encodeGuests, encodeReach, memberOrder, reachCovers } from './reach.js'

export interface ClockIdentity {
  name: string
  occupation: Occupation
}

export interface ClockServiceInit {
  town: string
  /** A villager takes part (votes, joins); without it the peer only follows time (merchant, observer). */
  identity?: ClockIdentity
  evictAfterMs?: number
  republishIntervalMs?: number
  /** Hand votes to the period's relay instead of flooding each one (relay.ts); on by default. */
  relayVotes?: boolean
  /** How long a relay holds votes that have not completed the period (default RELAY_HOLD_MS). */
  relayHoldMs?: number
}

export interface AdvanceEvent {
  from: TownTime
  to: TownTime
  /** Certificates of the periods completed here (empty when time was adopted from a neighbour). */
  completed: Certificate[]
  adopted: boolean
  /** Whether this peer was a member of the town when time moved from `from`. */
  wasMember: boolean
}

export interface ClockEvents {
  advance: CustomEvent<AdvanceEvent>
  change: CustomEvent<ClockState>
}

/**
 * Why a clock message is forwarded: its author sent no reach (an older release), it
 * was sent in another view than ours, or a subscriber we know is not in its reach.
 */
export type ForwardReason = 'NO_REACH' | 'OTHER_VIEW' | 'NOT_REACHED'

/** Counters of what was refused and why: forged, malformed, replayed statements and the like. */
export type RejectionCounts = Record<string, number>

/**
 * The time barrier on the wire. Statements travel on the town's clock topic; a
 * peer whose period is changing slowly re-publishes what it holds for it (one
 * message repairs many gaps), and a quiet peer the period waits on sends a heartbeat
 * with its own statements; a peer that is behind or disagrees asks a neighbour for a snapshot
 * directly instead of waiting for gossip.
 */
export class ClockService extends TypedEventEmitter<ClockEvents> implements Startable {
  readonly town: string
  readonly identity?: ClockIdentity
  readonly rejections: RejectionCounts = {}
  /**
   * Messages taken in but not forwarded: every other subscriber had them from their
   * author (reach.ts), or a newer message of the same author had come first (replays).
   */
  forwardsSpared = 0
  /** Of those, messages that left out a subscriber outside this peer's mesh (whose own mesh peers forward it). */
  leftToOtherMeshes = 0
  /** Messages older than one their author had already sent here (gossip's cache replays them for seconds). */
  replays = 0
  /** Messages let through to gossipsub's forwarding, by why (reach.ts). */
  readonly forwarded: Partial<Record<ForwardReason, number>> = {}
  /**
   * Votes of others this peer took as the period's relay (held); its own a relay took or already had (handed); its own
   * it published itself, its relay having refused them or its stream lost (fallbacks), and of those the ones its relay
   * left unanswered for the eviction timeout (timeouts).
   */
  readonly relay = { held: 0, handed: 0, fallbacks: 0, timeouts: 0 }
  /** Whole sets this peer re-published to repair a slow period (tick). */
  repairs = 0
  /** Heartbeats sent: only those the town needs (owesHeartbeat); the relay's whole sets count as repairs. */
  heartbeats = 0
  private readonly peer: MeshPeer
  private readonly evictAfterMs: number
  private readonly republishIntervalMs: number
  private readonly verifier = new StatementVerifier()
  private readonly lastHeard = new Map<string, number>()
  /** The newest gossip sequence number taken in from each author (gossipsub's is the wall clock's, so it grows across restarts). */
  private readonly newestSeq = new Map<string, bigint>()
  private readonly lastSync = new Map<string, number>()
  private readonly writes = new PQueue({ concurrency: 1 })
  private readonly topic: string
  private readonly key: Key
  private current?: ClockState
  private periodStartedAt = Date.now()
  /**
   * When the current period's first vote reached us: from then the period waits on
   * its other members, who owe their heartbeats, and their silence is counted.
   */
  private waitingSince?: number
  private seq = 0
  private timers: Array<ReturnType<typeof setInterval>> = []
  private readonly graceTimers = new Set<ReturnType<typeof setTimeout>>()
  private readonly syncGraceMs: number
  private changedAt = 0
  private publishedAt = 0
  private started = false
  private topologyId?: string
  private readonly relayVotes: boolean
  private readonly relayHoldMs: number
  private relayClient?: RpcClient
  /** Votes held as the relay, with the state of their period (relay.ts). */
  private held?: { stmts: Statement[], state: ClockState, timer: ReturnType<typeof setTimeout> }

  constructor (peer: MeshPeer, init: ClockServiceInit) {
    super()
    this.peer = peer
    this.town = init.town
    this.identity = init.identity
    this.evictAfterMs = init.evictAfterMs ?? DEFAULT_EVICT_AFTER_MS
    this.republishIntervalMs = init.republishIntervalMs ?? DEFAULT_REPUBLISH_INTERVAL_MS
    this.syncGraceMs = Math.min(this.republishIntervalMs, 1_000)
    this.relayVotes = init.relayVotes ?? true
    this.relayHoldMs = init.relayHoldMs ?? RELAY_HOLD_MS
    this.topic = clockTopic(init.town)
    this.key = new Key(`/meshtown/clock/${init.town}`)
  }

  get self (): string {
    return this.peer.peerId.toString()
  }

  /** Authors whose last message (time and gossip number) this peer keeps: members, and strangers up to a bound. */
  get trackedAuthors (): number {
    return this.newestSeq.size
  }

  /** The current state, or undefined for a follower that has not learnt the town's time yet. */
  get state (): ClockState | undefined {
    return this.current
  }

  time (): TownTime | undefined {
    return this.current == null ? undefined : now(this.current)
  }

  tally (): Tally | undefined {
    return this.current == null ? undefined : tally(this.current)
  }

  isMember (peerId: string = this.self): boolean {
    return this.current != null && isMember(this.current, peerId)
  }

  /** Resolve a villager's name to its PeerId through the town's membership. */
  lookup (name: string): string | undefined {
    return this.current == null ? undefined : memberByName(this.current, name)
  }

  /** The period's relay, when this peer hands votes over (none in a town under four, or with relaying off). */
  private relayIn (state: ClockState): string | undefined {
    return this.relayVotes ? relayOf(state) : undefined
  }

  /** Whether votes go through a relay here, today's relay (none in a town under four), and what this peer's counters say. */
  relayStatus (): { enabled: boolean, relay?: string, held: number, handed: number, fallbacks: number, timeouts: number } {
    const relay = this.current == null ? undefined : this.relayIn(this.current)
    return { enabled: this.relayVotes, relay, ...this.relay }
  }

  /** Whether this peer has already voted in the current period. */
  hasVoted (): boolean {
    return this.current?.votes[this.self] != null
  }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    const saved = await this.load()
    if (saved != null) {
      this.current = saved
    } else if (this.identity != null) {
      this.current = genesis(await this.signJoin(TIME_ZERO))
    }
    this.periodStartedAt = Date.now()
    if (this.current != null) {
      this.noteWaiting(this.current)
      this.linkMembers(this.current)
    }
    const pubsub = this.peer.pubsub
    pubsub.topicValidators.set(this.topic, async (from, msg) => this.validate(from, msg))
    pubsub.subscribe(this.topic)
    const serve = <S>(packSnapshot: (state: ClockState) => S) => (req: { town: string }): { snapshot: S | null } => {
      if (req.town !== this.town) throw new RemoteError('WRONG_TOWN', `this peer keeps the time of "${this.town}"`)
      return { snapshot: this.current == null ? null : packSnapshot(this.current) }
    }
    await handle(this.peer.libp2p, CLOCK_SYNC_PROTOCOL, SyncRequestSchema, serve(toPackedSnapshot), {
      maxBytes: MAX_SYNC_REQUEST_BYTES, maxReplyBytes: MAX_PACKED_SNAPSHOT_BYTES, timeoutMs: SYNC_TIMEOUT_MS
    })
    await handle(this.peer.libp2p, CLOCK_SYNC_PROTOCOL_1_0, SyncRequestSchema, serve(toSnapshot), {
      maxBytes: MAX_SYNC_REQUEST_BYTES, maxReplyBytes: MAX_SNAPSHOT_BYTES, timeoutMs: SYNC_TIMEOUT_MS
    })
    // a peer that can serve snapshots just connected (a start, a restart, a healed link): ask it
    // (every peer that serves them serves 1.0.0, older builds included)
    this.topologyId = await this.peer.libp2p.register(CLOCK_SYNC_PROTOCOL_1_0, {
      onConnect: (peerId) => { void this.syncFrom(peerId) }
    })
    if (this.identity != null && this.relayVotes) {
      // a relay slow to answer is still a relay (a saturated process takes seconds): its
      // voters wait for it, as long as it could stay a member without a word (submitVote)
      this.relayClient = new RpcClient(this.peer.libp2p, CLOCK_RELAY_PROTOCOL, { maxBytes: MAX_RELAY_REQUEST_BYTES, timeoutMs: this.evictAfterMs })
      await handleRpc(this.peer.libp2p, CLOCK_RELAY_PROTOCOL, RelayRequestSchema, async (req, conn) => this.onRelay(req, conn), {
        maxBytes: MAX_RELAY_REQUEST_BYTES,
        maxInboundStreams: 4,
        onRefused: (code, message, from) => { this.peer.log.debug(`clock: refused a vote to relay from ${from.toString()}: ${code} ${message}`) }
      })
    }
    this.timers.push(setInterval(() => { void this.tick() }, this.republishIntervalMs))
    this.timers.push(setInterval(() => { void this.checkEvictions() }, EVICTION_CHECK_INTERVAL_MS))
    for (const peerId of this.peer.libp2p.getPeers()) void this.syncFrom(peerId)
  }

  async stop (): Promise<void> {
    if (!this.started) return
    // votes handed to us go out now: their voters count on it
    await this.releaseHeld()
    this.started = false
    this.relayClient?.close()
    if (this.relayClient != null) await this.peer.libp2p.unhandle(CLOCK_RELAY_PROTOCOL).catch(() => {})
    for (const t of this.timers) clearInterval(t)
    this.timers = []
    for (const t of this.graceTimers) clearTimeout(t)
    this.graceTimers.clear()
    if (this.topologyId != null) this.peer.libp2p.unregister(this.topologyId)
    this.peer.pubsub.topicValidators.delete(this.topic)
    await this.peer.libp2p.unhandle(CLOCK_SYNC_PROTOCOL).catch(() => {})
    await this.peer.libp2p.unhandle(CLOCK_SYNC_PROTOCOL_1_0).catch(() => {})
    await this.flush()
  }

  /** The refusal of a second action in the current period. */
  alreadyActed (): ClockError {
    const state = this.requireState()
    return new ClockError('ALREADY_VOTED', `already acted in day ${state.day} ${state.period}; waiting for ${this.awaitedNames().join(', ') || 'the others'}`)
  }

  /**
   * Sign this villager's vote for the current period without applying it, so the
   * caller can make it durable together with the action's effects first.
   */
  async prepareVote (action: PeriodAction): Promise<VoteStatement> {
    const state = this.requireState()
    if (!isMember(state, this.self)) throw new ClockError('NOT_A_MEMBER', `not yet a member of ${this.town}: joining at the next period boundary`)
    if (state.votes[this.self] != null) throw this.alreadyActed()
    return await this.signOwn<VoteStatement>({
      kind: 'vote', town: this.town, day: state.day, period: state.period, voter: this.self, action, joins: joinsToBack(state)
    })
  }

  /**
   * Send out and apply our own (already durable) vote. It goes to the period's relay
   * (relay.ts), or out on gossip when there is none, none takes it, or we are it (then
   * it waits with the votes handed to us). It leaves before it is applied here: if it
   * completes the period, this peer moves on and its next messages carry the next
   * period, so the vote would otherwise reach the others only through a snapshot.
   * Re-publishes (the whole set while the period changes, then each peer's own
   * statements in its heartbeat) repair what was lost on the way.
   *
   * A relay that refuses the vote or whose stream is lost gets it published at once. One
   * that is only slow is waited for: in a town of 100 on two cores most relays answered
   * after the 2 s voters used to wait, and each of those votes then went out twice,
   * by its voter and with the relay's message, which saturated the town further. The
   * vote of a relay that never answers still goes out: with this peer's heartbeat
   * (nothing else was published for it), and in the repairs that resume once the relay
   * has been silent for a while (leftToRelay); a relay silent long enough is evicted.
   */
  async submitVote (vote: VoteStatement): Promise<void> {
    const state = this.current
    if (state == null || comparePeriods(vote, state) !== 0) {
      this.ingest([vote], 'self')
      return
    }
    const relay = this.relayIn(state)
    if (relay === this.self) {
      this.hold([vote], state)
      this.ingest([vote], 'self')
      return
    }
    // a vote's hand-over never waits for a dial: the relay is a member, kept linked by memberLinks
    const link = relay == null ? undefined : this.peer.memberLinks.openLink(relay)
    if (link == null || this.relayClient == null) {
      const sent = this.publish([vote], state)
      this.ingest([vote], 'self')
      await sent
      return
    }
    const handed = this.relayClient.request(link, { vote } satisfies RelayRequest, RelayReplySchema)
    // with the relay from now on, unless it says no: a saturated relay answers seconds later,
    // and its voters' repairs meanwhile were most of what a town of 100 sent (leftToRelay)
    this.handedOver = { day: vote.day, period: vote.period }
    this.ingest([vote], 'self')
    // not awaited: the vote is durable and counted here, and the villager's next action
    // (its queue waits on this call) should not wait on how busy the relay is
    void this.awaitHandOver(handed, relay!, vote, state)
  }

  private async awaitHandOver (handed: Promise<RelayReply>, relay: string, vote: VoteStatement, state: ClockState): Promise<void> {
    try {
      await handed
      this.relay.handed++
      // out as surely as a publish of our own: no heartbeat needed for a while
      this.publishedAt = Date.now()
    } catch (err: any) {
      // the relay is past the vote's period: it completed that period, so with this vote
      // (our heartbeat or a repair brought it there while the hand-over waited)
      if (err instanceof RemoteError && err.code === 'PAST_PERIOD') {
        this.relay.handed++
        return
      }
      if (this.handedOver != null && comparePeriods(this.handedOver, vote) === 0) this.handedOver = undefined
      this.relay.fallbacks++
      if (err.code === 'TIMEOUT') this.relay.timeouts++
      this.peer.log.debug(`clock: relay ${relay} did not take our vote (${err.code ?? ''} ${err.message}); publishing it`)
      // stamped with its own period even if this peer has moved on since (its vote completed
      // the period here): the others may still be waiting for it
      await this.publish([vote], state)
    }
  }

  /** The period of the last vote handed to a relay that has not refused it. */
  private handedOver?: TownTime

  /**
   * Whether this peer leaves the repair of the current period to its relay: it is not
   * the relay, the relay has been heard lately, and our vote is with it (handed over and
   * not refused, answered or not yet), or not cast.
   * The relay holds every vote it took and repairs the period while it stays open;
   * the same whole set re-published by every member was, in a slow period of a town
   * of 50, up to N sets of N votes checked by N peers a second. A voter whose vote the
   * relay did not take repairs as before, and so does everyone once the relay is
   * silent for a heartbeat and a half (crashed, stuck, cut off).
   */
  private leftToRelay (state: ClockState, at: number): boolean {
    const relay = this.relayIn(state)
    if (relay == null || relay === this.self) return false
    const voted = state.votes[this.self] != null
    if (voted && (this.handedOver == null || comparePeriods(this.handedOver, state) !== 0)) return false
    // the relay owes no heartbeat before the period waits on anyone: its silence counts from then
    return at - Math.max(this.lastHeard.get(relay) ?? 0, this.waitingSince ?? at) < this.heartbeatMs() * 1.5
  }

  /**
   * Whether the town needs this peer's heartbeat. In a town of N every heartbeat is
   * N − 1 deliveries, and with every member sending one each 5–7.5 s that was most of
   * what a settled town did (an idle town of 50 used 1.1 cores, of 100 nearly 2), and
   * as many deliveries as the votes themselves in a town of 50 moving at 3 periods a
   * second. A heartbeat is for evictions and repair, so it is owed only where those are:
   * - while the period waits on nobody (no member has acted) nobody can be evicted and
   *   there is nothing to repair; silence is counted from the first vote (evictionTargets);
   * - a member the period waits on (no vote yet) shows it is thinking, not gone;
   * - a member whose vote is with the relay leaves it to the relay, whose heartbeat is
   *   its whole set (tick), for as long as the relay is heard from (leftToRelay);
   *   otherwise (votes flooded, the relay silent, the vote refused) its heartbeat
   *   carries its vote, as before.
   * A town still forming and a peer outside the view heartbeat as before: founders and
   * newcomers are found by their joins. A member's heartbeat interval counts from the
   * period's first vote as well (tick), so a period that completes within it costs none.
   */
  private owesHeartbeat (state: ClockState, at: number): boolean {
    if (state.prev == null || !isMember(state, this.self)) return true
    if (this.waitingSince == null) return false
    if (state.votes[this.self] == null) return true
    return !this.leftToRelay(state, at)
  }

  /**
   * A member hands us its vote as the period's relay: checked like any statement,
   * applied, and held until the period completes here or the hold ends. Refused when
   * it cannot count here (another period, not a member...): its voter then publishes
   * it, which reaches every peer whatever our state.
   */
  private async onRelay (req: RelayRequest, connection: Connection): Promise<RelayReply> {
    const vote = req.vote
    if (!this.started || this.current == null) throw new RemoteError('NOT_SYNCED', `the time of ${this.town} is not known here yet`)
    if (vote.town !== this.town) throw new RemoteError('WRONG_TOWN', `this peer keeps the time of "${this.town}"`)
    if (vote.voter !== connection.remotePeer.toString()) throw new RemoteError('NOT_OWN_VOTE', 'a peer hands over only its own vote')
    if (!await this.verifier.verifyAll([vote])) {
      this.count('FORGED')
      throw new RemoteError('FORGED', 'the vote\'s signature does not verify')
    }
    const state = this.current
    // applied once, here, rather than checked and then ingested: the vote that completes the period builds its certificate
    const applied = applyStatement(state, vote)
    const { outcome } = applied
    if (outcome.status === 'rejected') throw new RemoteError(outcome.code, outcome.message)
    if (outcome.status === 'duplicate') return { held: 'known' }
    this.relay.held++
    this.hold([vote], state)
    this.commit(state, applied.state, applied.completed, false)
    return { held: 'relayed' }
  }

  /** Keep statements of `state`'s period to publish together (releaseHeld). */
  private hold (stmts: Statement[], state: ClockState): void {
    if (this.held == null) {
      const timer = setTimeout(() => { void this.releaseHeld() }, this.relayHoldMs)
      this.held = { stmts: [...stmts], state, timer }
    } else {
      this.held.stmts.push(...stmts)
    }
  }

  /**
   * Publish what we hold as the relay, in one message. `completed`: the state in
   * which the held votes' period ended here, whose view the receivers share.
   */
  private async releaseHeld (completed?: ClockState): Promise<void> {
    const held = this.held
    if (held == null) return
    this.held = undefined
    clearTimeout(held.timer)
    const current = this.current
    const stamp = completed ?? (current != null && comparePeriods(current, held.state) === 0 ? current : held.state)
    await this.publish(held.stmts, stamp)
  }

  awaitedNames (): string[] {
    const t = this.tally()
    if (t == null) return []
    return t.awaited.map(id => this.current!.view[id]?.name ?? id)
  }

  /** Wait until the clock reaches `time` (or later). */
  async waitFor (time: TownTime, signal?: AbortSignal): Promise<void> {
    const reached = (): boolean => this.current != null && comparePeriods(this.current, time) >= 0
    if (reached()) return
    await new Promise<void>((resolve, reject) => {
      const onChange = (): void => { if (reached()) { cleanup(); resolve() } }
      const onAbort = (): void => { cleanup(); reject(signal!.reason) }
      const cleanup = (): void => { this.removeEventListener('change', onChange); signal?.removeEventListener('abort', onAbort) }
      this.addEventListener('change', onChange)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  // -------------------------------------------------------------------------------------

  /** Our own statement, signed and known good to our verifier (it comes back to us in others' messages). */
  private async signOwn<S extends Statement> (stmt: Omit<S, 'sig'>): Promise<S> {
    const signed = await sign<S>(this.peer.privateKey, stmt)
    this.verifier.signedHere(signed)
    return signed
  }

  private async signJoin (at: TownTime): Promise<JoinStatement> {
    const id = this.identity!
    return await this.signOwn<JoinStatement>({
      kind: 'join', town: this.town, day: at.day, period: at.period, voter: this.self, name: id.name, occupation: id.occupation
    })
  }

  private requireState (): ClockState {
    if (this.current == null) throw new ClockError('NOT_SYNCED', `the time of ${this.town} is not known yet: no town peer has answered`)
    return this.current
  }

  /** Gossip arrives here first: bounded, schema-checked, signatures verified, then applied. */
  private async validate (source: PeerId, msg: Message): Promise<TopicValidatorResult> {
    if (msg.type !== 'signed') return this.reject('UNSIGNED', TopicValidatorResult.Reject)
    if (msg.data.byteLength > MAX_CLOCK_MESSAGE_BYTES) return this.reject('TOO_LARGE', TopicValidatorResult.Reject)
    let parsed: ClockMessage
    try {
      const result = ClockMessageSchema.safeParse(decodeJson(msg.data))
      if (!result.success) {
        this.peer.log.debug(`clock: malformed message from ${msg.from.toString()}: ${describeZodError(result.error)}`)
        return this.reject('MALFORMED', TopicValidatorResult.Reject)
      }
      parsed = result.data
    } catch {
      return this.reject('MALFORMED', TopicValidatorResult.Reject)
    }
    if (parsed.town !== this.town) return this.reject('WRONG_TOWN', TopicValidatorResult.Reject)
    const author = authorOf(source, msg.from)
    this.lastHeard.set(author, Date.now())
    const replay = this.isReplay(author, !msg.from.equals(source), msg.sequenceNumber)
    if (!await this.verifier.verifyAll(parsed.stmts)) return this.reject('FORGED', TopicValidatorResult.Reject)
    this.ingest(parsed.stmts, author)
    if (replay) {
      // a message its author has since superseded, delivered late by gossip (IHAVE/IWANT
      // within the message cache): at a town's forming, heartbeats of a smaller view,
      // each forwarded again by every peer for its unreadable reach. The author's newer
      // message went on as it needed to; this one tells nobody anything more.
      this.replays++
      this.forwardsSpared++
      return TopicValidatorResult.Ignore
    }
    this.noteRepair(parsed)
    this.considerSync(msg.from, parsed)
    // Ignore: taken in above, and gossipsub neither forwards it nor counts it against its source
    const reason = this.whyForward(source, parsed)
    if (reason == null) {
      this.forwardsSpared++
      return TopicValidatorResult.Ignore
    }
    this.forwarded[reason] = (this.forwarded[reason] ?? 0) + 1
    return TopicValidatorResult.Accept
  }

  /**
   * Whether a message numbered `seq` reached us relayed after a newer one of its
   * author; remembers the newest otherwise. What the author sends us itself is its
   * latest word whatever its number (a restart on a clock set back numbers lower).
   */
  private isReplay (author: string, relayed: boolean, seq: bigint): boolean {
    const newest = this.newestSeq.get(author)
    if (relayed && newest != null && seq <= newest) return true
    this.newestSeq.set(author, seq)
    if (this.newestSeq.size > MAX_TRACKED_AUTHORS) this.forgetStrangers()
    return false
  }

  /** Drop what we keep about authors outside the view: observers come and go, and keys cost nothing to make. */
  private forgetStrangers (): void {
    const view = this.current?.view ?? {}
    for (const map of [this.newestSeq, this.lastHeard]) {
      for (const id of map.keys()) if (!Object.hasOwn(view, id)) map.delete(id)
    }
  }

  /**
   * Why `msg` should go on to gossipsub's forwarding, or undefined when no subscriber
   * needs a copy from here: every other subscriber this peer knows got it from its
   * author, or those left out are outside this peer's mesh. Gossipsub forwards to the
   * mesh only, so a left-out subscriber is helped by its own mesh peers, each of which
   * forwards it (and offers it by gossip, IHAVE, to others). Before, every receiver
   * forwarded a message that left anyone out: in a town of 50 with a few member pairs
   * unlinked, most clock messages, each copied by all 49 receivers to their meshes.
   */
  private whyForward (source: PeerId, msg: ClockMessage): ForwardReason | undefined {
    const state = this.current
    if (msg.reach == null || state == null) return 'NO_REACH'
    const order = memberOrder(state.view)
    if (msg.digest !== order.digest) return 'OTHER_VIEW'
    const from = source.toString()
    const others = this.peer.pubsub.getSubscribers(this.topic).map(String).filter(peer => peer !== from)
    if (reachCovers(msg.reach, order, others, msg.guests)) return undefined
    const mesh = meshPeers(this.peer.pubsub, this.topic)?.filter(peer => peer !== from)
    if (mesh != null && reachCovers(msg.reach, order, mesh, msg.guests)) {
      this.leftToOtherMeshes++
      return undefined
    }
    return 'NOT_REACHED'
  }

  private reject (code: string, result: TopicValidatorResult): TopicValidatorResult {
    this.count(code)
    return result
  }

  private count (code: string): void {
    this.rejections[code] = (this.rejections[code] ?? 0) + 1
  }

  /** Apply statements in order; counts refusals; emits events when time moves. */
  private ingest (stmts: Statement[], source: string): void {
    if (this.current == null) {
      // a follower learns the town's time from snapshots, not from loose statements
      return
    }
    const before = this.current
    let state = this.current
    const completed: Certificate[] = []
    for (const stmt of stmts) {
      const r = applyStatement(state, stmt)
      if (r.outcome.status === 'rejected') this.count(r.outcome.code)
      state = r.state
      completed.push(...r.completed)
    }
    this.commit(before, state, completed, false)
  }

  private commit (before: ClockState | undefined, state: ClockState, completed: Certificate[], adopted: boolean): void {
    if (state === before) return
    this.current = state
    this.changedAt = Date.now()
    if (state.view !== before?.view) {
      this.noteNewMembers(state)
      this.linkMembers(state)
    }
    const moved = before == null || comparePeriods(state, before) !== 0
    if (moved) {
      this.periodStartedAt = Date.now()
      this.waitingSince = undefined
      this.peer.log.debug(`clock: ${this.town} is now at day ${state.day} ${state.period}`)
    }
    if (state.votes !== before?.votes) this.noteWaiting(state)
    // a boundary is written at once; votes within a period are batched (a restart catches up from the town anyway)
    this.scheduleSave(moved)
    this.safeDispatchEvent('change', { detail: state })
    if (moved && before != null && this.held != null) void this.releaseHeld(before)
    if (moved && before != null) {
      // nothing is published here: the others hold the same votes (each voter sent its
      // own), and N peers each sending the new period's set at every boundary was most
      // of a period's messages; the periodic re-publish repairs what gossip lost
      this.safeDispatchEvent('advance', { detail: { from: now(before), to: now(state), completed, adopted, wasMember: isMember(before, this.self) } })
    }
  }

  private noteWaiting (state: ClockState): void {
    if (this.waitingSince == null && Object.keys(state.votes).length > 0) this.waitingSince = Date.now()
  }

  /**
   * Stay linked to every member: the view is the town's whole roster, where the
   * directory's DHT answers stop at 20, and a message sent straight to each member
   * needs no forwarded copies (reach.ts).
   */
  private linkMembers (state: ClockState): void {
    this.peer.memberLinks.keep(Object.keys(state.view))
  }

  /**
   * A member is given the whole eviction timeout from the moment we learn of it. A
   * founder learnt from a snapshot had not been heard yet, and silence was counted
   * from the start of our period: in a town still forming, minutes before, so each
   * newly started founder was evicted by every older one within a quarter second.
   */
  private noteNewMembers (state: ClockState): void {
    const at = Date.now()
    for (const id of Object.keys(state.view)) if (!this.lastHeard.has(id)) this.lastHeard.set(id, at)
  }

  /**
   * Another peer just re-published a set for our period at least as large as ours:
   * our own repair this round would only repeat it (each re-publish of a town of N
   * is N statements checked by N peers; with every peer repairing a slow period,
   * that was most of a loaded town's work).
   */
  private noteRepair (msg: ClockMessage): void {
    const state = this.current
    if (state == null || msg.stmts.length < 2 || comparePeriods(msg, state) !== 0) return
    if (msg.stmts.length >= currentStatements(state).length) this.repairedAt = Date.now()
  }

  private repairedAt = 0

  /**
   * A peer ahead of us, or at our period with another membership, has something we
   * lack. At a boundary everyone is briefly ahead of someone, and the last vote is
   * usually on its way: only ask for a snapshot if we are still behind after a grace.
   */
  private considerSync (from: PeerId, msg: ClockMessage): void {
    const behind = (): boolean => {
      const state = this.current
      if (state == null) return true
      const order = comparePeriods(msg, state)
      if (order > 0) return true
      // same period, other membership: a founder we missed, or the other side of a race (mergeStates settles both)
      return order === 0 && msg.digest !== memberOrder(state.view).digest
    }
    if (!behind()) return
    const farBehind = this.current == null || comparePeriods(msg, nextPeriod(this.current)) > 0
    if (farBehind) { void this.syncFrom(from); return }
    const timer = setTimeout(() => {
      this.graceTimers.delete(timer)
      if (this.started && behind()) void this.syncFrom(from)
    }, this.syncGraceMs)
    this.graceTimers.add(timer)
  }

  /** Catch-up: ask one peer for its snapshot and merge it. */
  async syncFrom (peerId: PeerId): Promise<boolean> {
    const id = peerId.toString()
    const last = this.lastSync.get(id) ?? 0
    if (Date.now() - last < SYNC_BACKOFF_MS || !this.started) return false
    this.lastSync.set(id, Date.now())
    try {
      const snapshot = await this.fetchSnapshot(peerId)
      if (snapshot == null) return false
      const theirs = fromSnapshot(snapshot)
      if (!await this.verifier.verifyAll(snapshotStatements(theirs))) {
        this.count('FORGED_SNAPSHOT')
        return false
      }
      const checked = checkSnapshot(theirs, this.town)
      if (!checked.ok) {
        this.count('INVALID_SNAPSHOT')
        this.peer.log.debug(`clock: invalid snapshot from ${id}: ${checked.reason}`)
        return false
      }
      if (!this.started) return false
      const before = this.current
      if (before == null) {
        this.commit(undefined, checked.state, [], true)
        return true
      }
      const merged = mergeStates(before, checked.state)
      this.commit(before, merged.state, merged.completed, merged.adopted)
      // a newcomer that just found the town asks to join it now, not at its next tick
      if (merged.adopted) void this.askToJoin()
      return merged.state !== before
    } catch (err: any) {
      this.peer.log.debug(`clock: sync from ${id} failed: ${err.message}`)
      return false
    }
  }

  /** A peer's snapshot, packed (1.1.0), or in full from a peer of an older build. */
  private async fetchSnapshot (peerId: PeerId): Promise<Snapshot | null> {
    try {
      const { snapshot } = await request(this.peer.libp2p, peerId, CLOCK_SYNC_PROTOCOL, { town: this.town }, PackedSyncResponseSchema, {
        maxBytes: MAX_PACKED_SNAPSHOT_BYTES, timeoutMs: SYNC_TIMEOUT_MS
      })
      return snapshot == null ? null : unpackSnapshot(snapshot)
    } catch (err) {
      if (!(err instanceof WireError && err.code === 'UNSUPPORTED_PROTOCOL')) throw err
    }
    const { snapshot } = await request(this.peer.libp2p, peerId, CLOCK_SYNC_PROTOCOL_1_0, { town: this.town }, SyncResponseSchema, {
      maxBytes: MAX_SNAPSHOT_BYTES, timeoutMs: SYNC_TIMEOUT_MS
    })
    return snapshot
  }

  /**
   * Periodic: ask to join when outside the town; re-publish what we hold while it
   * is changing (repair), and otherwise only as often as the heartbeat needs: an
   * idle town of 10 spent most of its CPU on re-publishes that changed nothing.
   *
   * A heartbeat carries only this peer's own statements of the period (its vote,
   * its join, its evictions), not the whole set: in an idle town of 25 every peer
   * checking 25 sets of 25 signatures every 5 s was about a third of the CPU. What
   * the whole set repaired is still repaired: a vote some peer lacks comes back
   * with its voter's next heartbeat, or, when the vote went through the relay, with
   * the relay's (its whole set); if its voter is gone, the holders of the vote
   * are either complete (they advance, and their messages of a later period make
   * the others ask them for a snapshot) or waiting for a silent member, whose
   * eviction is a change and reopens the repair window of whole sets. Only the
   * heartbeats the town needs are sent (owesHeartbeat).
   *
   * A town still forming gets no whole sets: each founder's heartbeat carries its own
   * join, which is all the others need from it, and a peer whose membership differs
   * asks for a snapshot (considerSync). While 50 processes started, the membership
   * changed every few seconds and every peer re-published its set of every founder
   * (and of every eviction of a silent one) each second: that storm kept a forming
   * town of 50 on 2 cores too busy to answer, so silent, so evicted, so larger sets.
   */
  private async tick (): Promise<void> {
    if (!this.started || this.current == null) return
    await this.askToJoin()
    if (!this.started || this.current == null) return
    const at = Date.now()
    // half an interval of slack: timers drift, and a heartbeat skipped by a few ms waits a whole round
    const slack = this.republishIntervalMs / 2
    // repair only a period that is taking a while: in a town that moves faster than the
    // interval every vote already went out once, and re-sending N sets of N was the cost
    const stalled = at - this.periodStartedAt >= this.republishIntervalMs - slack
    const covered = at - this.repairedAt < this.republishIntervalMs
    const state = this.current
    const forming = state.prev == null
    // a member's heartbeat is counted from when the period started waiting too: a period that
    // completes within a heartbeat needs none (a town of 50 moving at 3 periods a second sent
    // one per member per heartbeat all the same, each from a tick that fell before its vote)
    const quietSince = !forming && isMember(state, this.self) ? Math.max(this.publishedAt, this.waitingSince ?? 0) : this.publishedAt
    const heartbeatDue = at - quietSince >= this.heartbeatMs() - slack
    if (!forming && this.relayIn(state) === this.self) {
      // the relay's heartbeat is its whole set, and its repair: every vote it took went out
      // in its release already, and its whole set each second of a slow period, 100 votes
      // to 99 peers in a town of 100, was what slowed that town down next
      if (heartbeatDue && this.waitingSince != null) {
        this.repairs++
        await this.publish()
      }
      return
    }
    if (!forming && stalled && !covered && at - this.changedAt < REPAIR_WINDOW_MS && !this.leftToRelay(state, at)) {
      this.repairs++
      await this.publish()
    } else if (heartbeatDue && this.owesHeartbeat(state, at)) {
      this.heartbeats++
      await this.publish(currentStatements(state).filter(st => st.voter === this.self))
    }
  }

  /**
   * Outside the town: a join request for the current period, signed once a period and
   * sent at once. The members back a request only in votes they cast after they hold
   * it, so each second it waited (for this tick, then for the heartbeat, up to 5 s
   * when a newcomer had sent one in its own town of one) could cost a whole period.
   */
  private async askToJoin (): Promise<void> {
    const state = this.current
    if (!this.started || state == null || this.identity == null || isMember(state, this.self) || this.signingJoin) return
    const mine = state.joins[this.self]
    if (mine != null && comparePeriods(mine, state) >= 0) return
    this.signingJoin = true
    try {
      const join = await this.signJoin(now(state))
      this.ingest([join], 'self')
      await this.publish([join])
    } finally {
      this.signingJoin = false
    }
  }

  private signingJoin = false

  private heartbeatMs (): number {
    const members = this.current == null ? 0 : memberOrder(this.current.view).ids.length
    return heartbeatIntervalMs(members, this.evictAfterMs, this.republishIntervalMs)
  }

  private async checkEvictions (): Promise<void> {
    const state = this.current
    if (!this.started || state == null || this.identity == null) return
    const targets = evictionTargets(state, this.self, this.lastHeard, this.waitingSince ?? this.periodStartedAt, Date.now(), this.evictAfterMs)
    if (targets.length === 0) return
    const stmts = []
    for (const target of targets) {
      this.peer.log.info(`clock: ${state.view[target]?.name ?? target} silent for ${this.evictAfterMs} ms in day ${state.day} ${state.period}: signing its eviction`)
      stmts.push(await this.signOwn<Statement>({ kind: 'evict', town: this.town, day: state.day, period: state.period, voter: this.self, target } as any))
    }
    if (this.current !== state) return
    this.ingest(stmts, 'self')
    // only the new statements: the others hold the rest, and a running town's repair
    // window (an eviction is a change) re-publishes whole sets where gossip lost some
    await this.publish(stmts)
  }

  /** Publish statements of `state`'s period: by default all we hold for the current one. */
  private async publish (stmts?: Statement[], state = this.current): Promise<void> {
    if (state == null || !this.started) return
    const order = memberOrder(state.view)
    const reached = publishReach(this.peer.libp2p, this.topic)
    const all = stmts ?? currentStatements(state)
    const msg: ClockMessage = {
      v: 1,
      town: this.town,
      day: state.day,
      period: state.period,
      digest: order.digest,
      forming: state.prev == null,
      seq: this.seq,
      stmts: all,
      reach: encodeReach(order, id => id === this.self || reached.has(id))
    }
    const guests = encodeGuests(order, reached)
    if (guests.length > 0) msg.guests = guests
    this.publishedAt = Date.now()
    let encoded = encodeJson(msg)
    // a whole set can outgrow one message (votes that back many joins, ~21 KB each at 64):
    // sent in parts, each a message of its own, rather than one that every peer refuses
    const parts = encoded.byteLength <= MAX_CLOCK_MESSAGE_BYTES
      ? [all]
      : splitBySize(all, MAX_CLOCK_MESSAGE_BYTES - encodeJson({ ...msg, stmts: [] }).byteLength)
    for (const part of parts) {
      if (part !== all) encoded = encodeJson({ ...msg, seq: this.seq, stmts: part })
      this.seq++
      try {
        await this.peer.pubsub.publish(this.topic, encoded)
      } catch (err: any) {
        this.peer.log.debug(`clock: publish failed: ${err.message}`)
      }
    }
  }

  private async load (): Promise<ClockState | undefined> {
    try {
      if (!await this.peer.datastore.has(this.key)) return undefined
      const parsed = SyncResponseSchema.shape.snapshot.safeParse(decodeJson(await this.peer.datastore.get(this.key)))
      if (!parsed.success || parsed.data == null) {
        this.peer.log.warn(`clock: saved state of ${this.town} is unreadable; starting over from the town`)
        return undefined
      }
      const checked = checkSnapshot(fromSnapshot(parsed.data), this.town)
      return checked.ok ? checked.state : undefined
    } catch (err: any) {
      this.peer.log.warn(`clock: cannot load saved state: ${err.message}`)
      return undefined
    }
  }

  private scheduleSave (now: boolean): void {
    if (now) {
      void this.flush()
    } else if (this.saveTimer == null) {
      // in a town of 50 every vote rewrote the whole snapshot: 50 JSON encodings of ~100 statements a period
      this.saveTimer = setTimeout(() => { this.saveTimer = undefined; void this.save() }, SAVE_BATCH_MS)
    }
  }

  private async save (): Promise<void> {
    // only the latest state matters: skip writes that a newer one supersedes
    if (this.writes.size > 0) return
    await this.writes.add(async () => {
      const latest = this.current
      if (latest == null || latest === this.saved) return
      this.saved = latest
      await this.peer.datastore.put(this.key, encodeJson(toSnapshot(latest)))
    }).catch((err: any) => { this.peer.log.warn(`clock: cannot save state: ${err.message}`) })
  }

  private saved?: ClockState
  private saveTimer?: ReturnType<typeof setTimeout>

  /** Write the latest state now (a batched write becomes this one); resolves once it is on disk. */
  async flush (): Promise<void> {
    clearTimeout(this.saveTimer)
    this.saveTimer = undefined
    await this.save()
    await this.writes.onIdle()
  }
}

const TIME_ZERO: TownTime = { day: 1, period: 'morning' }
const SAVE_BATCH_MS = 250

export class ClockError extends Error {
  override name = 'ClockError'
  constructor (readonly code: 'NOT_A_MEMBER' | 'ALREADY_VOTED' | 'NOT_SYNCED', message: string) {
    super(message)
  }
}
