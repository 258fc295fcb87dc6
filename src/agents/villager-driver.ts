/**
 * Drives one villager with an agent through its control API: polls the API,
 * asks the agent once per period while the villager has not acted (and again
 * whenever a trade needs an answer), executes what the agent decides, and logs
 * its reasoning and every action on one line each.
 *
 * The town waits for every member's vote, so a stuck agent would stall
 * everyone. Hence the guarantee: a period always gets a vote. The agent has a
 * deadline; if it throws, overruns, returns something malformed or ends without
 * a period action, the fallback (the heuristic) plays the period, and if even
 * that fails the villager idles.
 */
import { setTimeout as delay } from 'node:timers/promises'
import type { Period } from '../town/rules.js'
import { describeZodError } from '../protocols/wire.js'
import { createHeuristicAgent } from './heuristic.js'
import { ApiError, VillagerApi } from './villager-api.js'
import {
  AgentActionSchema, AgentTurnSchema, describeAction, describeState, isPeriodAction, oneLine, periodLabel, VillagerStateSchema,
  type ActionResult, type AgentAction, type AgentLog, type AgentSession, type AgentTurn, type TradeInfo, type TurnReason,
  type VillagerAgent, type VillagerView
} from './villager-agent.js'

export interface RunVillagerAgentOptions {
  /** The villager's control API, e.g. http://127.0.0.1:5002 */
  apiUrl: string
  agent: VillagerAgent
  log: AgentLog
  /** Stops the driver; a turn in progress is cut short. */
  signal: AbortSignal
  /** What plays a period the agent could not; the heuristic from `seed` by default. */
  fallback?: VillagerAgent
  seed?: string | number
  /** How often the API is asked whether there is something to decide. */
  pollIntervalMs?: number
  /** How long the agent may take over one turn; keep it well under the town's --evict-after. */
  turnDeadlineMs?: number
  /**
   * Before the town's first action (day 1 morning), wait until it has this many members.
   * A villager alone is a whole town: its agent would play days before the others joined.
   * A town that has moved on is never waited for (a newcomer joins it only at a boundary,
   * which needs its members' votes).
   */
  minMembers?: number
  /** How long the fallback's turn may take (it needs only the API). */
  fallbackDeadlineMs?: number
  apiTimeoutMs?: number
  /** Called after every turn: what was decided and by whom (tests and monitoring). */
  onTurn?: (record: TurnRecord) => void
}

export const DRIVER_DEFAULTS = {
  pollIntervalMs: 250,
  // the town evicts a member silent for 30 s by default
  turnDeadlineMs: 20_000,
  fallbackDeadlineMs: 8_000,
  minMembers: 1
} as const

const NOT_A_MEMBER_YET = 'the villager is not a member of the town yet: it joins at the next period boundary'

export interface TurnRecord {
  day: number
  period: Period
  reason: TurnReason
  /** Who took the period action: the agent, its fallback, the last-resort idle; none in a trades turn, when it failed, or when the villager was not a member. */
  decidedBy: 'agent' | 'fallback' | 'idle' | 'none'
  /** Why the agent's own turn did not stand, when it did not. */
  agentError?: string
  results: ActionResult[]
  voted: boolean
}

/** Run until `signal` aborts. Never throws for what the API or the agent does. */
export async function runVillagerAgent (options: RunVillagerAgentOptions): Promise<void> {
  await new VillagerAgentDriver(options).run()
}

class TurnSession implements AgentSession {
  voted = false
  /** A period action was refused because this villager is not (or no longer) a member of the town's time. */
  notMember = false
  closed = false
  readonly results: ActionResult[] = []

  constructor (
    private readonly driver: VillagerAgentDriver,
    readonly reason: TurnReason,
    readonly signal: AbortSignal,
    readonly deadline: number,
    readonly log: AgentLog,
    readonly label: string
  ) {}

  async execute (action: AgentAction): Promise<ActionResult> {
    if (this.closed) throw new Error(`the turn for ${this.label} is over: action ${action.type} not run`)
    const checked = AgentActionSchema.safeParse(action)
    if (!checked.success) {
      const result: ActionResult = { ok: false, action, status: 400, code: 'INVALID_ACTION', message: describeZodError(checked.error) }
      this.record(result)
      return result
    }
    let result: ActionResult
    try {
      const answer = await this.driver.api.perform(checked.data as AgentAction, this.signal)
      const villager = VillagerStateSchema.safeParse((answer as { villager?: unknown } | undefined)?.villager)
      result = { ok: true, action, result: answer, ...(villager.success ? { villager: villager.data } : {}) }
      if (isPeriodAction(action)) this.voted = true
    } catch (err) {
      const e = err instanceof ApiError ? err : new ApiError(0, 'FAILED', String((err as Error)?.message ?? err))
      // someone else (a person at the CLI, say) has acted for this period: it has its vote
      if (isPeriodAction(action) && e.code === 'ALREADY_VOTED') this.voted = true
      if (isPeriodAction(action) && e.code === 'NOT_A_MEMBER') this.notMember = true
      result = { ok: false, action, status: e.status, code: e.code, message: e.message }
    }
    this.record(result)
    return result
  }

  async observe (): Promise<VillagerView> {
    if (this.closed) throw new Error(`the turn for ${this.label} is over`)
    return this.driver.observe(this.signal)
  }

  close (): void {
    this.closed = true
  }

  private record (result: ActionResult): void {
    this.results.push(result)
    const what = describeAction(result.action)
    if (result.ok) this.log.info(`${this.label}: action ${what} -> ok${result.villager == null ? '' : ` (${describeState(result.villager)})`}`)
    else this.log.info(`${this.label}: action ${what} -> refused ${result.code}: ${oneLine(result.message, 300)}`)
  }
}

class VillagerAgentDriver {
  readonly api: VillagerApi
  private readonly agent: VillagerAgent
  private readonly fallback: VillagerAgent
  private readonly log: AgentLog
  private readonly signal: AbortSignal
  private readonly pollIntervalMs: number
  private readonly turnDeadlineMs: number
  private readonly fallbackDeadlineMs: number
  private readonly minMembers: number
  private readonly onTurn?: (record: TurnRecord) => void
  /** The period whose turn the agent has had (it is asked once per period). */
  private handledPeriod?: string
  /** Trade steps already put to the agent, by role, id and status. */
  private readonly askedTrades = new Set<string>()
  private readonly seenMessages = new Set<string>()
  private waitingFor?: string

  constructor (o: RunVillagerAgentOptions) {
    this.api = new VillagerApi(o.apiUrl, { timeoutMs: o.apiTimeoutMs })
    this.agent = o.agent
    this.fallback = o.fallback ?? createHeuristicAgent({ seed: o.seed })
    this.log = o.log
    this.signal = o.signal
    this.pollIntervalMs = o.pollIntervalMs ?? DRIVER_DEFAULTS.pollIntervalMs
    this.turnDeadlineMs = o.turnDeadlineMs ?? DRIVER_DEFAULTS.turnDeadlineMs
    this.fallbackDeadlineMs = o.fallbackDeadlineMs ?? DRIVER_DEFAULTS.fallbackDeadlineMs
    this.minMembers = o.minMembers ?? DRIVER_DEFAULTS.minMembers
    this.onTurn = o.onTurn
  }

  async run (): Promise<void> {
    this.log.info(`agent ${this.agent.name} driving the villager at ${this.api.url}`)
    while (!this.signal.aborted) {
      try {
        await this.step()
      } catch (err) {
        if (this.signal.aborted) break
        this.waiting(err instanceof ApiError ? err.message : `unexpected: ${(err as Error)?.stack ?? err}`, 'warn')
      }
      await delay(this.pollIntervalMs, undefined, { signal: this.signal }).catch(() => {})
    }
    this.log.info(`agent ${this.agent.name} stopped`)
  }

  private async step (): Promise<void> {
    const time = await this.api.time(this.signal)
    if (!time.synced) return this.waiting('the villager has no town time yet (not created yet, or no town peer has answered)')
    if (!time.member) return this.waiting(NOT_A_MEMBER_YET)
    const members = time.members ?? 0
    if (time.day === 1 && time.period === 'morning' && members < this.minMembers) {
      return this.waiting(`the town has ${members} of the ${this.minMembers} members to wait for before its first day`)
    }
    if (this.waitingFor !== undefined) {
      this.log.info(`${periodLabel(time)}: ready (${time.voted ? 'already acted' : 'to act'})`)
      this.waitingFor = undefined
    }
    const key = `${time.day}/${time.period}`
    if (!time.voted) {
      if (this.handledPeriod !== key) await this.periodTurn(time)
      else await this.secureVote(time, { day: time.day, period: time.period, reason: 'period', decidedBy: 'none', results: [], voted: false })
      return
    }
    const pending = await this.pendingTradeSteps()
    if (pending.length > 0) await this.tradesTurn(time, pending)
  }

  /** Log a reason for not acting once, not at every poll. */
  private waiting (why: string, level: 'info' | 'warn' = 'info'): void {
    if (this.waitingFor === why) return
    this.waitingFor = why
    this.log[level](`waiting: ${why}`)
  }

  // -------------------------------------------------------------------------------------
  // what the villager sees

  async observe (signal: AbortSignal): Promise<VillagerView> {
    const optional = async <T>(p: Promise<T[]>): Promise<T[]> => p.catch((err) => {
      // a villager without trades or messaging has no such route: nothing to see there
      if (err instanceof ApiError && err.code === 'NOT_FOUND') return []
      throw err
    })
    const [time, self, status, prices, received, initiated, messages] = await Promise.all([
      this.api.time(signal),
      this.api.villager(signal),
      this.api.status(signal),
      this.api.prices(signal).catch((err: ApiError) => {
        if (signal.aborted) throw err
        this.log.debug(`prices unavailable: ${err.message}`)
        return null
      }),
      optional(this.api.receivedTrades(signal)),
      optional(this.api.initiatedTrades(signal)),
      optional(this.api.messages(signal))
    ])
    if (!time.synced) throw new ApiError(503, 'NOT_SYNCED', 'the villager lost the town time')
    const open = (t: TradeInfo): boolean => ['proposed', 'received', 'accepted', 'confirming'].includes(t.status)
    return {
      self,
      time: { day: time.day, period: time.period, voted: time.voted },
      awaiting: time.awaiting,
      members: status.members,
      prices,
      trades: { received: received.filter(open), initiated: initiated.filter(open) },
      messages: messages.filter(m => !this.seenMessages.has(m.id)).slice(-10)
    }
  }

  private async pendingTradeSteps (): Promise<TradeInfo[]> {
    const optional = async (p: Promise<TradeInfo[]>): Promise<TradeInfo[]> => p.catch((err) => {
      if (err instanceof ApiError && err.code === 'NOT_FOUND') return []
      throw err
    })
    const [received, initiated] = await Promise.all([optional(this.api.receivedTrades(this.signal)), optional(this.api.initiatedTrades(this.signal))])
    return [...received, ...initiated].filter(t => needsAnswer(t) && !this.askedTrades.has(tradeStepKey(t)))
  }

  private remember (view: VillagerView): void {
    for (const t of [...view.trades.received, ...view.trades.initiated]) if (needsAnswer(t)) this.askedTrades.add(tradeStepKey(t))
    for (const m of view.messages) this.seenMessages.add(m.id)
  }

  // -------------------------------------------------------------------------------------
  // turns

  private session (reason: TurnReason, label: string, deadlineMs: number): TurnSession {
    const signal = AbortSignal.any([this.signal, AbortSignal.timeout(deadlineMs)])
    return new TurnSession(this, reason, signal, Date.now() + deadlineMs, this.log, label)
  }

  /** The agent's one turn for a period it has not acted in; then the vote is secured. */
  private async periodTurn (time: { day: number, period: Period }): Promise<void> {
    const label = periodLabel(time)
    const record: TurnRecord = { day: time.day, period: time.period, reason: 'period', decidedBy: 'none', results: [], voted: false }
    const session = this.session('period', label, this.turnDeadlineMs)
    // seen before the agent is asked, so an unreachable API does not use up its turn
    const view = await this.observe(session.signal)
    // time moved since the poll: the next poll takes up the period it is now
    if (view.time.voted || view.time.day !== time.day || view.time.period !== time.period) return
    this.handledPeriod = `${time.day}/${time.period}`
    this.remember(view)
    try {
      await this.play(this.agent, view, session, label)
      if (session.voted) record.decidedBy = 'agent'
      else if (!session.notMember) throw new Error(session.signal.aborted ? `no period action within ${this.turnDeadlineMs} ms` : 'the turn ended without a period action')
    } catch (err) {
      record.agentError = errorText(err)
      // a stop cuts the turn short: that is no failure of the agent's
      if (!this.signal.aborted) this.log.warn(`${label}: agent ${this.agent.name} failed: ${oneLine(record.agentError, 300)}; falling back`)
    } finally {
      session.close()
      record.results.push(...session.results)
      record.voted = session.voted
    }
    if (this.signal.aborted) return
    if (record.voted) this.onTurn?.(record)
    else if (session.notMember) this.outOfTown(record)
    else await this.secureVote(time, record)
  }

  /**
   * The villager's action was refused because it is not a member of the town's time:
   * no one failed. A villager that started alone keeps its own town's time until a
   * neighbour answers with the town's, which it joins at the next period boundary.
   * The driver waits for that, and the agent gets the turn of the first period it is
   * a member in.
   */
  private outOfTown (record: TurnRecord): void {
    this.handledPeriod = undefined
    this.waiting(NOT_A_MEMBER_YET)
    this.onTurn?.(record)
  }

  /** The fallback plays the period, and if that fails too the villager idles. */
  private async secureVote (time: { day: number, period: Period }, record: TurnRecord): Promise<void> {
    if (this.signal.aborted) return
    const label = periodLabel(time)
    const session = this.session('period', label, this.fallbackDeadlineMs)
    try {
      const view = await this.observe(session.signal)
      if (view.time.voted) {
        session.voted = true
      } else {
        this.remember(view)
        await this.play(this.fallback, view, session, `${label} (fallback ${this.fallback.name})`)
        if (session.voted) record.decidedBy = 'fallback'
      }
    } catch (err) {
      this.log.warn(`${label}: fallback ${this.fallback.name} failed: ${oneLine(errorText(err), 300)}`)
    }
    if (!session.voted && !session.notMember) {
      // the last resort needs nothing but the API; with a fresh deadline of its own
      const last = this.session('period', `${label} (last resort)`, this.fallbackDeadlineMs)
      await last.execute({ type: 'idle' })
      session.results.push(...last.results)
      session.voted = last.voted
      session.notMember = last.notMember
      if (last.voted) record.decidedBy = 'idle'
    }
    session.close()
    record.results.push(...session.results)
    record.voted = session.voted
    if (this.signal.aborted || record.voted) return this.onTurn?.(record)
    if (session.notMember) return this.outOfTown(record)
    this.log.warn(`${label}: no vote yet; trying again`)
    this.onTurn?.(record)
  }

  /** Trades need an answer after this villager has acted: only free actions count now. */
  private async tradesTurn (time: { day: number, period: Period }, pending: TradeInfo[]): Promise<void> {
    const label = periodLabel(time)
    const record: TurnRecord = { day: time.day, period: time.period, reason: 'trades', decidedBy: 'none', results: [], voted: true }
    let session = this.session('trades', label, this.turnDeadlineMs)
    // API trouble here is not the agent's failure: it goes to the poll loop, and the trades are asked again
    const view = await this.observe(session.signal)
    // time moved on since the poll: a new period, whose turn answers the trades too
    if (!view.time.voted) return
    this.remember(view)
    for (const t of pending) this.askedTrades.add(tradeStepKey(t))
    try {
      await this.play(this.agent, view, session, label)
    } catch (err) {
      record.agentError = errorText(err)
      this.log.warn(`${label}: agent ${this.agent.name} failed on trades: ${oneLine(record.agentError, 300)}; falling back`)
      session.close()
      record.results.push(...session.results)
      session = this.session('trades', label, this.fallbackDeadlineMs)
      try {
        const now = await this.observe(session.signal)
        if (now.time.voted) await this.play(this.fallback, now, session, `${label} (fallback ${this.fallback.name})`)
      } catch (err2) {
        this.log.warn(`${label}: fallback ${this.fallback.name} failed on trades: ${oneLine(errorText(err2), 300)}`)
      }
    }
    session.close()
    record.results.push(...session.results)
    this.onTurn?.(record)
  }

  /** Ask `agent` for its turn within the session's deadline and run what it returns. */
  private async play (agent: VillagerAgent, view: VillagerView, session: TurnSession, label: string): Promise<void> {
    const turn = await withinDeadline(agent.decide(view, session), session.signal)
    const checked = AgentTurnSchema.safeParse(turn)
    if (!checked.success) throw new Error(`${agent.name} returned a malformed turn: ${describeZodError(checked.error)}`)
    const plan: AgentTurn = checked.data
    if (plan.reasoning !== '') this.log.info(`${label}: reasoning: ${oneLine(plan.reasoning, 600)}`)
    for (const action of plan.actions) {
      if (session.signal.aborted) throw new Error('the turn ran out of time')
      await session.execute(action)
    }
    if (plan.period == null || session.voted) return
    if (session.reason === 'trades') {
      this.log.info(`${label}: ignoring ${plan.period}: this villager has acted this period`)
      return
    }
    await session.execute({ type: plan.period })
  }
}

/** Whether this villager owes the trade an answer: accept/reject an offer, confirm/cancel an accepted one of its own. */
function needsAnswer (t: TradeInfo): boolean {
  return (t.role === 'counterparty' && t.status === 'received') || (t.role === 'initiator' && t.status === 'accepted')
}

function tradeStepKey (t: TradeInfo): string {
  return `${t.role}:${t.id}:${t.status}`
}

function errorText (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** The agent's promise, or a rejection once the signal aborts (an agent that ignores its signal cannot hold the town). */
async function withinDeadline<T> (work: Promise<T>, signal: AbortSignal): Promise<T> {
  work.catch(() => {})
  if (signal.aborted) throw new Error('no time left for the turn')
  return Promise.race([
    work,
    new Promise<never>((_resolve, reject) => {
      signal.addEventListener('abort', () => reject(new Error('the turn ran out of time')), { once: true })
    })
  ])
}
