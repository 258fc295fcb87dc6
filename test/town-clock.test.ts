import { expect } from 'chai'
import {
  applyStatement, checkSnapshot, compareStates, evictionTargets, genesis, joinsToBack, mergeStates, tally,
  type ClockState, type EvictStatement, type JoinStatement, type Statement, type VoteStatement
} from '../src/town/clock.js'
import type { Occupation, Period, PeriodAction, TownTime } from '../src/town/rules.js'

const TOWN = 'clockville'
const M: TownTime = { day: 1, period: 'morning' }

function join (voter: string, name = voter, occupation: Occupation = 'farmer', at: TownTime = M): JoinStatement {
  return { kind: 'join', town: TOWN, day: at.day, period: at.period, voter, name, occupation, sig: `j:${voter}:${at.day}:${at.period}:${name}` }
}
function vote (voter: string, at: TownTime, action: PeriodAction = 'idle', joins: JoinStatement[] = []): VoteStatement {
  return { kind: 'vote', town: TOWN, day: at.day, period: at.period, voter, action, joins, sig: `v:${voter}:${at.day}:${at.period}:${action}:${joins.map(j => j.voter).join(',')}` }
}
function evict (voter: string, target: string, at: TownTime): EvictStatement {
  return { kind: 'evict', town: TOWN, day: at.day, period: at.period, voter, target, sig: `e:${voter}:${target}:${at.day}:${at.period}` }
}
function t (day: number, period: Period): TownTime { return { day, period } }

function applyAll (state: ClockState, stmts: Statement[]): ClockState {
  for (const s of stmts) state = applyStatement(state, s).state
  return state
}

/** A town whose founders are `ids`, still in its first period. */
function town (ids: string[]): ClockState {
  return applyAll(genesis(join(ids[0]!)), ids.slice(1).map(id => join(id)))
}

function votesAll (ids: string[], at: TownTime): VoteStatement[] {
  return ids.map(id => vote(id, at))
}

describe('town clock (pure barrier)', () => {
  const five = ['p1', 'p2', 'p3', 'p4', 'p5']

  it('founders who join while the town is forming are all members of the first period', () => {
    const s = town(five)
    expect(Object.keys(s.view).sort()).to.deep.equal(five)
    expect(s.day).to.equal(1)
    expect(s.period).to.equal('morning')
  })

  it('advances only when every member has voted, whatever the order', () => {
    let s = town(five)
    for (const id of five.slice(0, 4)) {
      const r = applyStatement(s, vote(id, M))
      expect(r.outcome.status).to.equal('accepted')
      expect(r.completed).to.have.length(0)
      s = r.state
      expect(s.period).to.equal('morning')
    }
    expect(tally(s).awaited).to.deep.equal(['p5'])
    const r = applyStatement(s, vote('p5', M, 'produce'))
    expect(r.completed).to.have.length(1)
    expect(r.state.period).to.equal('noon')
    expect(r.completed[0]!.votes.map(v => v.voter)).to.deep.equal(five)
    // reverse order gives the same result
    const reversed = applyAll(town(five), [...votesAll(five, M)].reverse())
    expect(reversed.period).to.equal('noon')
    expect(reversed.view).to.deep.equal(r.state.view)
  })

  it('plays three full days into the fourth morning', () => {
    let s = town(five)
    let at = M
    const periods: Period[] = ['morning', 'noon', 'evening']
    for (let day = 1; day <= 3; day++) {
      for (const period of periods) {
        at = t(day, period)
        s = applyAll(s, votesAll(five, at))
      }
    }
    expect([s.day, s.period]).to.deep.equal([4, 'morning'])
  })

  it('a majority evicts a silent member and goes on; fewer cannot', () => {
    let s = town(five)
    s = applyAll(s, votesAll(five.slice(0, 4), M))
    s = applyAll(s, [evict('p1', 'p5', M), evict('p2', 'p5', M)])
    expect(s.period, 'two of five is no majority').to.equal('morning')
    const r = applyStatement(s, evict('p3', 'p5', M))
    expect(r.state.period).to.equal('noon')
    expect(Object.keys(r.state.view)).to.not.include('p5')
    expect(r.completed[0]!.evicts).to.have.length(3)
  })

  it('the minority side of a partition never advances or evicts', () => {
    // 3-2 split: {p1,p2,p3} | {p4,p5}
    const base = town(five)
    const minority = applyAll(base, [...votesAll(['p4', 'p5'], M), ...['p4', 'p5'].flatMap(v => ['p1', 'p2', 'p3'].map(x => evict(v, x, M)))])
    expect(minority.period).to.equal('morning')
    expect(tally(minority).evicted).to.deep.equal([])
    const majority = applyAll(base, [...votesAll(['p1', 'p2', 'p3'], M), ...['p1', 'p2', 'p3'].flatMap(v => ['p4', 'p5'].map(x => evict(v, x, M)))])
    expect(majority.period).to.equal('noon')
    expect(Object.keys(majority.view).sort()).to.deep.equal(['p1', 'p2', 'p3'])
  })

  it('a 2-2 split: neither side advances; once the votes meet, everyone does', () => {
    const four = ['a', 'b', 'c', 'd']
    const base = town(four)
    const left = applyAll(base, [vote('a', M), vote('b', M), evict('a', 'c', M), evict('a', 'd', M), evict('b', 'c', M), evict('b', 'd', M)])
    const right = applyAll(base, [vote('c', M), vote('d', M), evict('c', 'a', M), evict('c', 'b', M), evict('d', 'a', M), evict('d', 'b', M)])
    expect(left.period).to.equal('morning')
    expect(right.period).to.equal('morning')
    const healed = mergeStates(left, right)
    expect(healed.state.period).to.equal('noon')
    expect(Object.keys(healed.state.view).sort(), 'two of four is no majority: nobody evicted').to.deep.equal(four)
    const healedOtherWay = mergeStates(right, left)
    expect(healedOtherWay.state.view).to.deep.equal(healed.state.view)
  })

  it('backs at most 64 join requests in a vote (the wire\'s bound), the oldest first, and admits the rest later', () => {
    let s = town(['a', 'b', 'c'])
    s = applyAll(s, votesAll(['a', 'b', 'c'], M))
    const noon = t(1, 'noon')
    // 70 newcomers ask at once, five of them a period earlier than the rest
    const early = Array.from({ length: 5 }, (_, i) => join(`z${i}`, `early${i}`, 'farmer', M))
    const late = Array.from({ length: 65 }, (_, i) => join(`n${String(i).padStart(2, '0')}`, `late${i}`, 'farmer', noon))
    s = applyAll(s, [...late, ...early])
    const backed = joinsToBack(s)
    expect(backed).to.have.length(64)
    expect(backed.slice(0, 5).map(j => j.voter), 'the oldest requests first').to.deep.equal(['z0', 'z1', 'z2', 'z3', 'z4'])
    expect(backed.slice(5).map(j => j.voter)).to.deep.equal(late.slice(0, 59).map(j => j.voter))
    s = applyAll(s, ['a', 'b', 'c'].map(id => vote(id, noon, 'idle', joinsToBack(s))))
    expect(s.period).to.equal('evening')
    expect(Object.keys(s.view)).to.have.length(3 + 64)
    // the six left wait for the next boundary (their requests are still valid)
    expect(joinsToBack(s).map(j => j.voter)).to.deep.equal(late.slice(59).map(j => j.voter))
  })

  it('admits a joiner at the next boundary when a majority backs it', () => {
    let s = town(['a', 'b', 'c'])
    s = applyAll(s, [vote('a', M), vote('b', M)])
    const dave = join('d', 'dave', 'chef', M)
    s = applyStatement(s, dave).state
    // forming town: a join before the first period completes makes a founder
    expect(Object.keys(s.view)).to.include('d')
    s = applyAll(s, [vote('c', M), vote('d', M)])
    expect(s.period).to.equal('noon')

    const erin = join('e', 'erin', 'carpenter', t(1, 'noon'))
    s = applyStatement(s, erin).state
    expect(joinsToBack(s).map(j => j.voter)).to.deep.equal(['e'])
    const noon = t(1, 'noon')
    // backed by 2 of 4: not a majority
    const weak = applyAll(s, [vote('a', noon, 'idle', [erin]), vote('b', noon, 'idle', [erin]), vote('c', noon), vote('d', noon)])
    expect(weak.period).to.equal('evening')
    expect(Object.keys(weak.view)).to.not.include('e')
    const strong = applyAll(s, [vote('a', noon, 'idle', [erin]), vote('b', noon, 'idle', [erin]), vote('c', noon, 'idle', [erin]), vote('d', noon)])
    expect(strong.view.e).to.deep.equal({ name: 'erin', occupation: 'carpenter' })
    expect(strong.joins).to.deep.equal({})
  })

  it('rejects non-members, wrong town, past and far-future statements, taken names; nothing moves', () => {
    const s = town(['a', 'b'])
    const cases: Array<[Statement, string]> = [
      [vote('x', M), 'NOT_A_MEMBER'],
      [{ ...vote('a', M), town: 'elsewhere' }, 'WRONG_TOWN'],
      [vote('a', t(1, 'evening')), 'FUTURE_PERIOD'],
      [vote('a', t(9, 'morning')), 'FUTURE_PERIOD'],
      [evict('x', 'a', M), 'NOT_A_MEMBER'],
      [evict('a', 'x', M), 'TARGET_NOT_A_MEMBER'],
      [evict('a', 'a', M), 'SELF_EVICTION'],
      [join('c', 'A'), 'NAME_TAKEN'],
      [join('a', 'zed'), 'ALREADY_MEMBER']
    ]
    for (const [stmt, code] of cases) {
      const r = applyStatement(s, stmt)
      expect(r.outcome, JSON.stringify(stmt)).to.deep.include({ status: 'rejected', code })
      expect(r.state).to.equal(s)
    }
    const later = applyAll(s, votesAll(['a', 'b'], M))
    const past = applyStatement(later, vote('a', M, 'produce'))
    expect(past.outcome).to.deep.include({ status: 'rejected', code: 'PAST_PERIOD' })
    expect(past.state).to.equal(later)
  })

  it('a replayed vote is a duplicate and changes nothing', () => {
    const s = applyAll(town(['a', 'b']), [vote('a', M)])
    const r = applyStatement(s, vote('a', M))
    expect(r.outcome.status).to.equal('duplicate')
    expect(r.state).to.equal(s)
  })

  it('resolves equivocation the same way on every peer', () => {
    const base = town(['a', 'b', 'c'])
    const v1 = vote('a', M, 'produce')
    const v2 = vote('a', M, 'sleep')
    const one = applyAll(base, [v1, v2])
    const two = applyAll(base, [v2, v1])
    expect(one.votes.a).to.deep.equal(two.votes.a)
  })

  it('holds a vote for the next period until it gets there', () => {
    let s = town(['a', 'b'])
    const r = applyStatement(s, vote('a', t(1, 'noon')))
    expect(r.outcome.status).to.equal('buffered')
    s = applyAll(r.state, votesAll(['a', 'b'], M))
    expect(s.period).to.equal('noon')
    expect(Object.keys(s.votes)).to.deep.equal(['a'])
  })

  it('evicts only the silent: a member that keeps talking is slow, not gone', () => {
    const s = applyAll(town(['a', 'b', 'c']), [vote('a', M)])
    const heard = new Map([['b', 9_000], ['c', 1_000]])
    expect(evictionTargets(s, 'a', heard, 0, 10_000, 5_000)).to.deep.equal(['c'])
    expect(evictionTargets(s, 'a', heard, 8_000, 10_000, 5_000), 'counted from the period start at the earliest').to.deep.equal([])
    expect(evictionTargets(s, 'zz', heard, 0, 10_000, 5_000), 'non-members evict nobody').to.deep.equal([])
  })

  it('evicts nobody while the period waits on no one: before any member has voted in it, forming or not', () => {
    const heard = new Map([['b', 1_000], ['c', 1_000]])
    const forming = town(['a', 'b', 'c'])
    expect(evictionTargets(forming, 'a', heard, 0, 60_000, 5_000), 'a town still forming, nobody acted').to.deep.equal([])
    expect(evictionTargets(applyAll(forming, [vote('b', M)]), 'a', heard, 0, 60_000, 5_000), 'b acted: c holds the period up').to.deep.equal(['c'])
    const running = applyAll(town(['a', 'b', 'c']), votesAll(['a', 'b', 'c'], M))
    expect(running.prev, 'a town under way').to.not.equal(null)
    expect(evictionTargets(running, 'a', heard, 0, 60_000, 5_000), 'a new period nobody acted in').to.deep.equal([])
    expect(evictionTargets(applyAll(running, [vote('a', t(1, 'noon'))]), 'a', heard, 0, 60_000, 5_000)).to.deep.equal(['b', 'c'])
  })

  it('a newcomer\'s town of one, raced ahead, never replaces the town; the newcomer gives way to the town, ahead or behind', () => {
    const three = ['a', 'b', 'c']
    // the town waits for a slow member at noon
    const townState = applyAll(applyAll(town(three), votesAll(three, M)), [vote('a', t(1, 'noon')), vote('b', t(1, 'noon'))])
    // n started before any neighbour answered: a town of its own, whose agent acted ten times at once
    let alone = genesis(join('n', 'nina', 'chef'))
    for (let i = 0; i < 10; i++) alone = applyStatement(alone, vote('n', alone)).state
    expect(compareStates(alone, townState)).to.equal(1)
    expect(mergeStates(townState, alone)).to.deep.equal({ state: townState, completed: [], adopted: false })
    expect(mergeStates(alone, townState)).to.deep.equal({ state: townState, completed: [], adopted: true })
    // so also when it is behind, or just founded
    const fresh = genesis(join('n', 'nina', 'chef'))
    expect(mergeStates(townState, fresh).state).to.equal(townState)
    expect(mergeStates(fresh, townState).state).to.equal(townState)
    // and it asks to join the town it took up
    const joined = applyStatement(mergeStates(alone, townState).state, join('n', 'nina', 'chef', t(1, 'noon')))
    expect(joined.outcome.status).to.equal('accepted')
  })

  it('two towns of one name with no member in common each keep their own time; towns of one: the further wins', () => {
    const ours = applyAll(town(['a', 'b', 'c']), votesAll(['a', 'b', 'c'], M))
    let theirs = town(['x', 'y'])
    for (const at of [M, t(1, 'noon'), t(1, 'evening'), t(2, 'morning')]) theirs = applyAll(theirs, votesAll(['x', 'y'], at))
    expect(compareStates(theirs, ours)).to.equal(1)
    expect(mergeStates(ours, theirs).state).to.equal(ours)
    expect(mergeStates(theirs, ours).state).to.equal(theirs)
    // one member in common is enough: a member back from a long stop takes up the town it left
    let later = ours
    for (const at of [t(1, 'noon'), t(1, 'evening')]) later = applyAll(later, votesAll(['a', 'b', 'c'], at))
    expect(mergeStates(ours, later)).to.deep.equal({ state: later, completed: [], adopted: true })
    const p = applyStatement(genesis(join('p')), vote('p', M)).state
    const q = genesis(join('q'))
    expect(mergeStates(q, p).state).to.equal(p)
    expect(mergeStates(p, q).state).to.equal(p)
  })

  it('checks a snapshot: a view must follow from its certificate', () => {
    const s = applyAll(town(['a', 'b', 'c']), votesAll(['a', 'b', 'c'], M))
    const good = checkSnapshot(s, TOWN)
    expect(good.ok).to.equal(true)
    const forged = checkSnapshot({ ...s, view: { ...s.view, z: { name: 'zed', occupation: 'chef' } } }, TOWN)
    expect(forged).to.deep.include({ ok: false })
    const noCert = checkSnapshot({ ...s, prev: null }, TOWN)
    expect(noCert.ok).to.equal(false)
    const short = checkSnapshot({ ...s, prev: { ...s.prev!, votes: s.prev!.votes.slice(1) } }, TOWN)
    expect(short.ok).to.equal(false)
    expect(checkSnapshot(s, 'othertown').ok).to.equal(false)
  })

  it('merging: the further state wins on both sides; forming towns pool their founders', () => {
    const base = town(['a', 'b', 'c'])
    const ahead = applyAll(base, votesAll(['a', 'b', 'c'], M))
    expect(mergeStates(base, ahead).state).to.equal(ahead)
    expect(mergeStates(ahead, base).state).to.equal(ahead)
    const x = genesis(join('x'))
    const y = genesis(join('y'))
    const xy = mergeStates(x, y).state
    const yx = mergeStates(y, x).state
    expect(Object.keys(xy.view).sort()).to.deep.equal(['x', 'y'])
    expect(xy.view).to.deep.equal(yx.view)
    // same period, different views (a race between a late vote and an eviction): one rule picks
    const v1 = { ...ahead, view: { a: ahead.view.a!, b: ahead.view.b! } }
    expect(compareStates(v1, ahead)).to.equal(-compareStates(ahead, v1))
    expect(compareStates(v1, ahead)).to.not.equal(0)
  })
})
