/**
 * The one interface between a villager's control API and whatever decides for
 * it (the heuristic, an LLM, later a person): given what the villager sees, an
 * agent returns a turn, the period's action plus free actions before it. Every
 * action has a zod schema that mirrors what the control API accepts, so an
 * agent can never send the API something it would refuse as malformed; the
 * API (and the rules behind it) may still refuse a well-formed action, and the
 * agent sees why.
 *
 * Pure types and schemas only: the I/O lives in villager-api.ts and
 * villager-driver.ts.
 */
import { z } from 'zod'
import { LIMITS } from '../town/constants.js'
import { ITEMS, OCCUPATIONS, PERIOD_ACTIONS, type MerchantPrices, type PeriodAction, type Period, type VillagerState } from '../town/rules.js'
import { TRADE_LIMITS } from '../town/trades.js'
import { MAX_MESSAGE_CHARS } from '../protocols/messaging/constants.js'

// ---------------------------------------------------------------------------------------
// What a villager sees

export const ItemSchema = z.enum(ITEMS)
const Count = z.number().int().min(0)
export const VillagerStateSchema = z.object({
  name: z.string(),
  occupation: z.enum(OCCUPATIONS),
  gender: z.string(),
  personality: z.string(),
  stamina: Count,
  coins: Count,
  items: z.object(Object.fromEntries(ITEMS.map(i => [i, Count])) as Record<(typeof ITEMS)[number], typeof Count>)
})

/** A trade as an agent needs it: who with, what, and where it stands. */
export const TradeInfoSchema = z.object({
  id: z.string(),
  role: z.enum(['initiator', 'counterparty']),
  status: z.enum(['proposed', 'received', 'accepted', 'confirming', 'committed', 'rejected', 'cancelled', 'expired']),
  initiatorName: z.string(),
  counterpartyName: z.string(),
  /** From the initiator's side: it buys the item, or sells it. */
  side: z.enum(['buy', 'sell']),
  item: ItemSchema,
  quantity: z.number(),
  unitPrice: z.number(),
  expiresAt: z.number()
})
export type TradeInfo = z.infer<typeof TradeInfoSchema>

export const MessageInfoSchema = z.object({
  id: z.string(),
  kind: z.enum(['private', 'broadcast']),
  fromName: z.string(),
  text: z.string(),
  time: z.number()
})
export type MessageInfo = z.infer<typeof MessageInfoSchema>

export interface MemberInfo {
  name: string
  occupation: string
  voted: boolean
}

export interface VillagerView {
  self: VillagerState
  time: { day: number, period: Period, voted: boolean }
  /** Members whose vote the town still waits for this period. */
  awaiting: string[]
  members: MemberInfo[]
  /** The merchant's published prices; null while the merchant cannot be reached. */
  prices: MerchantPrices | null
  /** Trades proposed to this villager and by it; open ones, oldest first. */
  trades: { received: TradeInfo[], initiated: TradeInfo[] }
  /** Messages that arrived since the agent's previous turn, oldest first. */
  messages: MessageInfo[]
}

// ---------------------------------------------------------------------------------------
// What a villager can do

const Quantity = z.number().int().min(1).max(LIMITS.maxOrderQuantity)
const TradeId = z.string().min(1).max(64)
const Name = z.string().min(1).max(100)
const Text = z.string().trim().min(1).max(MAX_MESSAGE_CHARS)

/**
 * One schema per tool argument object; `type` is added below. They double as the
 * JSON Schemas an LLM gets for its tools (openai-tools.ts), so what a model is told
 * and what is checked can never drift apart.
 */
export const ACTION_ARGUMENTS = {
  eat: z.object({ quantity: Quantity.default(1).describe('loaves of bread to eat') }),
  buy: z.object({ item: ItemSchema, quantity: Quantity }),
  sell: z.object({ item: ItemSchema, quantity: Quantity }),
  propose_trade: z.object({
    target: Name.describe('the villager to trade with, by name'),
    side: z.enum(['buy', 'sell']).describe('buy: you buy the item from them; sell: you sell it to them'),
    item: ItemSchema,
    quantity: z.number().int().min(1).max(TRADE_LIMITS.maxQuantity),
    price: z.number().int().min(1).max(TRADE_LIMITS.maxUnitPrice).describe('coins per unit'),
    expires_in: z.number().min(TRADE_LIMITS.minExpiryMs / 1000).max(TRADE_LIMITS.maxExpiryMs / 1000).optional().describe('seconds until the offer lapses')
  }),
  accept_trade: z.object({ trade_id: TradeId }),
  reject_trade: z.object({ trade_id: TradeId }),
  confirm_trade: z.object({ trade_id: TradeId }),
  cancel_trade: z.object({ trade_id: TradeId }),
  send_message: z.object({ target: Name, text: Text }),
  broadcast: z.object({ text: Text })
} as const

export type FreeActionType = keyof typeof ACTION_ARGUMENTS
export const FREE_ACTION_TYPES = Object.keys(ACTION_ARGUMENTS) as FreeActionType[]

const A = ACTION_ARGUMENTS

/** An action that does not use the period: eating, the merchant, trades, messages. */
export const FreeActionSchema = z.discriminatedUnion('type', [
  A.eat.extend({ type: z.literal('eat') }),
  A.buy.extend({ type: z.literal('buy') }),
  A.sell.extend({ type: z.literal('sell') }),
  A.propose_trade.extend({ type: z.literal('propose_trade') }),
  A.accept_trade.extend({ type: z.literal('accept_trade') }),
  A.reject_trade.extend({ type: z.literal('reject_trade') }),
  A.confirm_trade.extend({ type: z.literal('confirm_trade') }),
  A.cancel_trade.extend({ type: z.literal('cancel_trade') }),
  A.send_message.extend({ type: z.literal('send_message') }),
  A.broadcast.extend({ type: z.literal('broadcast') })
])
export type FreeAction = z.infer<typeof FreeActionSchema>

export const PeriodActionSchema = z.object({ type: z.enum(PERIOD_ACTIONS) })
export const AgentActionSchema = z.union([PeriodActionSchema, FreeActionSchema])
export type AgentAction = FreeAction | { type: PeriodAction }

export function isPeriodAction (action: AgentAction): action is { type: PeriodAction } {
  return (PERIOD_ACTIONS as readonly string[]).includes(action.type)
}

/** What an agent returns: free actions, run in order, then the period's action. */
export const AgentTurnSchema = z.object({
  /** Why, in a sentence or two: logged as one line. */
  reasoning: z.string().max(4000).default(''),
  actions: z.array(FreeActionSchema).max(32).default([]),
  /** null: no period action (already taken, or a turn about trades only). */
  period: z.enum(PERIOD_ACTIONS).nullable().default(null)
})
export type AgentTurn = z.infer<typeof AgentTurnSchema>

// ---------------------------------------------------------------------------------------
// Running a turn

export type TurnReason =
  /** The villager has not acted this period: the turn must end with a period action. */
  | 'period'
  /** The villager has acted; trades need an answer (accept/reject, confirm/cancel). */
  | 'trades'

export type ActionResult =
  | { ok: true, action: AgentAction, /** What the API answered, for an agent to observe. */ result: unknown, villager?: VillagerState }
  | { ok: false, action: AgentAction, status: number, code: string, message: string }

export interface AgentLog {
  info: (msg: string) => void
  warn: (msg: string) => void
  debug: (msg: string) => void
}

/**
 * What the driver lends an agent for one turn. A ReAct agent executes actions
 * as it goes and observes each result; a planning agent just returns its turn.
 */
export interface AgentSession {
  readonly reason: TurnReason
  /** `day 3 noon`: what the agent's own log lines start with. */
  readonly label: string
  /** Aborted at the turn's deadline or when the driver stops. */
  readonly signal: AbortSignal
  /** Epoch ms by which the turn must be over; after it the driver falls back. */
  readonly deadline: number
  readonly log: AgentLog
  /** Whether this period's action has been taken (by this turn or anyone else). */
  readonly voted: boolean
  /** Run one action through the control API now. Refusals are results, not throws. */
  execute: (action: AgentAction) => Promise<ActionResult>
  /** What the villager sees now. */
  observe: () => Promise<VillagerView>
}

export interface VillagerAgent {
  /** For logs: `heuristic`, `openai:gpt-4o-mini`, ... */
  readonly name: string
  decide: (view: VillagerView, session: AgentSession) => Promise<AgentTurn>
}

// ---------------------------------------------------------------------------------------
// Describing things in one line

export function describeAction (action: AgentAction): string {
  switch (action.type) {
    case 'produce': case 'sleep': case 'idle': return action.type
    case 'eat': return `eat ${action.quantity}`
    case 'buy': case 'sell': return `${action.type} ${action.item} ${action.quantity}`
    case 'propose_trade': return `propose_trade ${action.target} ${action.side} ${action.item} ${action.quantity} at ${action.price}`
    case 'accept_trade': case 'reject_trade': case 'confirm_trade': case 'cancel_trade': return `${action.type} ${action.trade_id}`
    case 'send_message': return `send_message ${action.target} ${JSON.stringify(oneLine(action.text, 80))}`
    case 'broadcast': return `broadcast ${JSON.stringify(oneLine(action.text, 80))}`
  }
}

export function describeState (v: VillagerState): string {
  const held = ITEMS.filter(i => v.items[i] > 0).map(i => `${i} ${v.items[i]}`).join(', ')
  return `stamina ${v.stamina}, coins ${v.coins}${held === '' ? '' : `, ${held}`}`
}

export function periodLabel (time: { day: number, period: Period }): string {
  return `day ${time.day} ${time.period}`
}

/** Free text on one log line, bounded. */
export function oneLine (text: string, max = 400): string {
  const flat = text.replace(/\s+/g, ' ').trim()
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat
}
