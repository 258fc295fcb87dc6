// Trades between two villagers as pure functions over plain data (DESIGN.md, "Trades").
//
// The life of a trade, seen from each side:
//   initiator:    proposed -> accepted -> confirming -> committed
//   counterparty: received -> accepted -> committed
// and at any open step: rejected, cancelled or expired.
//
// Who decides: the counterparty. It reserves what it gives when it accepts, and it
// alone turns a trade into committed (on the initiator's confirm, before expiry) or
// expired (no confirm by the expiry). The initiator reserves what it gives when it
// confirms and then waits for the counterparty's word, however long a partition
// lasts. So there is exactly one outcome, and both sides apply it: nothing is
// created, lost or spent twice.
//
// Reserved goods leave the villager's state for the trade's escrow, so no other
// rule (production, eating, the merchant, another trade) can spend them.

import { LIMITS } from './constants.js'
import { ITEMS, type Item, type VillagerState } from './rules.js'

export type TradeSide = 'buy' | 'sell'
export type TradeRole = 'initiator' | 'counterparty'
export type TradeStatus = 'proposed' | 'received' | 'accepted' | 'confirming' | 'committed' | 'rejected' | 'cancelled' | 'expired'

export const OPEN_STATUSES: readonly TradeStatus[] = ['proposed', 'received', 'accepted', 'confirming']
export const FINAL_STATUSES: readonly TradeStatus[] = ['committed', 'rejected', 'cancelled', 'expired']

export const TRADE_LIMITS = {
  maxQuantity: LIMITS.maxOrderQuantity,
  maxUnitPrice: 1_000_000,
  minExpiryMs: 1_000,
  maxExpiryMs: 24 * 60 * 60 * 1000,
  defaultExpiryMs: 5 * 60 * 1000
} as const

export interface Goods {
  coins: number
  items: Partial<Record<Item, number>>
}

export interface TradeTerms {
  id: string
  initiator: string
  initiatorName: string
  counterparty: string
  counterpartyName: string
  /** From the initiator's point of view: it buys the item, or sells it. */
  side: TradeSide
  item: Item
  quantity: number
  unitPrice: number
  /** Wall-clock ms after which the counterparty no longer commits. */
  expiresAt: number
}

export interface Trade extends TradeTerms {
  role: TradeRole
  status: TradeStatus
  /** What this side has reserved for the trade, while it is reserved. */
  escrow: Goods | null
  /** Whether the other side has acknowledged our latest step (else it is re-sent). */
  delivered: boolean
  createdAt: number
  updatedAt: number
  reason?: string
}

export type TradeErrorCode =
  | 'SELF_TRADE' | 'INVALID_QUANTITY' | 'INVALID_PRICE' | 'INVALID_ITEM' | 'INVALID_EXPIRY' | 'NOT_ENOUGH_COINS'
  | 'NOT_ENOUGH_ITEMS' | 'WRONG_STATE' | 'EXPIRED' | 'NOT_YOURS' | 'TOO_LARGE'

export type TradeResult<T> = { ok: true, value: T } | { ok: false, code: TradeErrorCode, message: string }

function fail<T> (code: TradeErrorCode, message: string): TradeResult<T> {
  return { ok: false, code, message }
}

export function totalPrice (t: Pick<TradeTerms, 'quantity' | 'unitPrice'>): number {
  return t.quantity * t.unitPrice
}

/** Check terms a person or a peer proposed: every number whole, positive and bounded. */
export function validateTerms (t: TradeTerms, now: number): TradeResult<TradeTerms> {
  if (t.initiator === t.counterparty) return fail('SELF_TRADE', 'a villager cannot trade with itself')
  if (!(ITEMS as readonly string[]).includes(t.item)) return fail('INVALID_ITEM', `item must be one of ${ITEMS.join(', ')}, got "${t.item}"`)
  if (!Number.isSafeInteger(t.quantity) || t.quantity < 1 || t.quantity > TRADE_LIMITS.maxQuantity) {
    return fail('INVALID_QUANTITY', `quantity must be a whole number from 1 to ${TRADE_LIMITS.maxQuantity}, got ${t.quantity}`)
  }
  if (!Number.isSafeInteger(t.unitPrice) || t.unitPrice < 1 || t.unitPrice > TRADE_LIMITS.maxUnitPrice) {
    return fail('INVALID_PRICE', `unit price must be a whole number of coins from 1 to ${TRADE_LIMITS.maxUnitPrice}, got ${t.unitPrice}`)
  }
  const ttl = t.expiresAt - now
  if (!Number.isSafeInteger(t.expiresAt) || ttl < TRADE_LIMITS.minExpiryMs || ttl > TRADE_LIMITS.maxExpiryMs) {
    return fail('INVALID_EXPIRY', `a trade must expire between ${TRADE_LIMITS.minExpiryMs / 1000} s and ${TRADE_LIMITS.maxExpiryMs / 3_600_000} h from now`)
  }
  return { ok: true, value: t }
}

/** What `role` hands over in this trade. */
export function gives (t: TradeTerms, role: TradeRole): Goods {
  const coins: Goods = { coins: totalPrice(t), items: {} }
  const items: Goods = { coins: 0, items: { [t.item]: t.quantity } }
  const initiatorGivesCoins = t.side === 'buy'
  return (role === 'initiator') === initiatorGivesCoins ? coins : items
}

export function receives (t: TradeTerms, role: TradeRole): Goods {
  return gives(t, role === 'initiator' ? 'counterparty' : 'initiator')
}

/** Whether `state` holds at least `goods` (a check without taking anything). */
export function canGive (state: VillagerState, goods: Goods): TradeResult<true> {
  if (state.coins < goods.coins) return fail('NOT_ENOUGH_COINS', `needs ${goods.coins} coins, has ${state.coins}`)
  for (const [item, n] of Object.entries(goods.items) as Array<[Item, number]>) {
    if (state.items[item] < n) return fail('NOT_ENOUGH_ITEMS', `needs ${n} ${item}, has ${state.items[item]}`)
  }
  return { ok: true, value: true }
}

/** Move `goods` from the villager into escrow. */
export function reserve (state: VillagerState, goods: Goods): TradeResult<VillagerState> {
  const check = canGive(state, goods)
  if (!check.ok) return check
  const items = { ...state.items }
  for (const [item, n] of Object.entries(goods.items) as Array<[Item, number]>) items[item] -= n
  return { ok: true, value: { ...state, coins: state.coins - goods.coins, items } }
}

/** Add goods to a villager: escrow coming back on release, or what the other side gave on commit. */
export function credit (state: VillagerState, goods: Goods): TradeResult<VillagerState> {
  const items = { ...state.items }
  for (const [item, n] of Object.entries(goods.items) as Array<[Item, number]>) {
    if (items[item] + n > LIMITS.maxItemCount) return fail('TOO_LARGE', `would hold more than ${LIMITS.maxItemCount} ${item}`)
    items[item] += n
  }
  if (state.coins + goods.coins > LIMITS.maxCoins) return fail('TOO_LARGE', `would hold more than ${LIMITS.maxCoins} coins`)
  return { ok: true, value: { ...state, coins: state.coins + goods.coins, items } }
}

export interface Step {
  trade: Trade
  villager: VillagerState
}

function moved (trade: Trade, status: TradeStatus, now: number, extra: Partial<Trade> = {}): Trade {
  return { ...trade, status, updatedAt: now, delivered: false, ...extra }
}

/** Counterparty accepts: reserve what it gives. */
export function accept (villager: VillagerState, trade: Trade, now: number): TradeResult<Step> {
  if (trade.role !== 'counterparty') return fail('NOT_YOURS', `trade ${trade.id} was proposed by you: the other side accepts it`)
  if (trade.status !== 'received') return fail('WRONG_STATE', `trade ${trade.id} is ${trade.status}, only a received trade can be accepted`)
  if (now >= trade.expiresAt) return fail('EXPIRED', `trade ${trade.id} has expired`)
  const escrow = gives(trade, 'counterparty')
  const r = reserve(villager, escrow)
  if (!r.ok) return fail(r.code, `cannot accept trade ${trade.id}: ${r.message}`)
  return { ok: true, value: { villager: r.value, trade: moved(trade, 'accepted', now, { escrow }) } }
}

/** Counterparty declines a trade it has not accepted. */
export function reject (villager: VillagerState, trade: Trade, now: number, reason = 'rejected'): TradeResult<Step> {
  if (trade.role !== 'counterparty') return fail('NOT_YOURS', `trade ${trade.id} was proposed by you: cancel it instead`)
  if (trade.status !== 'received') return fail('WRONG_STATE', `trade ${trade.id} is ${trade.status}, only a received trade can be rejected`)
  return { ok: true, value: { villager, trade: moved(trade, 'rejected', now, { reason }) } }
}

/** Initiator confirms an accepted trade: reserve what it gives, then ask the counterparty to commit. */
export function confirm (villager: VillagerState, trade: Trade, now: number): TradeResult<Step> {
  if (trade.role !== 'initiator') return fail('NOT_YOURS', `trade ${trade.id} was proposed to you: accept it instead`)
  if (trade.status !== 'accepted') return fail('WRONG_STATE', `trade ${trade.id} is ${trade.status}; only an accepted trade can be confirmed`)
  if (now >= trade.expiresAt) return fail('EXPIRED', `trade ${trade.id} has expired`)
  const escrow = gives(trade, 'initiator')
  const r = reserve(villager, escrow)
  if (!r.ok) return fail(r.code, `cannot confirm trade ${trade.id}: ${r.message}`)
  return { ok: true, value: { villager: r.value, trade: moved(trade, 'confirming', now, { escrow }) } }
}

/** Initiator withdraws before confirming. */
export function cancel (villager: VillagerState, trade: Trade, now: number): TradeResult<Step> {
  if (trade.role !== 'initiator') return fail('NOT_YOURS', `trade ${trade.id} was proposed to you: reject it instead`)
  if (trade.status !== 'proposed' && trade.status !== 'accepted') {
    return fail('WRONG_STATE', trade.status === 'confirming'
      ? `trade ${trade.id} is confirmed and waits for ${trade.counterpartyName}'s answer: it can no longer be cancelled`
      : `trade ${trade.id} is already ${trade.status}`)
  }
  return { ok: true, value: { villager, trade: moved(trade, 'cancelled', now) } }
}

/**
 * Counterparty's decision on a confirm: commit if it accepted and the trade has not
 * expired; the decision is final and the same answer is given to every retry.
 */
export function decide (villager: VillagerState, trade: Trade, now: number): TradeResult<Step> {
  if (trade.role !== 'counterparty') return fail('NOT_YOURS', 'only the counterparty decides')
  if (FINAL_STATUSES.includes(trade.status)) return { ok: true, value: { villager, trade } }
  if (trade.status !== 'accepted') return fail('WRONG_STATE', `trade ${trade.id} is ${trade.status}: accept it before it can be confirmed`)
  if (now >= trade.expiresAt) return expire(villager, trade, now)
  return finish(villager, trade, 'committed', now)
}

/** Apply an outcome the other side reports (or we decide): commit or release. */
export function finish (villager: VillagerState, trade: Trade, status: 'committed' | 'rejected' | 'cancelled' | 'expired', now: number, reason?: string): TradeResult<Step> {
  if (FINAL_STATUSES.includes(trade.status)) {
    if (trade.status === status) return { ok: true, value: { villager, trade } }
    return fail('WRONG_STATE', `trade ${trade.id} is already ${trade.status}, not ${status}`)
  }
  if (status === 'committed') {
    // the initiator commits only from confirming: with its own share reserved
    if (trade.role === 'initiator' && trade.status !== 'confirming') return fail('WRONG_STATE', `trade ${trade.id} is ${trade.status}: not confirmed here`)
    if (trade.role === 'counterparty' && trade.status !== 'accepted') return fail('WRONG_STATE', `trade ${trade.id} is ${trade.status}: not accepted here`)
    const r = credit(villager, receives(trade, trade.role))
    if (!r.ok) return fail(r.code, r.message)
    return { ok: true, value: { villager: r.value, trade: moved(trade, 'committed', now, { escrow: null, reason }) } }
  }
  // in doubt: only the counterparty's word settles a confirmed trade, never our own change of mind
  if (trade.role === 'initiator' && trade.status === 'confirming' && status === 'cancelled') {
    return fail('WRONG_STATE', `trade ${trade.id} is confirmed: waiting for ${trade.counterpartyName}'s decision`)
  }
  let next = villager
  if (trade.escrow != null) {
    const r = credit(villager, trade.escrow)
    if (!r.ok) return fail(r.code, r.message)
    next = r.value
  }
  return { ok: true, value: { villager: next, trade: moved(trade, status, now, { escrow: null, reason }) } }
}

/**
 * Expiry, by this side's own clock. The counterparty may always expire an open
 * trade once its time is up (it will never commit it after that); the initiator
 * only while it has not confirmed, since a confirmed trade may have been committed.
 */
export function expire (villager: VillagerState, trade: Trade, now: number): TradeResult<Step> {
  if (now < trade.expiresAt) return fail('WRONG_STATE', `trade ${trade.id} has not expired yet`)
  if (trade.role === 'initiator' && trade.status === 'confirming') return fail('WRONG_STATE', `trade ${trade.id} is confirmed: waiting for ${trade.counterpartyName}'s decision`)
  return finish(villager, trade, 'expired', now)
}

export function isOpen (t: Trade): boolean {
  return OPEN_STATUSES.includes(t.status)
}
