/**
 * A client of one villager's control API (src/town/control-api.ts), for agents.
 * Every answer is checked with zod before an agent sees it, so a villager of
 * another version fails loudly here rather than deep inside a policy.
 */
import { z } from 'zod'
import { PERIODS, type MerchantPrices, type VillagerState } from '../town/rules.js'
import { describeZodError } from '../protocols/wire.js'
import { ItemSchema, MessageInfoSchema, TradeInfoSchema, VillagerStateSchema, type AgentAction, type MemberInfo, type MessageInfo, type TradeInfo } from './villager-agent.js'

/** A refusal or failure of the control API; status 0 when it could not be reached at all. */
export class ApiError extends Error {
  override name = 'ApiError'
  constructor (readonly status: number, readonly code: string, message: string) {
    super(message)
  }
}

export const TimeViewSchema = z.union([
  z.object({ synced: z.literal(false) }),
  z.object({
    synced: z.literal(true),
    day: z.number().int().min(1),
    period: z.enum(PERIODS),
    member: z.boolean(),
    voted: z.boolean(),
    awaiting: z.array(z.string()),
    members: z.number().int().min(0).optional()
  })
])
export type TimeView = z.infer<typeof TimeViewSchema>

const StatusSchema = z.object({
  members: z.array(z.object({ name: z.string(), occupation: z.string(), voted: z.boolean() })).default([]),
  awaiting: z.array(z.string()).default([])
})
const PriceList = z.partialRecord(ItemSchema, z.number())
const PricesSchema = z.object({ sells: PriceList, buys: PriceList })
const ErrorBodySchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) })

export interface VillagerApiOptions {
  /** Each request gives up after this long (a merchant order may take a few seconds). */
  timeoutMs?: number
}

export class VillagerApi {
  readonly url: string
  private readonly timeoutMs: number

  constructor (url: string, options: VillagerApiOptions = {}) {
    this.url = url.replace(/\/+$/, '')
    this.timeoutMs = options.timeoutMs ?? 15_000
  }

  async time (signal?: AbortSignal): Promise<TimeView> {
    return this.get('/time', TimeViewSchema, signal)
  }

  async villager (signal?: AbortSignal): Promise<VillagerState> {
    return this.get('/villager', VillagerStateSchema, signal)
  }

  async status (signal?: AbortSignal): Promise<{ members: MemberInfo[], awaiting: string[] }> {
    return this.get('/status', StatusSchema, signal)
  }

  async prices (signal?: AbortSignal): Promise<MerchantPrices> {
    return this.get('/prices', PricesSchema, signal)
  }

  async receivedTrades (signal?: AbortSignal): Promise<TradeInfo[]> {
    return this.get('/trades', z.array(TradeInfoSchema), signal)
  }

  async initiatedTrades (signal?: AbortSignal): Promise<TradeInfo[]> {
    return this.get('/mytrades', z.array(TradeInfoSchema), signal)
  }

  async messages (signal?: AbortSignal): Promise<MessageInfo[]> {
    return this.get('/messages', z.array(MessageInfoSchema), signal)
  }

  /** Perform one agent action; resolves with the API's answer, throws ApiError on a refusal. */
  async perform (action: AgentAction, signal?: AbortSignal): Promise<unknown> {
    const [path, body] = requestFor(action)
    return this.request('POST', path, body, signal)
  }

  private async get<T> (path: string, schema: z.ZodType<T>, signal?: AbortSignal): Promise<T> {
    const json = await this.request('GET', path, undefined, signal)
    const parsed = schema.safeParse(json)
    if (!parsed.success) throw new ApiError(502, 'UNEXPECTED_ANSWER', `GET ${path} answered in an unexpected shape: ${describeZodError(parsed.error)}`)
    return parsed.data
  }

  private async request (method: string, path: string, body: unknown, signal?: AbortSignal): Promise<unknown> {
    const timeout = AbortSignal.timeout(this.timeoutMs)
    let res: Response
    try {
      res = await fetch(this.url + path, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: signal == null ? timeout : AbortSignal.any([timeout, signal])
      })
    } catch (err: any) {
      if (signal?.aborted === true) throw new ApiError(0, 'ABORTED', `${method} ${path}: stopped`)
      const why = timeout.aborted ? `no answer within ${this.timeoutMs} ms` : (err?.cause?.code ?? err?.message ?? String(err))
      throw new ApiError(0, 'UNREACHABLE', `the villager's control API at ${this.url} cannot be reached (${why})`)
    }
    const text = await res.text().catch(() => '')
    let json: unknown
    try {
      json = text === '' ? undefined : JSON.parse(text)
    } catch {
      throw new ApiError(res.status, 'UNEXPECTED_ANSWER', `${method} ${path} answered ${res.status} with a body that is not JSON`)
    }
    if (!res.ok) {
      const error = ErrorBodySchema.safeParse(json)
      if (error.success) throw new ApiError(res.status, error.data.error.code, error.data.error.message)
      throw new ApiError(res.status, 'HTTP_ERROR', `${method} ${path} answered ${res.status}`)
    }
    return json
  }
}

/** The control API request that performs an action (control-api.ts is the reference). */
export function requestFor (action: AgentAction): [string, unknown] {
  switch (action.type) {
    case 'produce': case 'sleep': case 'idle': return [`/action/${action.type}`, undefined]
    case 'eat': return ['/action/eat', { quantity: action.quantity }]
    case 'buy': case 'sell': return [`/action/${action.type}`, { item: action.item, quantity: action.quantity }]
    case 'propose_trade': return ['/trade/request', {
      target: action.target, item: action.item, quantity: action.quantity, price: action.price, action: action.side,
      ...(action.expires_in == null ? {} : { expires_in: action.expires_in })
    }]
    case 'accept_trade': return ['/trade/accept', { trade_id: action.trade_id }]
    case 'reject_trade': return ['/trade/reject', { trade_id: action.trade_id }]
    case 'confirm_trade': return ['/trade/confirm', { trade_id: action.trade_id }]
    case 'cancel_trade': return ['/trade/cancel', { trade_id: action.trade_id }]
    case 'send_message': return ['/messages/send', { target: action.target, message: action.text }]
    case 'broadcast': return ['/messages/broadcast', { message: action.text }]
  }
}
