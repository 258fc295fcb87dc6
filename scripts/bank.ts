/**
 * `npm run bank`: the long bank test. Every villager is its own OS process; random
 * trades run through their control APIs while villagers are killed with SIGKILL at
 * random moments (no chance to settle) and restarted from their data dirs. At the
 * end every trade must be settled the same way on both sides, and the coins and
 * items of all villagers must add up to what they started with.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Command } from 'commander'
import { seededRandom, positiveInt } from './lib/args.js'
import { checkConservation, LocalTown, randomTrade, stockUp, until } from './lib/local-town.js'

const opts = new Command('npm run bank --')
  .option('--villagers <n>', 'villager processes', positiveInt, 6)
  .option('--trades <n>', 'trades to attempt', positiveInt, 600)
  .option('--concurrency <n>', 'trades in flight', positiveInt, 12)
  .option('--kill-every <ms>', 'SIGKILL a random villager this often', positiveInt, 2_000)
  .option('--seed <n>', 'random seed', positiveInt, 7)
  .option('--verbose', 'show every peer log line')
  .parse(process.argv)
  .opts<{ villagers: number, trades: number, concurrency: number, killEvery: number, seed: number, verbose?: boolean }>()

const random = seededRandom(opts.seed)
const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]!

async function main (): Promise<number> {
  const root = await mkdtemp(path.join(tmpdir(), 'meshtown-bank-'))
  const town = new LocalTown({
    town: 'bank', root, villagers: opts.villagers, evictAfterMs: 3_600_000,
    onLine: (name, line, stream) => { if (opts.verbose === true || (stream === 'stderr' && /ERROR/.test(line))) console.log(`[${name}] ${line}`) }
  })
  try {
    await town.start()
    console.log(`${opts.villagers} villager processes up; stocking up from the merchant`)
    await stockUp(town)
    await town.waitForMembers(opts.villagers)
    const start = await town.holdings()
    console.log('start sums', JSON.stringify(start))
    let attempted = 0
    let kills = 0
    let running = true
    const chaos = (async () => {
      while (running) {
        await new Promise(resolve => setTimeout(resolve, opts.killEvery * (0.5 + random())))
        const alive = town.alive()
        if (!running || alive.length <= 2) continue
        const victim = pick(alive)
        await town.kill(victim)
        kills++
        await new Promise(resolve => setTimeout(resolve, 200 + random() * 800))
        await town.launch(victim)
      }
    })()
    await Promise.all(Array.from({ length: opts.concurrency }, async () => {
      while (attempted < opts.trades) {
        const n = ++attempted
        await randomTrade(town.alive(), random)
        if (n % 100 === 0) console.log(`${n} trades attempted, ${kills} villagers killed so far`)
      }
    }))
    running = false
    await chaos
    console.log('trading done; waiting for every trade to settle')
    const problems: string[] = []
    if (!await until(async () => town.allTradesSettled(), 120_000, 250)) problems.push('some trades never settled')
    const journals = await town.journals()
    const end = await town.holdings()
    console.log('end sums  ', JSON.stringify(end))
    problems.push(...checkConservation(start, end, journals))
    const committed = [...journals.values()].filter(s => s.initiator?.status === 'committed').length
    console.log(`\n${attempted} trades attempted, ${journals.size} recorded, ${committed} committed, ${kills} villagers SIGKILLed and restarted`)
    for (const p of problems) console.log(`FAIL: ${p}`)
    console.log(problems.length === 0 ? 'every trade settled on both sides alike; coins and items conserved' : `${problems.length} invariant(s) broken`)
    return problems.length === 0 ? 0 : 1
  } finally {
    await town.stop()
    await rm(root, { recursive: true, force: true })
  }
}

process.exitCode = await main()
