/**
 * One agent of a room, on its own peer: its own causal inbox, its own
 * transcript in its own datastore, and its own idea of whose turn it is.
 * There is no room controller: every agent applies the same rules to the
 * same public messages (turns.ts, end-condition.ts) and so agrees with the
 * others without asking them.
 *
 * - Delivery: whatever arrives (gossip, direct stream, catch-up) goes into
 *   the CausalInbox; what it releases is appended to the log (persisted
 *   before anything acts on it) in causal order.
 * - Own messages are stamped from the inbox's delivered clock, delivered to
 *   the own inbox and persisted before they leave, so a restart never reuses
 *   a clock entry or forgets what it said.
 * - Catch-up: gaps the inbox reports are fetched from the sender; a quiet
 *   spell, a (re)start and the end of the room pull "everything newer than
 *   my clock" from the others, which also recovers a lost last message that
 *   no gap would ever reveal.
 */
import type { PeerId } from '@libp2p/interface'
import { TypedEventEmitter } from 'main-event'
import { silentLogger, type Logger } from '../node/logger.js'
import type { RoomEndpoint, RoomNetworkService, RoomTransport } from '../protocols/room/index.js'
import { RemoteError } from '../protocols/wire.js'
import type { RoomMessage, SyncRange, SyncRequest, UnsignedRoomMessage } from '../protocols/room/messages.js'
import {
  decideBudgetMs, PASS, replyOf, validateAction, visibilityOf, type RoomAction, type RoomDecider, type RoomTrigger, type RoomView, type ViewMessage
} from './actions.js'
import { CausalInbox, InboxFullError, stampClock } from './causal-inbox.js'
import { DeliveredIndex } from './delivered-index.js'
import type { RoomConfig } from './config.js'
import { cutAtEnd, findEnd, insertInOrder, type GameTranscript, type RoomEnd } from './end-condition.js'
import type { RoomSetup } from './manifest.js'
import type { RoomStore } from './room-store.js'
import { claimTurn, isTurnAllowed, roundOf, turnLimit, usesTurns, type TurnClaim } from './turns.js'

/**
 * A turn that never ends on its own (a decider that only sends private
 * messages) is cut here; room enough for a moderator to deal to 64 players.
 */
export const MAX_ACTIONS_PER_TURN = 100

export interface RoomAgentTiming {
  /** How long a gap must last before it is fetched (gossip may just be reordering). */
  syncGapMs?: number
  /** Pull from a peer after this long without a delivery. */
  syncIdleMs?: number
  /** At the start, wait at most this long to see every agent subscribed. */
  startTimeoutMs?: number
  /** Bound on the decisions of one turn (or one concurrent wake-up); defaults from the room's limits (decideBudgetMs). */
  decideTimeoutMs?: number
  /** Bound on the catch-up round at the start and at the end. */
  catchUpTimeoutMs?: number
}

export interface RoomAgentOptions {
  network: RoomNetworkService
  setup: RoomSetup
  self: string
  decider: RoomDecider
  store: RoomStore
  /** Seed handed to deciders; the room id when absent. */
  seed?: string
  log?: Logger
  timing?: RoomAgentTiming
  /** Serve the sealed manifest to peers that look the room up (default true). */
  serveConfig?: boolean
}

export interface RoomAgentStats {
  /** Messages the inbox refused (malformed for it, or private and not addressed to it). */
  rejected: number
  inboxFull: number
  decideErrors: number
  invalidActions: number
  sent: number
  syncRequests: number
  syncFailures: number
}

export interface RoomAgentEvents {
  delivered: CustomEvent<RoomMessage>
  ended: CustomEvent<RoomEnd>
}

export type RoomAgentPhase = 'idle' | 'starting' | 'running' | 'ended' | 'stopped'

function seqOf (id: string): number {
  return Number(id.slice(id.lastIndexOf('.') + 1))
}

const sleep = async (ms: number, signal: AbortSignal): Promise<void> => new Promise(resolve => {
  const timer = setTimeout(resolve, ms)
  signal.addEventListener('abort', () => { clearTimeout(timer); resolve() }, { once: true })
})

export class RoomAgent extends TypedEventEmitter<RoomAgentEvents> {
  readonly room: string
  readonly self: string
  readonly config: RoomConfig
  readonly agents: readonly string[]
  readonly selfIndex: number
  readonly seed: string
  readonly stats: RoomAgentStats = { rejected: 0, inboxFull: 0, decideErrors: 0, invalidActions: 0, sent: 0, syncRequests: 0, syncFailures: 0 }

  private readonly network: RoomNetworkService
  private readonly setup: RoomSetup
  private readonly decider: RoomDecider
  private readonly store: RoomStore
  private readonly log: Logger
  private readonly inbox: CausalInbox<RoomMessage>
  private readonly peerToAgent = new Map<string, string>()
  /** Everything delivered here, in delivery order, also by channel and number for catch-up requests. */
  private readonly deliveredIndex = new DeliveredIndex<RoomMessage>()
  private get delivered (): readonly RoomMessage[] {
    return this.deliveredIndex.messages
  }
  /** Delivered public messages in transcript order (not delivery order). */
  private readonly publicMessages: RoomMessage[] = []
  /** Public messages before this index end nothing (see afterChange). */
  private endScanFrom = 0
  private readonly triggers: RoomTrigger[] = []
  private readonly inflight = new Set<Promise<unknown>>()
  private readonly abort = new AbortController()
  private readonly limit: number | undefined
  private readonly timing: Required<RoomAgentTiming>
  private readonly servesConfig: boolean
  private transport?: RoomTransport
  private serial: Promise<void> = Promise.resolve()
  private phaseValue: RoomAgentPhase = 'idle'
  private endValue?: RoomEnd
  private ownSeq = 0
  private nextTurn = 0
  private lastTurnAt = Date.now()
  private acting?: Promise<void>
  private turnTimer?: ReturnType<typeof setTimeout>
  private idleTimer?: ReturnType<typeof setTimeout>
  private gapTimer?: ReturnType<typeof setTimeout>
  private quietTimer?: ReturnType<typeof setTimeout>
  private idlePulling = false
  private syncCursor = 0
  private readonly endedPromise: Promise<RoomEnd>
  private resolveEnded!: (end: RoomEnd) => void

  constructor (options: RoomAgentOptions) {
    super()
    const { setup, self } = options
    this.network = options.network
    this.setup = setup
    this.room = setup.room
    this.config = setup.config
    this.self = self
    this.agents = setup.config.agents.map(a => a.name)
    this.selfIndex = this.agents.indexOf(self)
    if (this.selfIndex < 0) throw new Error(`${self} is not an agent of room ${setup.room}`)
    this.decider = options.decider
    this.store = options.store
    this.seed = options.seed ?? setup.room
    this.log = options.log ?? silentLogger()
    this.limit = turnLimit(this.config)
    this.inbox = new CausalInbox<RoomMessage>(self, { maxBuffered: this.config.limits.max_buffered_messages })
    for (const [agent, peer] of setup.seats) this.peerToAgent.set(peer.toString(), agent)
    const turnTimeout = this.config.limits.turn_timeout_ms
    const agentConfig = this.config.agents[this.selfIndex]
    this.timing = {
      syncGapMs: options.timing?.syncGapMs ?? 150,
      syncIdleMs: options.timing?.syncIdleMs ?? Math.min(2_000, Math.max(100, Math.floor(turnTimeout / 4))),
      startTimeoutMs: options.timing?.startTimeoutMs ?? Math.min(turnTimeout, 10_000),
      decideTimeoutMs: options.timing?.decideTimeoutMs ?? decideBudgetMs(this.config.limits, agentConfig?.kind ?? 'heuristic'),
      catchUpTimeoutMs: options.timing?.catchUpTimeoutMs ?? 3_000
    }
    this.servesConfig = options.serveConfig !== false && setup.manifest.sealed
    this.endedPromise = new Promise(resolve => { this.resolveEnded = resolve })
  }

  get phase (): RoomAgentPhase {
    return this.phaseValue
  }

  /** The room's end as this agent sees it now (the same at every agent holding the same public messages). */
  get result (): RoomEnd | undefined {
    return this.endValue
  }

  /** Resolves once this agent has seen the room end and saved its transcript. */
  async whenEnded (): Promise<RoomEnd> {
    return await this.endedPromise
  }

  /** Everything delivered to this agent, in delivery order: its transcript of what it could see. */
  visibleMessages (): readonly RoomMessage[] {
    return this.delivered.slice()
  }

  /** The shared public transcript, cut at the end. */
  publicTranscript (): GameTranscript<RoomMessage> {
    return cutAtEnd(this.config, this.publicMessages)
  }

  /** Messages received but still waiting for their causal past. */
  pending (): number {
    return this.inbox.pending()
  }

  async start (): Promise<void> {
    if (this.phaseValue !== 'idle') throw new Error('a room agent starts once')
    this.phaseValue = 'starting'
    const stored = await this.store.loadLog()
    for (const msg of stored) this.inbox.receive(msg)
    for (const msg of this.inbox.drain()) this.record(msg)
    // never reuse an id, even of an own message the replay could not place
    for (const msg of stored) if (msg.sender === this.self) this.ownSeq = Math.max(this.ownSeq, seqOf(msg.id))
    if (this.delivered.length !== stored.length) {
      this.log.warn(`room ${this.room}: ${stored.length - this.delivered.length} stored messages could not be replayed; they will be fetched again`)
    }
    const restarted = this.delivered.length > 0
    await this.store.saveManifest(this.setup.manifest)
    await this.store.saveSelf(this.self)
    this.transport = this.network.join(this.endpoint())
    if (this.servesConfig) {
      // any member can tell a late or restarted peer what the room is; seats never change once sealed
      this.network.serveConfig(this.room, (req, from) => {
        if (req.claim !== undefined && this.setup.seats.get(req.claim.name)?.equals(from) !== true) {
          throw new RemoteError('SEAT_TAKEN', `seat ${req.claim.name} of room ${this.room} is held by another peer`)
        }
        return this.setup.manifest
      })
    }
    const others = this.agents.filter(a => a !== this.self)
    // at a fresh start each pair is dialled once (by the earlier agent), not twice at the same moment
    const dial = restarted ? others : others.filter(a => this.agents.indexOf(a) > this.selfIndex)
    await Promise.allSettled(dial.map(async a => this.transport?.connect(a, AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.timing.startTimeoutMs)]))))
    if (!restarted) await this.waitForSubscribers(others)
    await this.catchUp(others)
    if (this.phaseValue !== 'starting') return
    this.phaseValue = 'running'
    this.lastTurnAt = Date.now()
    if (this.config.mode === 'concurrent' && !restarted && this.delivered.length === 0 && this.self === this.starter()) {
      this.triggers.push({ kind: 'start' })
    }
    this.log.debug(`room ${this.room}: ${this.self} running (${restarted ? `restored ${stored.length} messages` : 'fresh'})`)
    this.armIdleSync()
    this.armQuiet()
    this.afterChange()
  }

  async stop (): Promise<void> {
    if (this.phaseValue === 'stopped') return
    this.phaseValue = 'stopped'
    this.abort.abort()
    for (const t of [this.turnTimer, this.idleTimer, this.gapTimer, this.quietTimer]) clearTimeout(t)
    this.transport?.leave()
    if (this.servesConfig) this.network.stopServingConfig(this.room)
    await this.acting?.catch(() => {})
    await this.serial.catch(() => {})
    await Promise.allSettled([...this.inflight])
  }

  /** Who opens a concurrent room: the moderator, or the first agent. */
  private starter (): string {
    return this.config.moderator ?? (this.agents[0] as string)
  }

  private endpoint (): RoomEndpoint {
    return {
      room: this.room,
      self: this.self,
      peerOf: (agent: string): PeerId | undefined => this.setup.seats.get(agent),
      agentOf: (peer: PeerId): string | undefined => this.peerToAgent.get(peer.toString()),
      addrsOf: (agent: string) => this.setup.addrs.get(agent) ?? [],
      check: (msg) => this.checkMessage(msg),
      receive: (msg) => { this.receive(msg) },
      serveSync: (requester, req) => this.serveSync(requester, req)
    }
  }

  /** The room's own rules for a message, beyond the wire schema. */
  private checkMessage (msg: RoomMessage): string | undefined {
    const known = (n: string): boolean => this.agents.includes(n)
    const stranger = msg.receivers.find(r => !known(r))
    if (stranger !== undefined) return `receiver ${stranger} is not an agent of the room`
    if (msg.content.length > this.config.limits.max_message_chars) return `content over the room's ${this.config.limits.max_message_chars} characters`
    for (const key of Object.keys(msg.clock)) {
      if (!key.split('>').every(known)) return `clock key ${key} names no agent of the room`
    }
    if (usesTurns(this.config)) {
      if (msg.turn === undefined) return 'sequential rooms stamp every message with its turn'
      if (msg.visibility === 'public' && !isTurnAllowed(msg.turn, msg.sender, this.agents, this.limit, msg.pass === true)) {
        return `turn ${msg.turn} is not ${msg.sender}'s`
      }
    }
    return undefined
  }

  private receive (msg: RoomMessage): void {
    if (this.phaseValue === 'stopped') return
    let outcome
    try {
      outcome = this.inbox.receive(msg)
    } catch (err) {
      if (err instanceof InboxFullError) {
        this.stats.inboxFull++
        this.log.warn(`room ${this.room}: ${err.message}`)
        return
      }
      throw err
    }
    if (outcome === 'buffered') this.kick()
    else if (outcome === 'invalid' || outcome === 'not-addressed') this.stats.rejected++
  }

  private serialize (task: () => Promise<void>): Promise<void> {
    const run = this.serial.then(task)
    this.serial = run.catch(err => { this.log.error(`room ${this.room}: ${err?.stack ?? err}`) })
    return run
  }

  private kick (): void {
    void this.serialize(async () => { await this.deliverReady() })
  }

  private async deliverReady (): Promise<void> {
    // what arrived while the previous drain was being written goes out in one write
    const ready = this.inbox.drain()
    const index = this.delivered.length
    for (const msg of ready) this.record(msg)
    await this.store.append(index, ready)
    for (const msg of ready) this.onDelivered(msg)
    this.afterChange()
  }

  /** In-memory bookkeeping of one delivered message (also used when replaying the log). */
  private record (msg: RoomMessage): void {
    this.deliveredIndex.add(msg)
    if (msg.sender === this.self) this.ownSeq = Math.max(this.ownSeq, seqOf(msg.id))
    if (msg.visibility === 'public') {
      this.endScanFrom = Math.min(this.endScanFrom, insertInOrder(this.publicMessages, msg))
      if (msg.turn !== undefined && msg.turn + 1 > this.nextTurn) {
        this.nextTurn = msg.turn + 1
        this.lastTurnAt = Date.now()
      }
    }
  }

  private onDelivered (msg: RoomMessage): void {
    this.safeDispatchEvent('delivered', { detail: msg })
    if (this.config.mode === 'concurrent' && msg.sender !== this.self && msg.receivers.includes(this.self) && msg.pass !== true) {
      this.triggers.push({ kind: 'message', message: msg })
    }
    this.armIdleSync()
    this.armQuiet()
  }

  private afterChange (): void {
    if (this.phaseValue === 'stopped') return
    // the transcript before endScanFrom ends nothing: only the rest is looked at again
    const end = findEnd(this.config, this.publicMessages, this.endScanFrom)
    if (end === undefined) this.endScanFrom = this.publicMessages.length
    if (end !== undefined && (this.endValue === undefined || this.endValue.lastId !== end.lastId)) {
      const first = this.endValue === undefined
      this.endValue = end
      if (first) this.onEnded()
      else void this.store.saveResult(end).catch(() => {})
    }
    if (this.inbox.pending() > 0) this.scheduleGapCheck()
    this.schedule()
  }

  private onEnded (): void {
    if (this.phaseValue === 'starting' || this.phaseValue === 'running') this.phaseValue = 'ended'
    clearTimeout(this.turnTimer)
    clearTimeout(this.quietTimer)
    this.triggers.length = 0
    const finish = (async () => {
      // late messages (concurrent with the end) may still sort before it: gather what the others have
      await this.catchUp(this.agents.filter(a => a !== this.self))
      await this.serial
      const end = this.endValue as RoomEnd
      await this.store.saveResult(end)
      this.log.debug(`room ${this.room}: ${this.self} saw the end: ${end.result}`)
      this.safeDispatchEvent('ended', { detail: end })
      this.resolveEnded(end)
    })()
    this.track(finish)
  }

  private schedule (): void {
    if (this.phaseValue !== 'running' || this.acting !== undefined || this.endValue !== undefined) return
    if (this.config.mode === 'concurrent') {
      if (this.triggers.length > 0) this.runActing(this.actOnTriggers())
      return
    }
    const claim = claimTurn(this.nextTurn, this.selfIndex, this.agents.length, this.limit)
    if (claim === undefined) return
    clearTimeout(this.turnTimer)
    const wait = this.lastTurnAt + claim.waitSteps * this.config.limits.turn_timeout_ms - Date.now()
    if (wait > 0) {
      this.turnTimer = setTimeout(() => { this.schedule() }, wait)
      return
    }
    this.runActing(this.actTurn(claim))
  }

  private runActing (work: Promise<void>): void {
    this.acting = work
    work.catch(err => { this.log.error(`room ${this.room}: ${this.self} failed to act: ${err?.stack ?? err}`) }).finally(() => {
      this.acting = undefined
      this.schedule()
    })
  }

  private async actTurn (claim: TurnClaim): Promise<void> {
    if (claim.closing) {
      await this.send(PASS, claim.turn)
      return
    }
    const sent: ViewMessage[] = []
    const trigger: RoomTrigger = { kind: 'turn', turn: claim.turn, round: roundOf(claim.turn, this.agents.length) }
    const stillMine = (): boolean => this.phaseValue === 'running' && this.nextTurn <= claim.turn
    // one budget for the whole turn, however many messages it takes
    const deadline = Date.now() + this.timing.decideTimeoutMs
    for (let i = 0; i < MAX_ACTIONS_PER_TURN && stillMine(); i++) {
      const action = await this.decide(trigger, sent, deadline)
      if (!stillMine()) return
      const msg = await this.send(action, claim.turn)
      if (msg === undefined || msg.visibility === 'public') return
      sent.push(msg)
    }
    if (stillMine()) await this.send(PASS, claim.turn)
  }

  private async actOnTriggers (): Promise<void> {
    while (this.triggers.length > 0 && this.phaseValue === 'running') {
      const trigger = this.triggers.shift() as RoomTrigger
      const sent: ViewMessage[] = []
      const deadline = Date.now() + this.timing.decideTimeoutMs
      for (let i = 0; i < MAX_ACTIONS_PER_TURN && this.phaseValue === 'running'; i++) {
        const action = await this.decide(trigger, sent, deadline)
        if (action.kind === 'pass') break
        const msg = await this.send(action)
        if (msg === undefined) break
        sent.push(msg)
      }
    }
  }

  private async decide (trigger: RoomTrigger, sent: readonly ViewMessage[], deadline: number): Promise<RoomAction> {
    const view: RoomView = {
      room: this.room,
      self: this.self,
      mode: this.config.mode,
      config: this.config,
      agents: this.agents,
      messages: this.delivered.slice(),
      trigger,
      sentThisTurn: [...sent],
      seed: this.seed
    }
    // a heuristic answers at once: it always gets a moment, even when a slow turn used up the budget
    const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(Math.max(20, deadline - Date.now()))])
    let raw: unknown
    try {
      raw = await Promise.race([
        Promise.resolve(this.decider.decide(view, { signal, deadline })),
        new Promise((_resolve, reject) => {
          signal.addEventListener('abort', () => { reject(new Error('decide timed out or the agent stopped')) }, { once: true })
        })
      ])
    } catch (err: any) {
      this.stats.decideErrors++
      this.log.warn(`room ${this.room}: ${this.self} (${this.decider.label}) could not decide: ${err?.message ?? err}; passing`)
      return PASS
    }
    const checked = validateAction(raw, {
      self: this.self,
      agents: this.agents,
      maxChars: this.config.limits.max_message_chars,
      moderator: this.config.moderator
    })
    if (!checked.ok) {
      this.stats.invalidActions++
      this.log.warn(`room ${this.room}: ${this.self} (${this.decider.label}) chose an invalid action (${checked.error}); passing`)
      return PASS
    }
    return checked.action
  }

  /**
   * Stamp, sign, deliver to self, persist, then send. A pass becomes a public
   * pass message in the sequential modes (it ends the turn) and nothing at
   * all in the concurrent mode.
   */
  private async send (action: RoomAction, turn?: number): Promise<RoomMessage | undefined> {
    if (action.kind === 'pass' && turn === undefined) return undefined
    let sent: RoomMessage | undefined
    await this.serialize(async () => {
      if (this.phaseValue !== 'running' || this.endValue !== undefined || this.transport == null) return
      const visibility = action.kind === 'pass' ? 'public' : visibilityOf(action)
      const receivers = action.kind === 'pass' ? [] : action.to
      const unsigned: UnsignedRoomMessage = {
        room: this.room,
        id: `${this.self}.${this.ownSeq + 1}`,
        sender: this.self,
        receivers,
        visibility,
        reply: action.kind === 'pass' ? 'no_reply' : replyOf(action),
        content: action.kind === 'pass' ? '' : action.content,
        clock: stampClock(this.inbox.delivered, this.self, visibility, receivers),
        ...(turn !== undefined ? { turn } : {}),
        ...(action.kind !== 'pass' && action.re !== undefined ? { re: action.re } : {}),
        ...(action.kind === 'public_info' && action.end !== undefined ? { end: action.end } : {}),
        ...(action.kind === 'pass' ? { pass: true as const } : {})
      }
      const msg = await this.transport.sign(unsigned)
      this.inbox.receive(msg)
      await this.deliverReady()
      this.stats.sent++
      sent = msg
      this.dispatch(msg)
    })
    return sent
  }

  private dispatch (msg: RoomMessage): void {
    const transport = this.transport
    if (transport == null) return
    if (msg.visibility === 'public') {
      this.track(transport.publish(msg).catch(err => { this.log.warn(`room ${this.room}: publish ${msg.id} failed: ${err.message}`) }))
      return
    }
    for (const receiver of msg.receivers) {
      // an unreachable receiver catches up later: its next message from us shows it the gap
      this.track(transport.sendPrivate(msg, receiver, this.abort.signal).catch(err => {
        this.log.debug(`room ${this.room}: private ${msg.id} to ${receiver} not delivered now (${err.message}); it will catch up`)
      }))
    }
  }

  private track (work: Promise<unknown>): void {
    this.inflight.add(work)
    void work.finally(() => this.inflight.delete(work))
  }

  private async waitForSubscribers (others: readonly string[]): Promise<void> {
    const deadline = Date.now() + this.timing.startTimeoutMs
    while (!this.abort.signal.aborted && Date.now() < deadline) {
      const seen = new Set(this.transport?.subscribedAgents() ?? [])
      if (others.every(a => seen.has(a))) return
      await sleep(25, this.abort.signal)
    }
    if (!this.abort.signal.aborted) this.log.warn(`room ${this.room}: ${this.self} starts without seeing every agent on the topic`)
  }

  /** Pull everything newer than our clock from each of `agents`, at once, bounded in time. */
  private async catchUp (agents: readonly string[]): Promise<void> {
    const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.timing.catchUpTimeoutMs)])
    await Promise.allSettled(agents.map(async a => this.pull(a, 'since', signal)))
    await this.serial
  }

  private async pull (agent: string, what: 'since' | readonly SyncRange[], signal: AbortSignal): Promise<void> {
    const transport = this.transport
    if (transport == null) return
    // a reply may be cut short (`more`): ask again from the clock it moved us to
    for (let round = 0; round < 16 && !signal.aborted; round++) {
      this.stats.syncRequests++
      const request: Omit<SyncRequest, 'room'> = what === 'since' ? { since: this.inbox.delivered } : { ranges: [...what] }
      let reply
      try {
        reply = await transport.sync(agent, request, signal)
      } catch (err: any) {
        this.stats.syncFailures++
        throw err
      }
      for (const msg of reply.messages) this.receive(msg)
      await this.serial
      if (!reply.more || what !== 'since') return
    }
  }

  private armIdleSync (): void {
    if (this.phaseValue !== 'starting' && this.phaseValue !== 'running') return
    clearTimeout(this.idleTimer)
    this.idleTimer = setTimeout(() => {
      if (this.idlePulling || (this.phaseValue !== 'running')) { this.armIdleSync(); return }
      const others = this.agents.filter(a => a !== this.self)
      const agent = others[this.syncCursor++ % others.length]
      if (agent === undefined) return
      this.idlePulling = true
      const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.timing.catchUpTimeoutMs)])
      this.pull(agent, 'since', signal).catch(() => {}).finally(() => {
        this.idlePulling = false
        this.armIdleSync()
      })
    }, this.timing.syncIdleMs)
  }

  /** Concurrent mode: after a quiet turn timeout, every agent gets a chance to move the room on. */
  private armQuiet (): void {
    if (this.config.mode !== 'concurrent' || this.phaseValue !== 'running') return
    clearTimeout(this.quietTimer)
    this.quietTimer = setTimeout(() => {
      if (this.phaseValue !== 'running') return
      this.triggers.push({ kind: 'timeout' })
      this.schedule()
      this.armQuiet()
    }, this.config.limits.turn_timeout_ms)
  }

  private scheduleGapCheck (): void {
    if (this.gapTimer !== undefined || this.phaseValue === 'stopped') return
    this.gapTimer = setTimeout(() => {
      this.gapTimer = undefined
      this.track(this.fillGaps())
    }, this.timing.syncGapMs)
  }

  /** Ask each sender for what the inbox waits for; public gaps fall back to any other agent. */
  private async fillGaps (): Promise<void> {
    const ranges = this.inbox.missing()
    if (ranges.length === 0 || this.phaseValue === 'stopped') return
    const bySource = new Map<string, SyncRange[]>()
    for (const r of ranges) {
      if (r.sender === this.self) continue
      const list = bySource.get(r.sender) ?? []
      list.push({ channel: r.channel, from: r.fromSeq, to: r.toSeq })
      bySource.set(r.sender, list)
    }
    const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.timing.catchUpTimeoutMs)])
    await Promise.allSettled([...bySource].map(async ([sender, list]) => {
      try {
        await this.pull(sender, list.slice(0, 256), signal)
      } catch {
        const open = list.filter(r => !r.channel.includes('>'))
        if (open.length === 0) return
        // private gaps can only come from their sender; public ones from anyone who has them
        for (const other of this.agents.filter(a => a !== this.self && a !== sender)) {
          try {
            await this.pull(other, open.slice(0, 256), signal)
            return
          } catch {}
        }
      }
    }))
    if (this.inbox.pending() > 0) this.scheduleGapCheck()
  }

  /**
   * What a peer may have of ours: public messages to any member; private ones
   * only to their sender and receivers.
   */
  private serveSync (requester: string, req: SyncRequest): RoomMessage[] {
    if (req.ranges !== undefined) return this.deliveredIndex.inRanges(requester, req.ranges)
    if (req.since !== undefined) return this.deliveredIndex.since(requester, req.since)
    return this.deliveredIndex.all(requester)
  }
}

