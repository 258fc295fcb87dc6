import { expect } from 'chai'
import fc from 'fast-check'
import { createHeuristicAgent, fairBand, heuristicRng, heuristicTurn } from '../src/agents/heuristic.js'
import { AgentTurnSchema, type AgentTurn, type TradeInfo, type VillagerView } from '../src/agents/villager-agent.js'
import { MERCHANT_PRICES } from '../src/town/constants.js'
import {
  applyPeriodAction, buyFromMerchant, createVillager, eat, endOfDay, ITEMS, OCCUPATIONS, PERIODS, sellToMerchant,
  type Occupation, type Period, type VillagerState
} from '../src/town/rules.js'
import { seededRng } from '../src/rooms/rng.js'

function villager (occupation: Occupation, change: Partial<Omit<VillagerState, 'items'>> & { items?: Partial<VillagerState['items']> } = {}): VillagerState {
  const r = createVillager({ name: 'ann', occupation, gender: 'f', personality: '' })
  if (!r.ok) throw new Error(r.message)
  return { ...r.state, ...change, items: { ...r.state.items, ...change.items } }
}

function view (self: VillagerState, period: Period = 'morning', more: Partial<VillagerView> = {}): VillagerView {
  return {
    self,
    time: { day: 1, period, voted: false },
    awaiting: [self.name],
    members: [
      { name: self.name, occupation: self.occupation, voted: false },
      { name: 'fred', occupation: 'farmer', voted: false },
      { name: 'cleo', occupation: 'chef', voted: false }
    ],
    prices: MERCHANT_PRICES,
    trades: { received: [], initiated: [] },
    messages: [],
    ...more
  }
}

function offer (change: Partial<TradeInfo>): TradeInfo {
  return {
    id: 'trade-0001', role: 'counterparty', status: 'received', initiatorName: 'fred', counterpartyName: 'ann',
    side: 'buy', item: 'wheat', quantity: 3, unitPrice: 5, expiresAt: Date.now() + 60_000, ...change
  }
}

const turn = (v: VillagerView, seed = 1): AgentTurn => heuristicTurn(v, heuristicRng(seed, v))

/**
 * Replays a turn with the town's rules, as the villager's service would: each
 * action must be allowed after the ones before it. Returns the villager after it.
 */
function replay (start: VillagerState, t: AgentTurn, period: Period, prices = MERCHANT_PRICES): VillagerState {
  let s = start
  for (const a of t.actions) {
    const r = a.type === 'buy' ? buyFromMerchant(s, a.item, a.quantity, prices)
      : a.type === 'sell' ? sellToMerchant(s, a.item, a.quantity, prices)
        : a.type === 'eat' ? eat(s, a.quantity)
          : undefined
    if (r === undefined) continue // trades and messages: not the merchant's or the stomach's business
    if (!r.ok) throw new Error(`planned ${JSON.stringify(a)} is refused: ${r.message}`)
    s = r.state
  }
  if (t.period != null) {
    const r = applyPeriodAction(s, t.period, period)
    if (!r.ok) throw new Error(`planned ${t.period} is refused: ${r.message}`)
    s = r.state
  }
  return s
}

describe('heuristic villager policy (pure)', () => {
  it('a new farmer buys a seed and produces; the same view and seed give the same turn', () => {
    const v = view(villager('farmer'))
    const t = turn(v)
    expect(t.actions).to.deep.include({ type: 'buy', item: 'seed', quantity: 1 })
    expect(t.period).to.equal('produce')
    expect(t.reasoning).to.match(/produce 5 wheat/)
    expect(turn(v)).to.deep.equal(t)
    expect(AgentTurnSchema.parse(t)).to.deep.equal(t)
    expect(replay(v.self, t, 'morning').items.wheat).to.equal(5)
  })

  it('eats bread when a production would leave too little stamina, buying it when it has none', () => {
    const tired = view(villager('carpenter', { stamina: 25, items: { wood: 10 } }), 'noon')
    const t = turn(tired)
    expect(t.actions.map(a => a.type).filter(a => a !== 'propose_trade')).to.deep.equal(['buy', 'eat'])
    expect(t.actions.slice(0, 2)).to.deep.equal([{ type: 'buy', item: 'bread', quantity: 2 }, { type: 'eat', quantity: 2 }])
    expect(t.period).to.equal('produce')
    expect(replay(tired.self, t, 'noon').stamina).to.be.greaterThan(0)
    // with bread at hand it eats two loaves in one meal and buys none
    const fed = view(villager('carpenter', { stamina: 15, items: { wood: 10, bread: 3 } }), 'noon')
    expect(turn(fed).actions.filter(a => a.type !== 'propose_trade')).to.deep.equal([{ type: 'eat', quantity: 2 }])
  })

  it('sleeps in the evening, buying a temp_room without a house; a carpenter sells its second house and sleeps in the first', () => {
    const houseless = turn(view(villager('chef', { stamina: 50 }), 'evening'))
    expect(houseless.actions).to.deep.include({ type: 'buy', item: 'temp_room', quantity: 1 })
    expect(houseless.period).to.equal('sleep')
    const carpenter = view(villager('carpenter', { stamina: 40, coins: 0, items: { house: 2 } }), 'evening')
    const t = turn(carpenter)
    expect(t.actions).to.deep.include({ type: 'sell', item: 'house', quantity: 1 })
    expect(t.actions.some(a => a.type === 'buy')).to.equal(false)
    expect(t.period).to.equal('sleep')
    // full of energy and no house: the coins are worth more than the bed
    expect(turn(view(villager('farmer'), 'evening')).period).to.equal('idle')
  })

  it('sells surplus but keeps its inputs, its food and a stock for neighbours', () => {
    const farmer = view(villager('farmer', { items: { wheat: 10, seed: 4, bread: 2 } }), 'noon')
    const t = turn(farmer)
    expect(t.actions).to.deep.include({ type: 'sell', item: 'wheat', quantity: 4 })
    expect(t.actions.some(a => a.type === 'sell' && a.item !== 'wheat')).to.equal(false)
  })

  it('without the merchant it plans no orders, and still votes', () => {
    const noMerchant = view(villager('farmer'), 'morning', { prices: null })
    const t = turn(noMerchant)
    expect(t.actions.filter(a => a.type === 'buy' || a.type === 'sell')).to.deep.equal([])
    expect(t.period).to.equal('idle')
    const withSeed = view(villager('farmer', { items: { seed: 1 } }), 'morning', { prices: null })
    expect(turn(withSeed).period).to.equal('produce')
  })

  it('accepts fair offers it can serve and rejects the others', () => {
    const farmer = villager('farmer', { items: { wheat: 6 } })
    const { low, high } = fairBand(MERCHANT_PRICES, 'wheat')
    const fair = offer({ id: 'fair-00001', initiatorName: 'cleo', side: 'buy', unitPrice: low + 1, quantity: 3 })
    const cheap = offer({ id: 'cheap-0001', initiatorName: 'cleo', side: 'buy', unitPrice: low - 1, quantity: 1 })
    const tooMany = offer({ id: 'many-00001', initiatorName: 'cleo', side: 'buy', unitPrice: high, quantity: 4 })
    const t = turn(view(farmer, 'noon', { trades: { received: [fair, cheap, tooMany], initiated: [] } }))
    expect(t.actions.filter(a => a.type.endsWith('_trade'))).to.deep.equal([
      { type: 'accept_trade', trade_id: 'fair-00001' },
      { type: 'reject_trade', trade_id: 'cheap-0001' },
      // 3 of its 6 are promised to the first offer already
      { type: 'reject_trade', trade_id: 'many-00001' }
    ])
    expect(t.reasoning).to.match(/below the merchant's 4/)
    // it buys bread at a fair price only if it can pay, and still afford tonight's temp_room
    const hungry = villager('farmer', { coins: 16 + MERCHANT_PRICES.sells.temp_room })
    const bread = offer({ id: 'bread-0001', initiatorName: 'cleo', side: 'sell', item: 'bread', quantity: 1, unitPrice: 16 })
    expect(turn(view(hungry, 'noon', { trades: { received: [bread], initiated: [] } })).actions[0]).to.deep.equal({ type: 'accept_trade', trade_id: 'bread-0001' })
    const broke = villager('farmer', { coins: 15 + MERCHANT_PRICES.sells.temp_room })
    expect(turn(view(broke, 'noon', { trades: { received: [bread], initiated: [] } })).actions[0]).to.deep.equal({ type: 'reject_trade', trade_id: 'bread-0001' })
  })

  it('after acting it only answers trades: confirms what it can pay, cancels what it cannot', () => {
    const mine = offer({ id: 'mine-00001', role: 'initiator', status: 'accepted', initiatorName: 'ann', counterpartyName: 'fred', side: 'buy', quantity: 3, unitPrice: 5 })
    const chef = view(villager('chef', { coins: 40 }), 'noon', { trades: { received: [], initiated: [mine] } })
    chef.time.voted = true
    expect(turn(chef)).to.deep.include({ actions: [{ type: 'confirm_trade', trade_id: 'mine-00001' }], period: null })
    const poor = { ...chef, self: villager('chef', { coins: 10 }) }
    expect(turn(poor).actions).to.deep.equal([{ type: 'cancel_trade', trade_id: 'mine-00001' }])
  })

  it('now and then offers a neighbour a fair trade for what it lacks, the same for the same seed', () => {
    const chef = view(villager('chef'))
    const offers = [1, 2, 3, 4, 5, 6, 7, 8].map(seed => turn(chef, seed).actions.find(a => a.type === 'propose_trade'))
    const made = offers.filter(a => a !== undefined)
    expect(made.length).to.be.within(1, 7)
    for (const a of made) expect(a).to.deep.equal({ type: 'propose_trade', target: 'fred', side: 'buy', item: 'wheat', quantity: 3, price: 5, expires_in: 60 })
    expect([1, 2, 3, 4, 5, 6, 7, 8].map(seed => turn(chef, seed).actions.find(a => a.type === 'propose_trade'))).to.deep.equal(offers)
    // no second offer while one is open
    const open = offer({ role: 'initiator', status: 'proposed' })
    expect([1, 2, 3, 4, 5, 6, 7, 8].some(seed => turn({ ...chef, trades: { received: [], initiated: [open] } }, seed).actions.some(a => a.type === 'propose_trade'))).to.equal(false)
  })

  it('for any villager and period it plans only what the rules allow, and a valid turn', () => {
    const arbitraryState = fc.record({
      occupation: fc.constantFrom(...OCCUPATIONS),
      stamina: fc.integer({ min: 0, max: 100 }),
      coins: fc.integer({ min: 0, max: 400 }),
      items: fc.record(Object.fromEntries(ITEMS.map(i => [i, fc.integer({ min: 0, max: 12 })])) as Record<(typeof ITEMS)[number], fc.Arbitrary<number>>)
    })
    fc.assert(fc.property(arbitraryState, fc.constantFrom(...PERIODS), fc.integer(), (s, period, seed) => {
      const v = view(villager(s.occupation, s), period)
      const t = turn(v, seed)
      AgentTurnSchema.parse(t)
      expect(t.period).to.be.oneOf(['produce', 'sleep', 'idle'])
      replay(v.self, t, period)
    }), { numRuns: 500 })
  })

  it('a lone villager of each occupation trading only with the merchant lives 30 days and gets richer', async () => {
    for (const occupation of OCCUPATIONS) {
      const agent = createHeuristicAgent({ seed: 7 })
      let s = villager(occupation)
      let lowest = s.stamina
      for (let day = 1; day <= 30; day++) {
        for (const period of PERIODS) {
          const v = view(s, period, { members: [{ name: s.name, occupation, voted: false }] })
          v.time.day = day
          const t = await agent.decide(v, undefined as never)
          s = replay(s, t, period)
          lowest = Math.min(lowest, s.stamina)
        }
        const hungry = endOfDay(s)
        if (hungry.ok) s = hungry.state
        lowest = Math.min(lowest, s.stamina)
      }
      expect(lowest, `${occupation} stamina`).to.be.greaterThan(0)
      expect(s.coins, `${occupation} coins`).to.be.greaterThan(100)
    }
  })
})

describe('seeded rng streams', () => {
  it('are independent of each other', () => {
    expect(seededRng('a', 1)()).to.not.equal(seededRng('a', 2)())
  })
})
