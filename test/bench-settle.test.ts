import { expect } from 'chai'
import { stoppedFalling } from '../scripts/bench/lib/towns.js'

describe('benchmark harness: when a town has settled', () => {
  it('waits while the CPU still falls', () => {
    // a town of 50 as two processes of 25 after formation: 1.8 cores down to 0.5 over a minute
    const falling = [1.86, 1.82, 1.80, 1.71, 1.65, 1.45, 1.31, 1.10, 0.80, 0.62]
    expect(stoppedFalling(falling)).to.equal(false)
  })

  it('stops once the CPU holds, however high', () => {
    // fifty processes on 2 cores: linked, and still busy
    const flat = [1.86, 1.71, 1.82, 1.88, 1.87, 1.74, 1.70, 1.81, 1.85, 1.72]
    expect(stoppedFalling(flat)).to.equal(true)
    expect(stoppedFalling([...[0.62, 0.53, 0.53, 0.51, 0.50], ...[0.50, 0.49, 0.52, 0.50, 0.51]])).to.equal(true)
  })

  it('does not judge from too few windows', () => {
    expect(stoppedFalling([1.8, 1.8, 1.8, 1.8, 1.8, 1.8, 1.8, 1.8, 1.8])).to.equal(false)
    expect(stoppedFalling([])).to.equal(false)
  })
})
