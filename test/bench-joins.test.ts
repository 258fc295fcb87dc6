import { expect } from 'chai'
import { joinCount, joinFigure, joinMet, type JoinResult } from '../scripts/bench/lib/joins.js'
import { spread } from '../scripts/bench/lib/stats.js'

const joins = (ms: number[], attempts?: number): JoinResult => ({ total: spread(ms), phases: {}, samples: ms.length, attempts })

describe('benchmark harness: how joins read in the report', () => {
  it('a town whose joiners never voted says so and misses the target', () => {
    const none = joins([], 2)
    expect(joinFigure(none)).to.equal('no join voted within 60.0 s (2 tried)')
    expect(joinMet(none)).to.equal(false)
  })

  it('a join that failed beside one that voted in time still misses the target, and the count says so', () => {
    const one = joins([1500], 2)
    expect(joinFigure(one)).to.equal('1.50 s (1 of 2)')
    expect(joinCount(one)).to.equal('1 of 2 joins; no vote from the others within 60.0 s')
    expect(joinMet(one)).to.equal(false)
  })

  it('every join in time meets it; results from before attempts were counted read as all voted', () => {
    expect(joinMet(joins([1200, 1800], 2))).to.equal(true)
    expect(joinMet(joins([1900, 2300, 2400], 3))).to.equal(false)
    const old = joins([900, 1100])
    expect(joinCount(old)).to.equal('2 joins')
    expect(joinFigure(old)).to.equal('1.00 s')
  })
})
