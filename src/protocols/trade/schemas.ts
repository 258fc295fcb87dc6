import { z } from 'zod'
import { ITEMS } from '../../town/rules.js'
import { FINAL_STATUSES, OPEN_STATUSES, TRADE_LIMITS, type TradeStatus } from '../../town/trades.js'

export const TradeIdSchema = z.string().regex(/^[A-Za-z0-9_-]{6,32}$/, 'trade id: 6-32 letters, digits, _ or -')
const Name = z.string().min(1).max(32)

export const ProposeSchema = z.strictObject({
  op: z.literal('propose'),
  id: TradeIdSchema,
  side: z.enum(['buy', 'sell']),
  item: z.enum(ITEMS),
  // bounds are checked by the rules so that a refusal says which limit, not "invalid request"
  quantity: z.number(),
  unitPrice: z.number(),
  expiresAt: z.number(),
  initiatorName: Name,
  counterpartyName: Name
})
export const StepSchema = z.strictObject({ op: z.enum(['accept', 'reject', 'confirm', 'cancel', 'status']), id: TradeIdSchema })
export const TradeRequestSchema = z.discriminatedUnion('op', [ProposeSchema, StepSchema])
export type TradeRequest = z.infer<typeof TradeRequestSchema>

export const TradeReplySchema = z.strictObject({
  id: TradeIdSchema,
  status: z.enum([...OPEN_STATUSES, ...FINAL_STATUSES] as [TradeStatus, ...TradeStatus[]])
})
export type TradeReply = z.infer<typeof TradeReplySchema>

export { TRADE_LIMITS }
