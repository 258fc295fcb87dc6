import { expect } from 'chai'
import { runScenario, SCENARIOS, type Scenario } from '../scripts/partition.js'
import { netnsUnavailableReason } from '../scripts/lib/netns.js'
import { renderTimeline } from '../scripts/lib/timeline.js'

/** Short versions of every partition experiment, on real villager processes. */
describe('partition experiments (short, real processes)', function () {
  this.timeout(180_000)

  const short = (scenario: Scenario, cut: 'gater' | 'netns' = 'gater') => ({
    scenario, cut, villagers: scenario === 'halves' ? 4 : 3, evictAfter: 2_000, splitMs: 4_000, periodMs: 150, seed: 3, out: '', tradeExpiry: 3, print: () => {}
  })

  for (const scenario of SCENARIOS) {
    it(`${scenario}: every invariant holds`, async () => {
      const { checks, report } = await runScenario(short(scenario))
      expect(checks.filter(c => !c.ok).map(c => `${c.name}: ${c.detail}`)).to.deep.equal([])
      expect(checks.map(c => c.name)).to.include.members(['converged after healing', 'every trade settled', 'coins and items conserved, both sides of every trade agree'])
      expect(report.samples.length).to.be.greaterThan(10)
      const svg = renderTimeline(report.samples, report.windows, scenario)
      expect(svg).to.match(/^<svg[\s\S]*<path[\s\S]*<\/svg>$/)
    })
  }

  it('majority split over real network namespaces (root only)', async function () {
    const why = await netnsUnavailableReason()
    if (why != null) {
      console.log(`      skipped: network namespaces need ${why}`)
      this.skip()
    }
    const { checks } = await runScenario(short('majority', 'netns'))
    expect(checks.filter(c => !c.ok).map(c => `${c.name}: ${c.detail}`)).to.deep.equal([])
  })
})
