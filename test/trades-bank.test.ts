import { expect } from 'chai'
import { pino } from 'pino'
import type { Logger } from '../src/node/logger.js'
import type { Trade, TradeStatus } from '../src/town/trades.js'
import { isOpen } from '../src/town/trades.js'
import { ITEMS, totalHoldings, type Item } from '../src/town/rules.js'
import { seededRandom } from '../scripts/lib/args.js'
import { waitFor } from './helpers/peers.js'
import { TestTown, type TestVillager } from './helpers/town.js'

/** Resolve when the trade reaches one of `statuses` on this villager, or after `ms`. */
async function until (v: TestVillager, id: string, statuses: TradeStatus[], ms: number): Promise<boolean> {
  const current = (): Trade | undefined => { try { return v.trades.find(id) } catch { return undefined } }
  if (statuses.includes(current()?.status as TradeStatus)) return true
  return new Promise(resolve => {
    const timer = setTimeout(() => { v.trades.removeEventListener('trade', on); resolve(false) }, ms)
    const on = (e: CustomEvent<Trade>): void => {
      if (e.detail.id === id && statuses.includes(e.detail.status)) {
        clearTimeout(timer)
        v.trades.removeEventListener('trade', on)
        resolve(true)
      }
    }
    v.trades.addEventListener('trade', on)
  })
}

describe('bank test: random concurrent trades with crashes and partitions', function () {
  this.timeout(180_000)
  let town: TestTown
  after(async () => { await town?.stop() })

  it('2,000 trades among 6 villagers settle and conserve every coin and item', async () => {
    const random = seededRandom(Number(process.env.BANK_SEED ?? 20261125))
    const names = ['v1', 'v2', 'v3', 'v4', 'v5', 'v6']
    // each villager's debug lines, kept in memory: a trade that does not settle is shown with what its deliveries met
    const lines: string[] = []
    const logger = (name: string): Logger => pino({ level: 'debug', base: { v: name }, timestamp: false }, {
      write: (line: string) => { lines.push(line); if (lines.length > 50_000) lines.splice(0, 10_000) }
    })
    const lastSaid = (id: string): string => lines.filter(l => l.includes(id)).slice(-2).map(l => { const j = JSON.parse(l); return `${j.v}: ${j.msg}` }).join(' / ')
    town = await new TestTown().start({
      logger,
      merchant: true,
      settleIntervalMs: 150,
      republishIntervalMs: 1_000,
      villagers: names.map((name, i) => ({ name, occupation: (['farmer', 'chef', 'carpenter'] as const)[i % 3]! }))
    })
    await town.waitForMembers(names)
    // stock up from the merchant so there are goods to trade
    for (const v of town.villagers) {
      await waitFor(async () => { try { await v.service.trade('buy', 'seed', 12); return true } catch { return false } }, 20_000, 'merchant')
      await v.service.trade('buy', 'wood', 8)
    }
    const start = totalHoldings(town.villagers.map(v => v.service.villager!))

    const running = (): TestVillager[] => town.villagers.filter(v => !down.has(v.name))
    const byName = (name: string): TestVillager | undefined => running().find(v => v.name === name)
    const down = new Set<string>()
    const TOTAL = Number(process.env.BANK_TRADES ?? 2000)
    let started = 0
    let proposed = 0
    const tradeItems: Item[] = ['seed', 'wood']

    async function oneTrade (): Promise<void> {
      const alive = running()
      if (alive.length < 2) return
      const a = alive[Math.floor(random() * alive.length)]!
      let b = alive[Math.floor(random() * alive.length)]!
      if (a === b) b = alive[(alive.indexOf(a) + 1) % alive.length]!
      const side = random() < 0.5 ? 'buy' : 'sell'
      const item = tradeItems[Math.floor(random() * tradeItems.length)]!
      const quantity = 1 + Math.floor(random() * 3)
      const unitPrice = 1 + Math.floor(random() * 3)
      const acceptIt = random() < 0.85
      const confirmIt = random() < 0.85
      let trade: Trade
      try {
        trade = await a.trades.propose({ target: b.name, side, item, quantity, unitPrice, expiresInMs: 4_000 })
        proposed++
      } catch { return }
      const bNow = (): TestVillager | undefined => byName(b.name)
      const aNow = (): TestVillager | undefined => byName(a.name)
      if (!await until(bNow() ?? b, trade.id, ['received'], 1_500)) return
      try {
        const cb = bNow()
        if (cb == null) return
        if (acceptIt) await cb.trades.accept(trade.id)
        else { await cb.trades.reject(trade.id); return }
      } catch { return }
      const ca = aNow()
      if (ca == null || !await until(ca, trade.id, ['accepted'], 1_500)) return
      try {
        const ca2 = aNow()
        if (ca2 == null) return
        if (confirmIt) await ca2.trades.confirm(trade.id)
        else await ca2.trades.cancel(trade.id)
      } catch { /* a crash or partition mid-step: the journals settle it */ }
    }

    // chaos: crash and restart villagers, cut and heal links, while trades run
    let chaosRunning = process.env.BANK_CHAOS !== "0"
    const chaos = (async () => {
      let round = 0
      while (chaosRunning) {
        await new Promise(resolve => setTimeout(resolve, 150 + Math.floor(random() * 250)))
        if (!chaosRunning) break
        round++
        const alive = running()
        if (round % 2 === 0 && alive.length > 4) {
          const victim = alive[Math.floor(random() * alive.length)]!
          down.add(victim.name)
          // abrupt: no goodbye, in-flight steps are cut off wherever they are
          await town.stopVillager(victim)
          setTimeout(() => {
            void town.addVillager(victim.name, victim.service.villager!.occupation, victim.dataDir).then(() => down.delete(victim.name))
          }, 100 + Math.floor(random() * 400))
        } else if (alive.length >= 2) {
          const x = alive[Math.floor(random() * alive.length)]!
          const y = alive.find(v => v !== x)!
          await x.peer.block(y.peer.peerId).catch(() => {})
          await y.peer.block(x.peer.peerId).catch(() => {})
          setTimeout(() => { x.peer.unblock(y.peer.peerId); y.peer.unblock(x.peer.peerId) }, 200 + Math.floor(random() * 600))
        }
      }
    })()

    const workers = Array.from({ length: 24 }, async () => {
      while (started < TOTAL) {
        started++
        await oneTrade()
      }
    })
    await Promise.all(workers)
    chaosRunning = false
    await chaos
    // everyone back, every link healed
    await waitFor(() => down.size === 0 && town.villagers.length === 6, 20_000, 'all villagers restarted')
    for (const v of town.villagers) v.peer.heal()
    // a restarted villager listens on a new port: each must find the others again
    const linkedTo = (v: TestVillager): TestVillager[] => town.villagers.filter(x => x !== v && v.peer.libp2p.getConnections(x.peer.peerId).length > 0)
    await waitFor(() => town.villagers.every(v => linkedTo(v).length === town.villagers.length - 1), 60_000,
      () => `every villager linked to every other: ${town.villagers.map(v => `${v.name}->${linkedTo(v).map(x => x.name).join(',')}`).join(' ')}`)
    await waitFor(() => town.villagers.every(v => v.trades.all().every(t => !isOpen(t) && t.delivered)), 60_000,
      () => `every trade settled; open: ${town.villagers.flatMap(v => v.trades.all().filter(t => isOpen(t) || !t.delivered).map(t => {
        const other = t.role === 'initiator' ? t.counterparty : t.initiator
        return `\n  ${v.name}:${t.id}:${t.role}:${t.status}:${t.delivered}:${linkedTo(v).some(x => x.peer.peerId.toString() === other) ? 'linked' : 'unlinked'} (${lastSaid(t.id)})`
      })).slice(0, 10).join('')}`)

    // both sides of every trade agree, and nothing was created or lost
    const all = town.villagers.flatMap(v => v.trades.all())
    const initiated = all.filter(t => t.role === 'initiator')
    const committed = initiated.filter(t => t.status === 'committed')
    for (const t of initiated) {
      const other = all.find(x => x.role === 'counterparty' && x.id === t.id && x.initiator === t.initiator)
      if (other == null) {
        expect(t.status, `trade ${t.id} never reached the counterparty`).to.not.equal('committed')
        continue
      }
      expect(other.status === 'committed', `trade ${t.id}: ${t.status} vs ${other.status}`).to.equal(t.status === 'committed')
      expect(other.escrow).to.equal(null)
      expect(t.escrow).to.equal(null)
    }
    const end = totalHoldings(town.villagers.map(v => v.service.villager!))
    expect(end.coins).to.equal(start.coins)
    for (const item of ITEMS) expect(end.items[item], item).to.equal(start.items[item])
    // floors that show the run was not vacuous, not rates: how many proposals find their target
    // up depends on the chaos's timing against the machine's load (alone ~78 % here, ~58 % in the full suite);
    // committed: 37 % alone, 19.5 % once in a full suite run: a floor of 10 % (200 trades) still shows it ran
    expect(proposed).to.be.greaterThan(TOTAL * 0.4)
    expect(committed.length).to.be.greaterThan(TOTAL * 0.1)
    console.log(`      ${started} trades attempted, ${proposed} proposed, ${committed.length} committed; ${all.length / 2 | 0} journal pairs`)
  })
})
