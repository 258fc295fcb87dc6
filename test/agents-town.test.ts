import { expect } from 'chai'
import { createHeuristicAgent } from '../src/agents/heuristic.js'
import { runVillagerAgent, type TurnRecord } from '../src/agents/villager-driver.js'
import type { AgentLog } from '../src/agents/villager-agent.js'
import { startControlApi, villagerRoutes, type ControlApi } from '../src/town/control-api.js'
import { waitFor } from './helpers/peers.js'
import { TestTown } from './helpers/town.js'

const DAYS = 10
/** Refusals that say the machine was busy (a timeout, a lost connection), not that a plan broke a rule. */
const TRANSIENT = ['UNREACHABLE', 'MERCHANT_UNREACHABLE', 'NO_MERCHANT', 'ABORTED']

describe('a town of heuristic villagers (real peers, control APIs, one process)', function () {
  this.timeout(150_000)
  let town: TestTown | undefined
  const apis: ControlApi[] = []
  const controller = new AbortController()
  const drivers: Array<Promise<void>> = []
  after(async () => {
    controller.abort()
    await Promise.all(drivers)
    await Promise.all(apis.map(async a => a.close()))
    await town?.stop()
  })

  it(`a farmer, a chef and a carpenter live ${DAYS} days: nobody starves, coins grow, every period gets its votes`, async () => {
    town = await new TestTown().start({
      merchant: true,
      villagers: [{ name: 'alice', occupation: 'farmer' }, { name: 'bob', occupation: 'chef' }, { name: 'carol', occupation: 'carpenter' }]
    })
    await town.waitForMembers(['alice', 'bob', 'carol'])
    for (const v of town.villagers) await waitFor(async () => v.service.prices().then(() => true, () => false), 20_000, `${v.name} reaches the merchant`)

    const lowest: Record<string, number> = {}
    const records: Record<string, TurnRecord[]> = {}
    const warnings: string[] = []
    for (const [i, v] of town.villagers.entries()) {
      lowest[v.name] = v.service.villager!.stamina
      records[v.name] = []
      v.service.addEventListener('change', (e) => { lowest[v.name] = Math.min(lowest[v.name]!, e.detail.stamina) })
      const api = await startControlApi(villagerRoutes(v.peer, v.service, { trades: v.trades, messaging: v.messaging }), 0)
      apis.push(api)
      const log: AgentLog = { info: () => {}, debug: () => {}, warn: (m) => { warnings.push(`${v.name}: ${m}`) } }
      drivers.push(runVillagerAgent({
        apiUrl: api.url,
        agent: createHeuristicAgent({ seed: i }),
        log,
        signal: controller.signal,
        pollIntervalMs: 25,
        onTurn: (r) => { records[v.name]!.push(r) }
      }))
    }

    const started = Date.now()
    const lost: string[] = []
    // about 12 s on an idle machine; the bound is for a busy one
    await town.waitForTime({ day: DAYS + 1, period: 'morning' }, town.villagers, 90_000)
    const elapsed = Date.now() - started

    for (const v of town.villagers) {
      const state = v.service.villager!
      expect(lowest[v.name], `${v.name}'s lowest stamina`).to.be.greaterThan(0)
      expect(state.coins, `${v.name}'s coins`).to.be.greaterThan(100)
      const periodTurns = records[v.name]!.filter(r => r.reason === 'period' && r.day <= DAYS)
      // one turn per period, each with its vote, and the heuristic's own plan (a fallback only on a lost connection)
      expect(periodTurns.map(r => `${r.day} ${r.period}`)).to.have.length(3 * DAYS)
      expect(periodTurns.filter(r => !r.voted || r.decidedBy === 'idle'), `${v.name}'s turns without their plan; warnings: ${warnings.join('\n')}`).to.deep.equal([])
      // the rules never refused a planned action; only a busy machine may lose a request
      const refused = records[v.name]!.flatMap(r => r.results).filter(r => !r.ok).map(r => r as { code: string, message: string })
      const broken = refused.filter(r => !TRANSIENT.includes(r.code))
      expect(broken, `${v.name}: refused actions ${JSON.stringify(broken)}`).to.deep.equal([])
      lost.push(...refused.map(r => `${v.name} ${r.code}`))
    }
    // they traded with each other too, not only with the merchant
    const committed = town.villagers.flatMap(v => v.trades.initiated()).filter(t => t.status === 'committed')
    expect(committed.length).to.be.greaterThan(0)
    const carol = town.get('carol').service.villager!
    expect(carol.items.house).to.be.at.least(1)
    console.log(`      ${DAYS} days in ${elapsed} ms; ${committed.length} trades between villagers; ${lost.length} lost requests, ${warnings.length} warnings; ` +
      town.villagers.map(v => `${v.name} ${v.service.villager!.coins} coins, stamina ${v.service.villager!.stamina} (lowest ${lowest[v.name]})`).join('; '))
  })
})
