/**
 * Keeps the player told without asking: the control API has no push, so this polls
 * GET /time, /trades, /mytrades and /messages, diffs each answer against the last
 * one and reports only what is new. It also owns the connection's state: a villager
 * that stops answering is reported once, polled with back-off, and greeted when it
 * is back (with whatever changed meanwhile, since the diff simply continues).
 */
import { STAMINA } from '../../town/constants.js'
import { ApiError, VillagerUnreachableError, type ControlApiClient, type HealthView, type MessageView, type TimeView, type TradeView } from './api-client.js'
import { actedLabel, awaitingSentence, describeTrade, formatMessage, timeLabel, tradePartner } from './format.js'

export type ConnectionState = 'connecting' | 'up' | 'down'

/** What the player has already been shown. */
export interface TownSnapshot {
  /** The last synced time seen: "time advances" compares against it. */
  time?: TimeView
  trades: Map<string, TradeView>
  messageKeys: Set<string>
}

export function emptySnapshot (): TownSnapshot {
  return { trades: new Map(), messageKeys: new Set() }
}

/** Trade ids are chosen by their initiator, so the key is both. */
export function tradeKey (t: Pick<TradeView, 'initiator' | 'id'>): string {
  return `${t.initiator}/${t.id}`
}

function messageKey (m: MessageView): string {
  return `${m.kind}/${m.from}/${m.id}`
}

function samePeriod (a: TimeView | undefined, b: TimeView): boolean {
  return a != null && a.day === b.day && a.period === b.period
}

/** Lines about the town's time: it advanced, we joined, who we are waiting for. */
export function diffTime (prev: TimeView | undefined, cur: TimeView): string[] {
  if (!cur.synced) return []
  const lines: string[] = []
  if (prev == null) lines.push(`-- the town's time: ${timeLabel(cur)} --`)
  else if (!samePeriod(prev, cur)) lines.push(`-- time advances: ${timeLabel(prev)} -> ${timeLabel(cur)}${cur.day !== prev.day ? ` (a new day: hunger costs up to ${STAMINA.hungerPerDay} stamina)` : ''} --`)
  if (cur.member === false && prev?.member !== false) lines.push('* not yet a member of the town: this villager joins at the next period boundary')
  if (prev?.member === false && cur.member === true) lines.push('* this villager is now a member of the town')
  // only once we have acted is "who is awaited" news: before that, it is us
  if (cur.voted === true && (cur.awaiting?.length ?? 0) > 0) {
    const before = samePeriod(prev, cur) && prev!.voted === true ? (prev!.awaiting ?? []).join(', ') : undefined
    if (cur.awaiting!.join(', ') !== before) lines.push(`* ${awaitingSentence(cur.awaiting)}`)
  }
  return lines
}

/** Lines about trades that are new, or whose state changed, since `known`. */
export function diffTrades (known: ReadonlyMap<string, TradeView>, current: TradeView[]): string[] {
  const lines: string[] = []
  for (const t of current) {
    const before = known.get(tradeKey(t))
    if (before == null) {
      lines.push(t.role === 'counterparty' && t.status === 'received' ? `* trade request from ${tradePartner(t)}: ${describeTrade(t)}` : `* ${describeTrade(t)}`)
    } else if (before.status !== t.status && t.updatedAt >= before.updatedAt) {
      lines.push(`* ${describeTrade(t)}`)
    }
  }
  return lines
}

export function diffMessages (known: ReadonlySet<string>, current: MessageView[]): string[] {
  return current.filter(m => !known.has(messageKey(m))).map(m => `* ${formatMessage(m)}`)
}

export interface TownWatcherOptions {
  /** Print lines the player did not ask for. */
  notify: (lines: string[]) => void
  /** The prompt's facts (time, acted, connection) may have changed. */
  onChange?: () => void
  intervalMs?: number
  maxBackoffMs?: number
  /** A poll's own deadline: short, so a hung villager is noticed. */
  pollTimeoutMs?: number
}

export class TownWatcher {
  state: ConnectionState = 'connecting'
  health?: HealthView
  /** The latest /time answer, synced or not: what the prompt shows. */
  time?: TimeView
  private snapshot = emptySnapshot()
  private failures = 0
  /** Bumped when a command reports a change itself, so an older poll answer is not applied over it. */
  private generation = 0
  private chain: Promise<void> = Promise.resolve()
  private timer?: ReturnType<typeof setTimeout>
  private stopped = false
  private lastPollError?: string
  /** Whether the snapshot holds a first answer: history before it is summed up, not replayed. */
  private baselined = false
  private readonly intervalMs: number
  private readonly maxBackoffMs: number
  private readonly pollTimeoutMs: number

  constructor (private readonly api: ControlApiClient, private readonly options: TownWatcherOptions) {
    this.intervalMs = options.intervalMs ?? 500
    this.maxBackoffMs = options.maxBackoffMs ?? 5_000
    this.pollTimeoutMs = options.pollTimeoutMs ?? 3_000
  }

  /** The first poll (so the first thing printed is where we are), then every interval. */
  async start (): Promise<void> {
    await this.pollNow()
    this.schedule()
  }

  stop (): void {
    this.stopped = true
    clearTimeout(this.timer)
  }

  /** Poll now, after any poll in flight: commands call it so their consequences show at once. */
  async pollNow (): Promise<void> {
    const next = this.chain.then(async () => this.pollOnce())
    this.chain = next.catch(() => {})
    return next
  }

  /** A command's own answer about a trade: already printed, so not news for the next poll. */
  noteTrade (trade: TradeView): void {
    this.generation++
    this.snapshot.trades.set(tradeKey(trade), trade)
  }

  /** The villager was just created here: its name belongs in the prompt. */
  async refreshHealth (): Promise<void> {
    try {
      this.health = await this.api.health(this.pollTimeoutMs)
    } catch {}
    this.options.onChange?.()
  }

  prompt (): string {
    const town = this.health?.town
    const name = this.health?.villager
    const who = name != null && town != null ? `${name}@${town}` : town ?? 'meshtown'
    if (this.state === 'down') return `${who} [offline] > `
    if (this.state === 'connecting') return `${who} [connecting] > `
    if (name == null) return `${who} [no villager: type create] > `
    if (this.time == null || !this.time.synced) return `${who} [syncing] > `
    return `${who} [${timeLabel(this.time)}, ${actedLabel(this.time)}] > `
  }

  private schedule (): void {
    if (this.stopped) return
    const delay = this.state === 'down' ? Math.min(this.maxBackoffMs, this.intervalMs * 2 ** Math.max(0, this.failures - 1)) : this.intervalMs
    this.timer = setTimeout(() => {
      void this.pollNow().finally(() => { this.schedule() })
    }, delay)
    // never the thing that keeps a process alive: the input is
    this.timer.unref()
  }

  private async pollOnce (): Promise<void> {
    if (this.stopped) return
    const generation = this.generation
    const t = this.pollTimeoutMs
    let health = this.health
    let time: TimeView, received: TradeView[], initiated: TradeView[], messages: MessageView[]
    try {
      // the name can change under us (created from another session) until there is one
      if (this.state !== 'up' || health?.villager == null) health = await this.api.health(t)
      ;[time, received, initiated, messages] = await Promise.all([
        this.api.time(t),
        optional(this.api.receivedTrades(t)),
        optional(this.api.initiatedTrades(t)),
        optional(this.api.messages(t))
      ])
    } catch (err) {
      this.onPollFailure(err)
      return
    }
    if (this.stopped) return
    const previous = this.state
    this.state = 'up'
    this.failures = 0
    this.lastPollError = undefined
    this.health = health
    const lines: string[] = []
    const first = !this.baselined
    if (first) lines.push(...this.greeting(health!, time, received, initiated, messages))
    else if (previous === 'down') lines.push(`* villager at ${this.api.apiUrl} is back: ${health!.villager ?? 'no villager yet'}@${health!.town}`)
    // an answer older than a command's own report would undo it: the command polls again anyway
    if (first || generation === this.generation) {
      if (!first) {
        lines.push(...diffTime(this.snapshot.time, time))
        lines.push(...diffTrades(this.snapshot.trades, [...initiated, ...received]))
        lines.push(...diffMessages(this.snapshot.messageKeys, messages))
      }
      this.baselined = true
      this.time = time
      if (time.synced) this.snapshot.time = time
      for (const tr of [...initiated, ...received]) {
        const before = this.snapshot.trades.get(tradeKey(tr))
        if (before == null || tr.updatedAt >= before.updatedAt) this.snapshot.trades.set(tradeKey(tr), tr)
      }
      for (const m of messages) this.snapshot.messageKeys.add(messageKey(m))
    }
    if (lines.length > 0) this.options.notify(lines)
    this.options.onChange?.()
  }

  /** On first contact: where we are, and what waits for the player, without replaying history. */
  private greeting (health: HealthView, time: TimeView, received: TradeView[], initiated: TradeView[], messages: MessageView[]): string[] {
    const who = health.villager == null ? `a peer with no villager yet in ${health.town} (type create)` : `${health.villager}@${health.town}`
    const lines = [`connected to ${who} at ${this.api.apiUrl}`]
    if (time.synced) lines.push(`${timeLabel(time)}, ${actedLabel(time)}${time.voted === true ? `; ${awaitingSentence(time.awaiting)}` : ''}`)
    const requests = received.filter(t => t.status === 'received').length
    if (requests > 0) lines.push(`${requests} trade request${requests === 1 ? '' : 's'} waiting for your answer: type trades`)
    const toConfirm = initiated.filter(t => t.status === 'accepted').length
    if (toConfirm > 0) lines.push(`${toConfirm} of your trades accepted and waiting for your confirm: type mytrades`)
    if (messages.length > 0) lines.push(`${messages.length} message${messages.length === 1 ? '' : 's'} so far: type messages`)
    return lines
  }

  private onPollFailure (err: unknown): void {
    if (err instanceof VillagerUnreachableError) {
      this.failures++
      // one refused poll after a good one may be a keep-alive race: a second one is not
      if (this.state !== 'down' && (this.state === 'connecting' || this.failures >= 2)) {
        this.state = 'down'
        this.options.notify([`* villager at ${this.api.apiUrl} is not answering; retrying...`])
        this.options.onChange?.()
      }
      return
    }
    // it answered, but not as a villager should: say so once, not every half second
    const message = err instanceof ApiError ? `${err.code}: ${err.message}` : String((err as Error)?.message ?? err)
    if (message !== this.lastPollError) {
      this.lastPollError = message
      this.options.notify([`* cannot follow the villager: ${message}`])
    }
  }
}

/** Trades and messages are optional features of a control API: a 404 means "none here". */
async function optional<T> (call: Promise<T[]>): Promise<T[]> {
  try {
    return await call
  } catch (err) {
    if (err instanceof ApiError && err.status === 404 && err.code === 'NOT_FOUND') return []
    throw err
  }
}
