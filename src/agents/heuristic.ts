/**
 * The heuristic villager: a deterministic policy from a seed, no network of its
 * own, no model. It is the default agent and every other agent's fallback, so it
 * must always find a valid turn and keep its villager alive.
 *
 * heuristicTurn is a pure function of (view, rng): it plans by running the town's
 * own rules (rules.ts, trades.ts) on a copy of the villager, so it only plans
 * actions the rules allow, in an order where each one is possible after the ones
 * before. The driver executes the plan; the API may still refuse (the merchant
 * went away), and then the driver falls back.
 *
 * The policy, in order:
 *   trades    accept an offer that is no worse than the merchant's price and that it
 *             can afford or spare; confirm its own accepted offers it can still pay
 *   surplus   sell to the merchant what it does not need (a small stock of its
 *             product is kept for neighbours' offers, its own inputs and food never)
 *   evening   sleep: in its house, or in a temp_room bought for the night
 *   by day    buy the inputs of one production, eat bread (bought if need be) when the
 *             production would leave too little stamina, and produce; if it cannot,
 *             rest when tired, else idle
 *   offers    now and then offer a neighbour a fair trade for what it lacks
 *             (a chef buys wheat from a farmer, a hungry villager bread from a chef)
 */
import { LIMITS, MERCHANT_PRICES, STAMINA } from '../town/constants.js'
import {
  buyFromMerchant, eat, ITEMS, produce, productionStaminaCost, recipeFor, sellToMerchant, sleep,
  type Item, type MerchantPrices, type Occupation, type Period, type VillagerState
} from '../town/rules.js'
import { canGive, OPEN_STATUSES, reserve, type Goods } from '../town/trades.js'
import { pick, seededRng, type Rng } from '../rooms/rng.js'
import type { AgentTurn, FreeAction, TradeInfo, VillagerAgent, VillagerView } from './villager-agent.js'

export interface HeuristicOptions {
  /** Stamina kept above a production's cost, so a day's hunger never meets an empty villager. */
  staminaMargin?: number
  /** Chance per period of offering a neighbour a trade when one would help. */
  proposeChance?: number
  /** Lifetime of its offers, in seconds. */
  offerExpiresInSec?: number
}

const DEFAULTS: Required<HeuristicOptions> = {
  staminaMargin: 20,
  proposeChance: 0.5,
  offerExpiresInSec: 60
}

/** Of its own product, what a villager keeps back from the merchant to answer neighbours' offers. */
const STOCK_FOR_NEIGHBOURS: Record<Occupation, number> = {
  // two bakes for a chef
  farmer: 6,
  chef: 2,
  // its own bed: see stockToKeep
  carpenter: 1
}

/** Below this a villager eats whatever it does, producing or not. */
const STARVING = 20

/** The heuristic's turn for this view: pure, the same view and rng give the same turn. */
export function heuristicTurn (view: VillagerView, rng: Rng, options: HeuristicOptions = {}): AgentTurn {
  const o = { ...DEFAULTS, ...options }
  const plan = new Plan(view)
  answerTrades(plan, view)
  if (view.time.voted) return plan.turn(null)
  sellSurplus(plan)
  const period = view.time.period === 'evening' ? planEvening(plan) : planDaytime(plan, view.time.period, o)
  offerTrade(plan, view, rng, o)
  return plan.turn(period)
}

/**
 * One random stream per (seed, villager, period), so a decision never depends on
 * how many numbers earlier decisions drew, and a restarted agent decides the same.
 */
export function heuristicRng (seed: string | number, view: VillagerView): Rng {
  return seededRng('villager-heuristic', seed, view.self.name, view.time.day, view.time.period, view.time.voted ? 'trades' : 'period')
}

export function createHeuristicAgent (init: { seed?: string | number, options?: HeuristicOptions } = {}): VillagerAgent {
  const seed = init.seed ?? 0
  return {
    name: 'heuristic',
    decide: async (view) => heuristicTurn(view, heuristicRng(seed, view), init.options)
  }
}

// ---------------------------------------------------------------------------------------

/** The turn being planned, and the villager as it will be after each planned action. */
class Plan {
  villager: VillagerState
  readonly prices: MerchantPrices | null
  readonly actions: FreeAction[] = []
  private readonly notes: string[] = []

  constructor (readonly view: VillagerView) {
    this.villager = { ...view.self, items: { ...view.self.items } }
    this.prices = view.prices
  }

  note (text: string): void {
    this.notes.push(text)
  }

  /** Buy from the merchant if the rules allow it and `keep` coins are left afterwards. */
  buy (item: Item, quantity: number, keep: number, why: string): boolean {
    if (this.prices == null) return false
    const r = buyFromMerchant(this.villager, item, quantity, this.prices)
    if (!r.ok || r.state.coins < keep) return false
    this.villager = r.state
    this.actions.push({ type: 'buy', item, quantity })
    this.note(`buy ${quantity} ${item} ${why}`)
    return true
  }

  sell (item: Item, quantity: number, why: string): boolean {
    if (this.prices == null) return false
    const r = sellToMerchant(this.villager, item, quantity, this.prices)
    if (!r.ok) return false
    this.villager = r.state
    this.actions.push({ type: 'sell', item, quantity })
    this.note(`sell ${quantity} ${item} ${why}`)
    return true
  }

  eat (loaves: number, why: string): boolean {
    const r = eat(this.villager, loaves)
    if (!r.ok) return false
    this.villager = r.state
    this.actions.push({ type: 'eat', quantity: loaves })
    this.note(`eat ${loaves} ${why}`)
    return true
  }

  turn (period: AgentTurn['period']): AgentTurn {
    const reasoning = this.notes.length === 0 ? 'nothing to do' : this.notes.join('; ')
    return { reasoning, actions: this.actions, period }
  }
}

function referencePrices (plan: Plan): MerchantPrices {
  return plan.prices ?? MERCHANT_PRICES
}

/** The band the merchant sets: a neighbour's price is fair when it is no worse than the merchant's. */
export function fairBand (prices: MerchantPrices, item: Item): { low: number, high: number } {
  const low = prices.buys[item] ?? 1
  const high = prices.sells[item] ?? prices.buys[item] ?? low
  return { low, high: Math.max(low, high) }
}

function hasBed (v: VillagerState): boolean {
  return v.items.house > 0 || v.items.temp_room > 0
}

/** Coins not to spend by day: tonight's temp_room when it has no bed. */
function bedReserve (v: VillagerState, prices: MerchantPrices | null): number {
  return hasBed(v) ? 0 : (prices?.sells.temp_room ?? 0)
}

/** How many of `item` a villager does not sell to the merchant. */
function stockToKeep (v: VillagerState, item: Item): number {
  const recipe = recipeFor(v.occupation)
  if (item === recipe.input.item) return Infinity
  // a house is a bed for ever: one is worth more kept than sold
  if (item === 'house') return 1
  if (item === 'bread' && v.occupation !== 'chef') return Infinity
  if (item === recipe.output.item) return STOCK_FOR_NEIGHBOURS[v.occupation]
  return 0
}

/** How many of `item` a villager can hand to a neighbour. */
function spareForNeighbour (v: VillagerState, item: Item): number {
  const recipe = recipeFor(v.occupation)
  if (item === recipe.input.item) return 0
  if (item === 'bread' && v.occupation !== 'chef') return 0
  if (item === 'house') return Math.max(0, v.items.house - 1)
  return v.items[item]
}

/** Whether a villager has a use for `quantity` more of `item`. */
function wants (v: VillagerState, item: Item, quantity: number): boolean {
  const recipe = recipeFor(v.occupation)
  if (item === recipe.input.item) return v.items[item] + quantity <= 4 * recipe.input.quantity
  if (item === 'bread') return v.occupation !== 'chef' && v.items.bread + quantity <= 3
  if (item === 'house') return v.items.house === 0 && quantity === 1
  if (item === 'temp_room') return v.items.house === 0 && v.items.temp_room + quantity <= 3
  return false
}

function isOpen (t: TradeInfo): boolean {
  return OPEN_STATUSES.includes(t.status)
}

function goodsGiven (t: TradeInfo, role: 'initiator' | 'counterparty'): Goods {
  const initiatorPays = t.side === 'buy'
  return (role === 'initiator') === initiatorPays
    ? { coins: t.quantity * t.unitPrice, items: {} }
    : { coins: 0, items: { [t.item]: t.quantity } }
}

// ---------------------------------------------------------------------------------------
// trades

function answerTrades (plan: Plan, view: VillagerView): void {
  const prices = referencePrices(plan)
  for (const t of view.trades.received) {
    if (t.status !== 'received') continue
    const verdict = judgeOffer(plan, t, prices)
    if (verdict.accept) {
      // what it gives leaves it now (escrow), so later plans cannot spend it twice
      const r = reserve(plan.villager, goodsGiven(t, 'counterparty'))
      if (r.ok) {
        plan.villager = r.value
        plan.actions.push({ type: 'accept_trade', trade_id: t.id })
        plan.note(`accept ${t.initiatorName}'s trade ${t.id}: ${verdict.why}`)
        continue
      }
    }
    plan.actions.push({ type: 'reject_trade', trade_id: t.id })
    plan.note(`reject ${t.initiatorName}'s trade ${t.id}: ${verdict.why}`)
  }
  for (const t of view.trades.initiated) {
    if (t.status !== 'accepted') continue
    const give = goodsGiven(t, 'initiator')
    const affordable = canGive(plan.villager, give).ok && plan.villager.coins - give.coins >= (give.coins > 0 ? bedReserve(plan.villager, plan.prices) : 0)
    const r = affordable ? reserve(plan.villager, give) : undefined
    if (r?.ok === true) {
      plan.villager = r.value
      plan.actions.push({ type: 'confirm_trade', trade_id: t.id })
      plan.note(`confirm trade ${t.id} with ${t.counterpartyName}`)
    } else {
      plan.actions.push({ type: 'cancel_trade', trade_id: t.id })
      plan.note(`cancel trade ${t.id} with ${t.counterpartyName}: can no longer pay for it`)
    }
  }
}

function judgeOffer (plan: Plan, t: TradeInfo, prices: MerchantPrices): { accept: boolean, why: string } {
  const v = plan.villager
  const { low, high } = fairBand(prices, t.item)
  const what = `${t.quantity} ${t.item} at ${t.unitPrice}`
  if (t.side === 'buy') {
    // they buy, it sells
    if (t.unitPrice < low) return { accept: false, why: `selling ${what} is below the merchant's ${low}` }
    const spare = spareForNeighbour(v, t.item)
    if (spare < t.quantity) return { accept: false, why: `cannot spare ${t.quantity} ${t.item} (spare ${spare})` }
    return { accept: true, why: `selling ${what} is fair` }
  }
  // they sell, it buys
  if (t.unitPrice > high) return { accept: false, why: `buying ${what} is dearer than the merchant's ${high}` }
  if (!wants(v, t.item, t.quantity)) return { accept: false, why: `no use for ${t.quantity} more ${t.item}` }
  const total = t.quantity * t.unitPrice
  const keep = t.item === 'house' || t.item === 'temp_room' ? 0 : bedReserve(v, plan.prices)
  if (v.coins - total < keep) return { accept: false, why: `cannot afford ${total} coins` }
  return { accept: true, why: `buying ${what} is fair` }
}

function offerTrade (plan: Plan, view: VillagerView, rng: Rng, o: Required<HeuristicOptions>): void {
  if (view.trades.initiated.some(isOpen)) return
  const v = plan.villager
  const need = v.occupation === 'chef'
    ? (v.items.wheat < 2 * recipeFor('chef').input.quantity ? { from: 'farmer', item: 'wheat' as const, quantity: recipeFor('chef').input.quantity } : undefined)
    : (v.items.bread === 0 && v.stamina < 60 ? { from: 'chef', item: 'bread' as const, quantity: 1 } : undefined)
  if (need === undefined) return
  const sellers = view.members.filter(m => m.occupation === need.from && m.name !== v.name).map(m => m.name).sort()
  if (sellers.length === 0) return
  // drawn in a fixed order whatever happens, so the stream stays aligned
  const roll = rng()
  const target = pick(rng, sellers)!
  if (roll >= o.proposeChance) return
  const { low, high } = fairBand(referencePrices(plan), need.item)
  const price = Math.round((low + high) / 2)
  if (v.coins - price * need.quantity < bedReserve(v, plan.prices)) return
  plan.actions.push({ type: 'propose_trade', target, side: 'buy', item: need.item, quantity: need.quantity, price, expires_in: o.offerExpiresInSec })
  plan.note(`offer ${target} ${price} each for ${need.quantity} ${need.item}, between the merchant's ${low} and ${high}`)
}

// ---------------------------------------------------------------------------------------
// the merchant and the period's action

function sellSurplus (plan: Plan): void {
  if (plan.prices == null) return
  // without coins for tonight's bed, even the stock kept for neighbours goes
  const broke = plan.villager.coins < bedReserve(plan.villager, plan.prices)
  for (const item of ITEMS) {
    if (plan.prices.buys[item] === undefined) continue
    const keep = stockToKeep(plan.villager, item)
    // (broke means no house, so this never sells the bed itself)
    const surplus = plan.villager.items[item] - (broke && Number.isFinite(keep) ? 0 : keep)
    if (surplus > 0) plan.sell(item, Math.min(surplus, LIMITS.maxOrderQuantity), broke ? 'to pay for a bed' : 'as surplus')
  }
}

function planEvening (plan: Plan): 'sleep' | 'idle' {
  const v = plan.villager
  if (v.items.house === 0 && v.stamina >= STAMINA.max) {
    plan.note('full of energy: no bed needed tonight')
    return 'idle'
  }
  if (!hasBed(v)) plan.buy('temp_room', 1, 0, 'for the night')
  const slept = sleep(plan.villager)
  if (slept.ok) {
    plan.note(`sleep (stamina ${plan.villager.stamina} -> ${slept.state.stamina})`)
    return 'sleep'
  }
  plan.note('no bed and no coins for one: idle')
  return 'idle'
}

/** Eat (buying the bread it lacks) until stamina reaches `target`, never wasting a loaf on a full stomach. */
function eatUpTo (plan: Plan, target: number): void {
  const v = plan.villager
  const roomFor = Math.floor((STAMINA.max - v.stamina) / STAMINA.breadRestore)
  const wanted = Math.min(roomFor, Math.ceil(Math.max(0, target - v.stamina) / STAMINA.breadRestore))
  if (wanted === 0) return
  // one order for what is missing, or as much of it as it can pay for
  for (let missing = wanted - v.items.bread; missing > 0; missing--) {
    if (plan.buy('bread', missing, bedReserve(plan.villager, plan.prices), 'to eat')) break
  }
  const loaves = Math.min(wanted, plan.villager.items.bread)
  if (loaves > 0) plan.eat(loaves, `(stamina ${plan.villager.stamina} is low)`)
}

function planDaytime (plan: Plan, period: Period, o: Required<HeuristicOptions>): 'produce' | 'sleep' | 'idle' {
  const { input } = recipeFor(plan.villager.occupation)
  const cost = productionStaminaCost(plan.villager.occupation, period)
  const deficit = input.quantity - plan.villager.items[input.item]
  if (deficit > 0 && !plan.buy(input.item, deficit, bedReserve(plan.villager, plan.prices), 'to produce')) {
    plan.note(`cannot get ${deficit} ${input.item} to produce`)
  }
  const hasInputs = plan.villager.items[input.item] >= input.quantity
  // eat for work only when there is work to do; eat to live whenever starving
  const target = hasInputs ? Math.max(cost + o.staminaMargin, STARVING) : STARVING
  eatUpTo(plan, target)
  const produced = produce(plan.villager, period)
  if (produced.ok) {
    plan.note(`produce ${produced.effect.produced.quantity} ${produced.effect.produced.item}`)
    plan.villager = produced.state
    return 'produce'
  }
  plan.note(`cannot produce: ${produced.message}`)
  // tired and idle anyway: a night's rest by day beats doing nothing, if a bed is at hand
  if (plan.villager.stamina < cost && plan.villager.stamina <= STAMINA.max - STAMINA.sleepRestore) {
    if (!hasBed(plan.villager)) plan.buy('temp_room', 1, 0, 'to rest')
    const slept = sleep(plan.villager)
    if (slept.ok) {
      plan.note('rest instead')
      return 'sleep'
    }
  }
  return 'idle'
}
