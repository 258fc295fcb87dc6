/**
 * Trades between two villager processes, two builds side by side: the same runs
 * as the trades benchmark, alternating between town A and town B every few
 * seconds, so that both see the same hour of the machine (single runs of the
 * benchmark vary by 30 % from hour to hour). Also reads the CPU the two
 * villager processes used per committed trade, steadier than the rates.
 *
 *   npx tsx scripts/bench/trade-probe.ts [rounds] [seconds]
 *   BUNDLE_A=/other/checkout/dist/bench/mesh-node.mjs npx tsx scripts/bench/trade-probe.ts
 *
 * Without BUNDLE_A / BUNDLE_B, both towns run this checkout's build (an A/A run:
 * the noise floor). NODE_ARGS_A / NODE_ARGS_B: node flags for one side's processes
 * (space-separated). CONCURRENCY=1,64 sets the trades in flight per run.
 * PROF=1: then profile town B's villagers over one more run at the first
 * concurrency and print where their CPU went (BENCH_FROM_SOURCE=1 runs B from the
 * sources, so that the summary can tell packages apart).
 */
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { nodeArgsFrom, prepareBundles } from './lib/child.js'
import { formatSummary, summarize } from './profile-summary.js'
import { median, quantile } from './lib/stats.js'
import { cpuMsByChild, cpuMsSince, settle, startMeshTown, stopTown, waitFormed, type Town } from './lib/towns.js'
import { oneRun } from './trades.js'

const rounds = Number(process.argv[2] ?? 4)
const seconds = Number(process.argv[3] ?? 5)
const concurrency = (process.env.CONCURRENCY ?? '1,64').split(',').map(Number)
await prepareBundles(['mesh-node.ts'])

const sides = [
  { label: 'A', bundle: process.env.BUNDLE_A, nodeArgs: process.env.NODE_ARGS_A },
  { label: 'B', bundle: process.env.BUNDLE_B, nodeArgs: process.env.NODE_ARGS_B }
]
const towns = new Map<string, Town>()
type Row = { perSec: number, p50: number, cpuPerTrade: number }
const rows = new Map<string, Row[]>()
try {
  for (const s of sides) {
    const town = await startMeshTown({ n: 2, bundle: s.bundle, nodeArgs: nodeArgsFrom(s.nodeArgs) })
    towns.set(s.label, town)
    await waitFormed(town, 120_000)
    await settle(town)
    await Promise.all(town.children.map(async c => c.ask({ cmd: 'endow', coins: 1_000_000, seed: 100_000 }, 'endowed', 30_000)))
    await oneRun(town, 1, 500)
    console.log(`${s.label}: ${s.bundle ?? 'this checkout'}${s.nodeArgs != null ? ` (node ${s.nodeArgs})` : ''}, formed`)
  }
  for (let r = 0; r < rounds; r++) {
    // alternate which goes first, so neither always follows the other's burst
    const order = r % 2 === 0 ? sides : [...sides].reverse()
    for (const s of order) {
      const town = towns.get(s.label)!
      for (const c of concurrency) {
        const cpu0 = await cpuMsByChild(town.children)
        const run = await oneRun(town, c, seconds * 1000)
        const cpu = cpuMsSince(cpu0, await cpuMsByChild(town.children)).reduce((a, b) => a + b, 0)
        const row = { perSec: run.perSec, p50: quantile(run.lat, 0.5), cpuPerTrade: cpu / Math.max(1, run.committed) }
        const key = `${s.label} c${c}`
        rows.set(key, [...(rows.get(key) ?? []), row])
        console.log(`round ${r + 1} ${key}: ${row.perSec.toFixed(0)} trades/s, p50 ${row.p50.toFixed(2)} ms, CPU ${row.cpuPerTrade.toFixed(2)} ms per trade (both villagers)${run.saveP50 != null ? `, synced writes ${run.saves!.toFixed(2)} per trade, p50 ${run.saveP50.toFixed(2)} ms` : ''}`)
      }
    }
  }
  console.log('\nmedians over the rounds:')
  for (const [key, list] of rows) {
    console.log(`  ${key}: ${median(list.map(x => x.perSec)).toFixed(0)} trades/s, p50 ${median(list.map(x => x.p50)).toFixed(2)} ms (${list.map(x => x.p50.toFixed(2)).join(', ')}), CPU ${median(list.map(x => x.cpuPerTrade)).toFixed(2)} ms per trade`)
  }
  if (process.env.PROF != null) {
    const dir = path.resolve('.scratch/trade-prof')
    await mkdir(dir, { recursive: true })
    const town = towns.get('B')!
    await oneRun(town, concurrency[0]!, seconds * 1000, path.join(dir, `c${concurrency[0]}`))
    console.log(formatSummary(await summarize(town.children.map(c => path.join(dir, `c${concurrency[0]}-${c.name}.cpuprofile`)), 40), 40))
  }
} finally {
  for (const town of towns.values()) await stopTown(town)
}
