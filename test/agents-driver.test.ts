import { expect } from 'chai'
import { runVillagerAgent, type RunVillagerAgentOptions, type TurnRecord } from '../src/agents/villager-driver.js'
import type { AgentLog, AgentTurn, VillagerAgent } from '../src/agents/villager-agent.js'
import { startControlApi, villagerRoutes, type ControlApi } from '../src/town/control-api.js'
import { waitFor } from './helpers/peers.js'
import { TestTown } from './helpers/town.js'

/** An agent that misbehaves in a different way each period it is asked. */
function misbehaving (): VillagerAgent {
  let asked = 0
  const ways: Array<() => Promise<AgentTurn>> = [
    async () => { throw new Error('the agent crashed') },
    async () => ({ reasoning: 'dance!', actions: [], period: 'dance' }) as unknown as AgentTurn,
    // ignores its signal and never answers
    async () => new Promise<AgentTurn>(() => {}),
    // a valid turn the rules refuse: no bed to sleep in
    async () => ({ reasoning: 'a nap', actions: [], period: 'sleep' }),
    // a valid turn with no period action
    async () => ({ reasoning: 'nothing', actions: [{ type: 'eat', quantity: 1 }], period: null })
  ]
  return { name: 'misbehaving', decide: async () => ways[asked++ % ways.length]!() }
}

describe('villager agent driver: a period always gets a vote (real villager)', function () {
  this.timeout(60_000)
  let town: TestTown
  let api: ControlApi
  beforeEach(async () => {
    // alone in the town, each vote moves time on: one turn per period
    town = await new TestTown().start({ merchant: true, villagers: [{ name: 'alice', occupation: 'farmer' }] })
    const alice = town.get('alice')
    await waitFor(async () => alice.service.prices().then(() => true, () => false), 20_000, 'the merchant')
    api = await startControlApi(villagerRoutes(alice.peer, alice.service, { trades: alice.trades, messaging: alice.messaging }), 0)
  })
  afterEach(async () => {
    await api.close()
    await town.stop()
  })

  async function drive (periods: number, options: Partial<RunVillagerAgentOptions>): Promise<{ records: TurnRecord[], logs: string[] }> {
    const records: TurnRecord[] = []
    const logs: string[] = []
    const log: AgentLog = { info: (m) => logs.push(m), warn: (m) => logs.push(`WARN ${m}`), debug: () => {} }
    const controller = new AbortController()
    const done = runVillagerAgent({ apiUrl: api.url, agent: misbehaving(), log, signal: controller.signal, pollIntervalMs: 25, turnDeadlineMs: 500, onTurn: (r) => { records.push(r) }, ...options })
    try {
      await waitFor(() => records.length >= periods, 30_000, () => `${periods} turns; log:\n${logs.join('\n')}`)
    } finally {
      controller.abort()
      await done
    }
    return { records, logs }
  }

  it('whatever the agent does wrong, the heuristic plays the period', async () => {
    const { records, logs } = await drive(5, {})
    expect(records.map(r => `${r.day} ${r.period} ${r.decidedBy} ${r.voted}`)).to.deep.equal([
      '1 morning fallback true', '1 noon fallback true', '1 evening fallback true', '2 morning fallback true', '2 noon fallback true'
    ])
    expect(records.map(r => r.agentError)).to.deep.equal([
      'the agent crashed',
      records[1]!.agentError,
      'the turn ran out of time',
      'the turn ended without a period action',
      'the turn ended without a period action'
    ])
    expect(records[1]!.agentError).to.match(/misbehaving returned a malformed turn: period: Invalid option/)
    // the refused nap reached the API and was refused there; the heuristic then played
    expect(records[3]!.results.map(r => `${r.action.type}:${r.ok ? 'ok' : (r as { code: string }).code}`)[0]).to.equal('sleep:NO_BED')
    expect(logs.filter(l => l.startsWith('WARN')).every(l => /agent misbehaving failed: .*; falling back/.test(l))).to.equal(true)
    expect(town.get('alice').service.villager!.items.wheat).to.be.greaterThan(0)
  })

  it('when the fallback fails too, the villager idles', async () => {
    const broken: VillagerAgent = { name: 'broken', decide: async () => { throw new Error('the fallback crashed') } }
    const { records, logs } = await drive(2, { fallback: broken })
    expect(records.map(r => `${r.day} ${r.period} ${r.decidedBy} ${r.voted}`)).to.deep.equal(['1 morning idle true', '1 noon idle true'])
    expect(records.every(r => r.results.at(-1)!.action.type === 'idle')).to.equal(true)
    expect(logs.some(l => /fallback broken failed: the fallback crashed/.test(l))).to.equal(true)
    expect(logs.some(l => /\(last resort\): action idle -> ok/.test(l))).to.equal(true)
  })
})

describe('villager agent driver: a villager that is not a member yet waits (real peers)', function () {
  this.timeout(60_000)
  let townOfAlice: TestTown
  let townOfBob: TestTown
  let api: ControlApi | undefined

  afterEach(async () => {
    await api?.close()
    await townOfBob?.stop()
    await townOfAlice?.stop()
  })

  it('a turn begun in its own new town, which then joins the older town, waits to join: no agent failure, no fallback', async () => {
    // two starts of the same town that have not met yet: alice's has moved on, bob's is still his own
    // each with a merchant, so that a turn does not wait for prices no one has
    townOfAlice = await new TestTown().start({ merchant: true, villagers: [{ name: 'alice', occupation: 'farmer' }] })
    townOfBob = await new TestTown().start({ merchant: true, villagers: [{ name: 'bob', occupation: 'farmer' }] })
    const alice = townOfAlice.get('alice')
    const bob = townOfBob.get('bob')
    await alice.service.act('idle')
    expect(townOfAlice.time(alice)).to.deep.equal({ day: 1, period: 'noon' })
    expect(bob.service.clock!.isMember()).to.equal(true)
    api = await startControlApi(villagerRoutes(bob.peer, bob.service, { trades: bob.trades, messaging: bob.messaging }), 0)

    const asked: string[] = []
    // bob's agent meets alice's town while it decides, as a neighbour's answer can come in mid-turn
    const agent: VillagerAgent = {
      name: 'meeting',
      decide: async (view) => {
        asked.push(`${view.time.day} ${view.time.period}`)
        if (asked.length === 1) {
          await bob.peer.libp2p.dial(alice.peer.libp2p.getMultiaddrs()[0]!)
          await waitFor(() => !bob.service.clock!.isMember(), 20_000, 'bob adopts the town of alice')
        }
        return { reasoning: 'rest', actions: [], period: 'idle' }
      }
    }
    const records: TurnRecord[] = []
    const logs: string[] = []
    const log: AgentLog = { info: (m) => logs.push(m), warn: (m) => logs.push(`WARN ${m}`), debug: () => {} }
    const controller = new AbortController()
    const done = runVillagerAgent({ apiUrl: api.url, agent, log, signal: controller.signal, pollIntervalMs: 25, turnDeadlineMs: 20_000, onTurn: (r) => { records.push(r) } })
    try {
      // alice alone moves time; bob's join takes effect at a boundary once she holds it
      await waitFor(async () => {
        if (bob.service.clock!.isMember() && records.some(r => r.voted)) return true
        const aliceTime = alice.service.clock!
        // only once the turn begun in bob's own town is over: a join request goes out at once,
        // and admitting bob mid-turn would let that turn's action count in alice's town
        if (records.length > 0 && !aliceTime.hasVoted() && Object.keys(aliceTime.state!.joins).length > 0) await alice.service.act('idle')
        return false
      }, 30_000, () => `bob's agent plays once bob is a member; log:\n${logs.join('\n')}`)
    } finally {
      controller.abort()
      await done
    }
    expect(logs.filter(l => l.startsWith('WARN'))).to.deep.equal([])
    expect(logs.filter(l => l.includes('fallback') || l.includes('last resort'))).to.deep.equal([])
    expect(logs).to.include('waiting: the villager is not a member of the town yet: it joins at the next period boundary')
    expect(records.map(r => `${r.day} ${r.period} ${r.decidedBy} ${r.voted}`)).to.deep.equal(['1 morning none false', `${asked[1]} agent true`])
    expect(records[0]!.results.map(r => `${r.action.type}:${r.ok ? 'ok' : (r as { code: string }).code}`)).to.deep.equal(['idle:NOT_A_MEMBER'])
    expect(records[0]!.agentError).to.equal(undefined)
    expect(asked).to.have.length(2)
    expect(asked[0]).to.equal('1 morning')
  })
})

describe('villager agent driver: waiting for the town to gather (real peers)', function () {
  this.timeout(60_000)
  let town: TestTown
  let api: ControlApi | undefined
  afterEach(async () => {
    await api?.close()
    await town?.stop()
  })

  it('with minMembers, plays day 1 only once the new town has that many members', async () => {
    town = await new TestTown().start({ merchant: true, villagers: [{ name: 'alice', occupation: 'farmer' }] })
    const alice = town.get('alice')
    api = await startControlApi(villagerRoutes(alice.peer, alice.service, { trades: alice.trades, messaging: alice.messaging }), 0)
    const records: TurnRecord[] = []
    const logs: string[] = []
    const log: AgentLog = { info: (m) => logs.push(m), warn: (m) => logs.push(`WARN ${m}`), debug: () => {} }
    const agent: VillagerAgent = { name: 'patient', decide: async () => ({ reasoning: 'rest', actions: [], period: 'idle' }) }
    const controller = new AbortController()
    const done = runVillagerAgent({ apiUrl: api.url, agent, log, signal: controller.signal, pollIntervalMs: 25, minMembers: 2, onTurn: (r) => { records.push(r) } })
    try {
      await waitFor(() => logs.includes('waiting: the town has 1 of the 2 members to wait for before its first day'), 20_000, () => `the driver waits; log:\n${logs.join('\n')}`)
      // alone, a vote would have been the whole town's: time stays, nobody was asked
      expect(alice.service.clock!.hasVoted()).to.equal(false)
      expect(town.time(alice)).to.deep.equal({ day: 1, period: 'morning' })
      expect(records).to.deep.equal([])
      await town.addVillager('bob', 'chef')
      await waitFor(() => records.some(r => r.voted), 20_000, () => `alice plays once bob is in; log:\n${logs.join('\n')}`)
    } finally {
      controller.abort()
      await done
    }
    // bob came in as a founder of the town still forming, and alice played its first period
    expect(town.members(alice)).to.deep.equal(['alice', 'bob'])
    expect(records.map(r => `${r.day} ${r.period} ${r.decidedBy}`)).to.deep.equal(['1 morning agent'])
    expect(town.time(alice)).to.deep.equal({ day: 1, period: 'morning' })
    expect(logs.filter(l => l.startsWith('WARN'))).to.deep.equal([])
  })
})
