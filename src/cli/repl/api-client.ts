/**
 * A small typed client for a villager's control API (src/town/control-api.ts).
 * It tells the two ways a call can fail apart, because the REPL treats them
 * differently: the villager said no (ApiError: print its message), or nobody
 * answered (VillagerUnreachableError: report once and keep retrying).
 */
import type { InboxEntry } from '../../protocols/messaging/messaging-service.js'
import type { Trade } from '../../town/trades.js'
import type { Item, Occupation, Period, RuleEffect, TownTime, VillagerState } from '../../town/rules.js'

/** The villager answered with `{"error":{"code","message"}}`. */
export class ApiError extends Error {
  override name = 'ApiError'
  constructor (readonly status: number, readonly code: string, message: string) {
    super(message)
  }
}

/** No answer at all: refused, reset, timed out, or not HTTP. */
export class VillagerUnreachableError extends Error {
  override name = 'VillagerUnreachableError'
  constructor (readonly apiUrl: string, readonly reason: string) {
    super(`villager at ${apiUrl} is not answering (${reason})`)
  }
}

export interface HealthView {
  ok: boolean
  peerId: string
  town: string
  villager: string | null
  connections: number
}

/** GET /time: `synced` is false until the peer has a villager and knows the town's clock. */
export interface TimeView {
  town: string
  synced: boolean
  day?: number
  period?: Period
  member?: boolean
  voted?: boolean
  awaiting?: string[]
}

export interface StatusMember {
  name: string
  occupation: Occupation
  peerId: string
  voted: boolean
  action: string | null
  evictVotes: number
}

export interface StatusView extends TimeView {
  majority?: number
  members: StatusMember[]
  evicted?: unknown[]
}

export interface PriceTable {
  sells: Partial<Record<Item, number>>
  buys: Partial<Record<Item, number>>
}

export interface ActionOutcome {
  effect: RuleEffect
  villager: VillagerState
  time: TownTime
}

export type TradeView = Trade
export type MessageView = InboxEntry

export interface ProfileInput {
  name: string
  occupation: Occupation
  gender: string
  personality: string
}

export interface ApiClientOptions {
  /** Ms before a call counts as unanswered. Merchant orders retry inside the villager, so be generous. */
  timeoutMs?: number
}

export class ControlApiClient {
  readonly apiUrl: string
  private readonly timeoutMs: number

  constructor (apiUrl: string, options: ApiClientOptions = {}) {
    this.apiUrl = apiUrl.replace(/\/+$/, '')
    this.timeoutMs = options.timeoutMs ?? 30_000
  }

  async request<T> (method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs = this.timeoutMs): Promise<T> {
    let res: Response
    try {
      res = await fetch(this.apiUrl + path, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs)
      })
    } catch (err) {
      throw new VillagerUnreachableError(this.apiUrl, describeNetworkError(err))
    }
    let payload: any
    try {
      payload = await res.json()
    } catch (err) {
      // a half-written answer from a villager that died mid-reply is still "not answering"
      if (res.ok) throw new VillagerUnreachableError(this.apiUrl, `unreadable answer: ${describeNetworkError(err)}`)
      throw new ApiError(res.status, 'BAD_RESPONSE', `HTTP ${res.status} from ${method} ${path}, not JSON`)
    }
    if (!res.ok) {
      const error = payload?.error
      throw new ApiError(res.status, String(error?.code ?? 'HTTP_' + res.status), String(error?.message ?? `HTTP ${res.status} from ${method} ${path}`))
    }
    return payload as T
  }

  async health (timeoutMs?: number): Promise<HealthView> { return this.request('GET', '/health', undefined, timeoutMs) }
  async villager (): Promise<VillagerState> { return this.request('GET', '/villager') }
  async create (profile: ProfileInput): Promise<VillagerState> { return this.request('POST', '/villager', profile) }
  async time (timeoutMs?: number): Promise<TimeView> { return this.request('GET', '/time', undefined, timeoutMs) }
  async status (): Promise<StatusView> { return this.request('GET', '/status') }
  async prices (): Promise<PriceTable> { return this.request('GET', '/prices') }
  async act (action: 'produce' | 'sleep' | 'idle'): Promise<ActionOutcome> { return this.request('POST', `/action/${action}`) }
  async eat (quantity: number): Promise<ActionOutcome> { return this.request('POST', '/action/eat', { quantity }) }
  async order (op: 'buy' | 'sell', item: Item, quantity: number): Promise<ActionOutcome> { return this.request('POST', `/action/${op}`, { item, quantity }) }

  async proposeTrade (target: string, side: 'buy' | 'sell', item: Item, quantity: number, price: number): Promise<TradeView> {
    return this.request('POST', '/trade/request', { target, action: side, item, quantity, price })
  }

  async receivedTrades (timeoutMs?: number): Promise<TradeView[]> { return this.request('GET', '/trades', undefined, timeoutMs) }
  async initiatedTrades (timeoutMs?: number): Promise<TradeView[]> { return this.request('GET', '/mytrades', undefined, timeoutMs) }
  async tradeStep (step: 'accept' | 'reject' | 'confirm' | 'cancel', id: string): Promise<TradeView> {
    return this.request('POST', `/trade/${step}`, { trade_id: id })
  }

  async send (target: string, message: string): Promise<{ to: string, id: string }> { return this.request('POST', '/messages/send', { target, message }) }
  async broadcast (message: string): Promise<{ id: string, recipients: number }> { return this.request('POST', '/messages/broadcast', { message }) }
  async messages (timeoutMs?: number): Promise<MessageView[]> { return this.request('GET', '/messages', undefined, timeoutMs) }
}

function describeNetworkError (err: unknown): string {
  const e = err as { name?: string, message?: string, cause?: { code?: string, message?: string } }
  if (e?.name === 'TimeoutError') return 'no answer in time'
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err)
}
