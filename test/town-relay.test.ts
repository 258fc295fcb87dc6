import { expect } from 'chai'
import { CLOCK_RELAY_PROTOCOL, RELAY_MIN_MEMBERS } from '../src/protocols/clock/constants.js'
import { sign } from '../src/protocols/clock/codec.js'
import { relayOf, RelayReplySchema } from '../src/protocols/clock/relay.js'
import { RpcClient } from '../src/protocols/rpc.js'
import { RemoteError, WireError } from '../src/protocols/wire.js'
import type { ClockState, VoteStatement } from '../src/town/clock.js'
import { everyoneActs, hearClock, type HeardClock } from './helpers/clock.js'
import { waitFor } from './helpers/peers.js'
import { TestTown, type TestVillager } from './helpers/town.js'

const FIVE = [
  { name: 'ann', occupation: 'farmer' }, { name: 'ben', occupation: 'chef' }, { name: 'cat', occupation: 'carpenter' },
  { name: 'dan', occupation: 'farmer' }, { name: 'eve', occupation: 'chef' }
] as const
const NAMES = FIVE.map(v => v.name)

const idOf = (v: TestVillager): string => v.peer.peerId.toString()

/** A state whose view has these member ids (relayOf reads only the view and the day). */
function viewOf (ids: string[], day: number): ClockState {
  return { day, view: Object.fromEntries(ids.map((id, i) => [id, { name: `v${i}`, occupation: 'farmer' }])) } as unknown as ClockState
}

describe('vote relay: the day\'s relay carries the votes (pure choice)', () => {
  const ids = Array.from({ length: 7 }, (_, i) => `12D3KooW${String.fromCharCode(65 + i).repeat(44)}`)

  it('is one member of the view, the same through a day and for every order of the view, another the next day', () => {
    const a = relayOf(viewOf(ids, 1))
    expect(ids).to.include(a)
    expect(relayOf(viewOf([...ids].reverse(), 1))).to.equal(a)
    const days = Array.from({ length: ids.length }, (_, d) => relayOf(viewOf(ids, d + 1)))
    expect(new Set(days).size, 'each member relays one day in N').to.equal(ids.length)
  })

  it('is nobody in a town too small for a relay to save sends', () => {
    expect(relayOf(viewOf(ids.slice(0, RELAY_MIN_MEMBERS - 1), 1))).to.equal(undefined)
    expect(relayOf(viewOf(ids.slice(0, RELAY_MIN_MEMBERS), 1))).to.not.equal(undefined)
  })
})

describe('vote relay (real peers)', function () {
  this.timeout(120_000)
  let town: TestTown
  afterEach(async () => { await town?.stop() })

  async function startFive (options: { relayVotes?: boolean, relayHoldMs?: number, evictAfterMs?: number } = {}): Promise<TestVillager[]> {
    // heartbeats 5 s apart: a period's messages are its votes
    town = await new TestTown().start({ evictAfterMs: 30_000, villagers: [...FIVE], ...options })
    await town.waitForMembers(NAMES)
    return NAMES.map(n => town.get(n))
  }

  function relayIn (all: TestVillager[]): TestVillager {
    const id = relayOf(all[0]!.service.clock!.state!)
    const relay = all.find(v => idOf(v) === id)
    if (relay == null) throw new Error('no relay among the villagers')
    return relay
  }

  it('the four other votes of a period go to the relay, which publishes them; no voter has to publish its own', async () => {
    const all = await startFive()
    const relay = relayIn(all)
    const heard = new Map(all.map(v => [v, [] as HeardClock[]]))
    for (const v of all) hearClock(v, town.town, h => heard.get(v)!.push(h))
    await everyoneActs(all)
    await town.waitForTime({ day: 1, period: 'noon' })
    expect(relay.service.clock!.relay.held, 'votes the relay took').to.equal(4)
    for (const v of all) expect(v.service.clock!.relay.fallbacks, `${v.name} published its own vote`).to.equal(0)
    // Every peer's whole-set repair (a period open longer than the 200 ms interval) and heartbeat may carry
    // votes too, at whatever moment its timer fires, so only what the relay sent is asserted here: all five
    for (const v of all.filter(x => x !== relay)) {
      const fromRelay = heard.get(v)!.filter(h => h.from === idOf(relay) && h.voters.length > 0)
      expect(new Set(fromRelay.flatMap(h => h.voters)).size, `${v.name}: the votes the relay published`).to.equal(5)
    }
    // and the next period goes the same way
    await everyoneActs(all)
    await town.waitForTime({ day: 1, period: 'evening' })
    expect(relay.service.clock!.relay.held).to.equal(8)
  })

  it('a relay that takes no votes (relaying off, as an older release): each voter publishes its own and the town goes on', async () => {
    const all = await startFive()
    const relayBefore = relayIn(all)
    const relay = await town.restartVillager(relayBefore, { relayVotes: false })
    const others = all.filter(v => v !== relayBefore)
    const now = [...others, relay]
    await waitFor(() => others.every(v => v.peer.libp2p.getConnections(relay.peer.peerId).some(c => c.status === 'open')), 20_000, 'the relay linked again')
    await everyoneActs(now)
    await town.waitForTime({ day: 1, period: 'noon' }, now)
    expect(others.map(v => v.service.clock!.relay.fallbacks)).to.deep.equal([1, 1, 1, 1])
    expect(relay.service.clock!.relay.held).to.equal(0)
  })

  it('a relay that crashes with votes in hand: its voters\' repairs spread them, the relay is evicted, the town goes on', async () => {
    // the relay holds what it takes for a minute, so it surely dies holding the four votes
    const all = await startFive({ evictAfterMs: 3_000, relayHoldMs: 60_000 })
    const relay = relayIn(all)
    const others = all.filter(v => v !== relay)
    await everyoneActs(others)
    await waitFor(() => relay.service.clock!.relay.held === 4, 10_000, 'the relay took the four votes')
    await town.crashVillager(relay)
    await town.waitForTime({ day: 1, period: 'noon' }, others, 30_000)
    await town.waitForMembers(others.map(v => v.name), others)
    for (const v of others) expect(v.service.clock!.relay.fallbacks, v.name).to.equal(0)
  })

  it('a relay slow to answer (seconds, as a saturated process) is waited for: no voter publishes its vote as well', async () => {
    const all = await startFive()
    const relay = relayIn(all)
    const clock = relay.service.clock! as any
    const onRelay = clock.onRelay.bind(clock)
    // the relay's handler answers 3 s late, past the 2 s its voters used to wait before publishing their votes themselves
    clock.onRelay = async (...args: unknown[]) => { await new Promise(resolve => setTimeout(resolve, 3_000)); return onRelay(...args) }
    // a villager's act does not wait on its relay: all five are in before any hand-over is answered
    await Promise.all(all.map(async v => v.service.act('idle')))
    expect(relay.service.clock!.relay.held, 'hand-overs answered while the voters acted').to.equal(0)
    await town.waitForTime({ day: 1, period: 'noon' }, all, 30_000)
    // every hand-over answered in the end (taken, or known by then from a voter's heartbeat), none given up on
    const voters = all.filter(v => v !== relay)
    await waitFor(() => voters.every(v => v.service.clock!.relay.handed + v.service.clock!.relay.fallbacks === 1), 20_000, 'the relay answered every hand-over')
    for (const v of all) expect(v.service.clock!.relay, v.name).to.include({ fallbacks: 0, timeouts: 0 })
  })

  it('while the relay is heard from, a slow period is repaired by the relay alone; its voters and the one still thinking send only their own', async () => {
    // the relay repairs at its heartbeat's pace: every 2 s
    const all = await startFive({ evictAfterMs: 12_000 })
    // a town's first period is its forming, which gets no whole-set repairs: move past it
    await everyoneActs(all)
    await town.waitForTime({ day: 1, period: 'noon' })
    const relay = relayIn(all)
    const thinking = all.find(v => v !== relay)!
    const sets: Array<{ from: string, voters: string[] }> = []
    for (const v of all) hearClock(v, town.town, h => { if (h.sent.startsWith('day 1 noon')) sets.push({ from: h.from, voters: h.voters }) })
    await everyoneActs(all.filter(v => v !== thinking))
    // the relay's message of the four votes (its hold ends 250 ms after the first), then its repairs of the open period
    await waitFor(() => sets.filter(s => s.from === idOf(relay) && s.voters.length === 4).length >= 12, 20_000, 'the relay re-published the four votes three times')
    const othersSets = sets.filter(s => s.from !== idOf(relay) && s.voters.some(voter => voter !== s.from))
    expect(othersSets, 'whole sets re-published by members other than the relay').to.deep.equal([])
    await thinking.service.act('idle')
    await town.waitForTime({ day: 1, period: 'evening' })
  })

  it('heartbeats only where the town needs them: none while nobody has acted; then from those still thinking, the relay\'s whole set, none from a voter whose vote is with the relay', async () => {
    // heartbeats due every second
    const all = await startFive({ evictAfterMs: 3_000 })
    await everyoneActs(all)
    await town.waitForTime({ day: 1, period: 'noon' })
    const relay = relayIn(all)
    const sent: Array<{ from: string, voters: string[] }> = []
    for (const v of all) hearClock(v, town.town, h => { if (h.sent.startsWith('day 1 noon')) sent.push({ from: h.from, voters: h.voters }) })
    const heartbeatsBefore = all.map(v => v.service.clock!.heartbeats)
    // a settled town nobody has acted in yet: nobody can be evicted and there is nothing to repair
    const idleFrom = Date.now()
    await waitFor(() => Date.now() - idleFrom > 3_500, 10_000, 'three heartbeat intervals and the eviction timeout pass')
    expect(sent, 'clock messages of a period nobody acted in').to.deep.equal([])
    expect(all.map(v => v.service.clock!.heartbeats)).to.deep.equal(heartbeatsBefore)
    // one member acts: the period waits on the other four, who show they are there
    const voter = all.find(v => v !== relay)!
    await voter.service.act('idle')
    const thinking = all.filter(v => v !== voter && v !== relay)
    // the heartbeat interval counts from the period's first vote: a period that completes within it costs none,
    // though these members last sent something seconds ago
    await waitFor(() => thinking.every(t => t.service.clock!.state!.votes[idOf(voter)] != null), 10_000, 'the vote reached the others')
    const atFirstVote = thinking.map(t => t.service.clock!.heartbeats)
    for (const t of thinking) await (t.service.clock as any).tick()
    expect(thinking.map(t => t.service.clock!.heartbeats), 'heartbeats as the period starts waiting').to.deep.equal(atFirstVote)
    await waitFor(() => thinking.every(t => sent.filter(m => m.from === idOf(t)).length >= 3 * 4), 20_000, 'three heartbeats from each member still thinking')
    expect(sent.filter(m => m.from === idOf(voter)), 'messages from the voter, whose vote is with the relay').to.deep.equal([])
    expect(voter.service.clock!.relay.handed).to.be.at.least(1)
    // the relay's messages carry the voter's vote: its release, then its whole set at its heartbeats
    expect(sent.filter(m => m.from === idOf(relay) && m.voters.includes(idOf(voter))).length).to.be.at.least(2 * 4)
    for (const t of thinking) expect(sent.filter(m => m.from === idOf(t)).every(m => m.voters.every(id => id === idOf(t))), `${t.name} sends its own statements only`).to.equal(true)
    // and nobody was evicted: the four were quiet for longer than the timeout before the vote
    for (const v of all) expect(v.service.clock!.state!.evicts, v.name).to.deep.equal({})
    await everyoneActs(all)
    await town.waitForTime({ day: 1, period: 'evening' })
    await town.waitForMembers(NAMES)
  })

  it('refuses what a relay must not carry, with a code each, and holds nothing', async () => {
    const all = await startFive()
    const relay = relayIn(all)
    const [voter, other] = all.filter(v => v !== relay) as [TestVillager, TestVillager]
    const state = voter.service.clock!.state!
    const vote = async (from: TestVillager, fields: Partial<VoteStatement> = {}): Promise<VoteStatement> =>
      sign<VoteStatement>(from.peer.privateKey, { kind: 'vote', town: town.town, day: state.day, period: state.period, voter: idOf(from), action: 'idle', joins: [], ...fields })
    const rpc = new RpcClient(voter.peer.libp2p, CLOCK_RELAY_PROTOCOL, { maxBytes: 256 * 1024, timeoutMs: 5_000 })
    const hand = async (body: unknown): Promise<string> => {
      try {
        return (await rpc.request(relay.peer.peerId, body, RelayReplySchema)).held
      } catch (err) {
        if (err instanceof RemoteError || err instanceof WireError) return err.code
        throw err
      }
    }
    try {
      expect(await hand({ vote: await vote(other) }), 'another member\'s vote').to.equal('NOT_OWN_VOTE')
      expect(await hand({ vote: { ...await vote(voter), action: 'produce' } }), 'altered after signing').to.equal('FORGED')
      expect(await hand({ vote: await vote(voter, { town: 'elsewhere' }) })).to.equal('WRONG_TOWN')
      expect(await hand({ vote: await vote(voter, { day: state.day + 5 }) })).to.equal('FUTURE_PERIOD')
      expect(await hand({ vote: { kind: 'vote', voter: idOf(voter) } }), 'not a vote').to.equal('INVALID_REQUEST')
      expect(await hand({ vote: await vote(voter), extra: 1 })).to.equal('INVALID_REQUEST')
      expect(await hand({ vote: { ...await vote(voter), joins: Array(65).fill({}) } })).to.equal('INVALID_REQUEST')
      expect(await hand({ vote: await vote(voter), pad: 'x'.repeat(70_000) }), 'over the size bound').to.equal('MESSAGE_TOO_LARGE')
      // nothing of it was taken: no vote held anywhere, the relay holds none
      expect(relay.service.clock!.relay.held).to.equal(0)
      for (const v of all) expect(Object.keys(v.service.clock!.state!.votes), v.name).to.deep.equal([])
      // a vote of its own voter is taken, once
      const good = await vote(voter)
      expect(await hand({ vote: good })).to.equal('relayed')
      expect(await hand({ vote: good })).to.equal('known')
      expect(relay.service.clock!.relay.held).to.equal(1)
      await waitFor(() => all.every(v => v.service.clock!.state!.votes[idOf(voter)]?.sig === good.sig), 10_000, 'the relayed vote held everywhere')
    } finally {
      rpc.close()
    }
  })
})
