/**
 * Trades: committed atomic trades per second and latency (propose -> committed at
 * the initiator) between two villagers, and across ten (five pairs at once), with
 * every step durable. Meshtown: direct, on one long-lived stream per pair of
 * peers, LevelDB synced writes on both sides. Baseline: relayed through the
 * central coordinator (request, accept, confirm, each journalled and fsync'ed);
 * the counterparty learns of a proposal, and the initiator of an acceptance, by
 * long-polling their event feed.
 */
import { nowMs, quantile, spread, type Spread } from './lib/stats.js'
import { describeSettled, flushDisk, settle, startBaselineTown, startMeshTown, stopTown, waitFormed, type Town, type TownKind } from './lib/towns.js'

export interface TradeOptions {
  villagers: number[]
  /** Trades in flight per initiator. */
  concurrency: number[]
  durationMs: number
  runs: number
  /** Meshtown variants to measure too (lib/patches.ts), e.g. lazy-delivered. */
  patches: string[]
  profileDir?: string
  log: (line: string) => void
}

export interface TradeResult {
  kind: TownKind
  variant: string
  /** Meshtown: synced writes per committed trade (both sides) and their median duration. */
  savesPerTrade?: Spread
  saveP50?: Spread
  villagers: number
  concurrency: number
  perSec: Spread
  p50: Spread
  p99: Spread
  committed: number
  failed: number
  error?: string
}

export async function oneRun (town: Town, concurrency: number, durationMs: number, profile?: string): Promise<{ perSec: number, lat: number[], committed: number, failed: number, saves?: number, saveP50?: number }> {
  const pairs: Array<[string, string]> = []
  for (let i = 0; i + 1 < town.names.length; i += 2) pairs.push([town.names[i]!, town.names[i + 1]!])
  if (town.kind === 'meshtown') await Promise.all(town.children.map(async c => c.ask({ cmd: 'reset-phases' }, 'phases-reset', 30_000)))
  if (profile != null) await Promise.all(town.children.map(async c => c.ask({ cmd: 'prof-start' }, 'prof-started', 30_000)))
  const done = await Promise.all(pairs.map(async ([a, b]) => town.childOf.get(a)!.ask({ cmd: 'trade', from: a, target: b, concurrency, durationMs, count: 1_000_000 }, 'trades-done', durationMs + 60_000)))
  if (profile != null) await Promise.all(town.children.map(async c => c.ask({ cmd: 'prof-stop', file: `${profile}-${c.name}.cpuprofile` }, 'prof-stopped', 60_000)))
  const committed = done.reduce((s, d) => s + d.committed, 0)
  const failed = done.reduce((s, d) => s + d.failed, 0)
  const first = Math.min(...done.map(d => d.first))
  const last = Math.max(...done.map(d => d.last))
  let saves: number | undefined
  let saveP50: number | undefined
  if (town.kind === 'meshtown') {
    const reps = await Promise.all(town.children.map(async c => c.ask({ cmd: 'report' }, 'report', 30_000)))
    const all = reps.flatMap(r => (r.peers as any[]).flatMap(p => p.phases?.save ?? [])) as number[]
    saves = all.length / Math.max(1, committed)
    saveP50 = quantile(all, 0.5)
  }
  return { perSec: committed / ((last - first) / 1000), lat: done.flatMap(d => d.lat), committed, failed, saves, saveP50 }
}

/** How long each town trades before the measured runs begin. */
const WARMUP_MS = 20_000

export async function benchTrades (o: TradeOptions): Promise<TradeResult[]> {
  const results: TradeResult[] = []
  for (const n of o.villagers) {
    const variants = [
      { kind: 'meshtown' as const, variant: 'meshtown', patch: undefined as string | undefined },
      ...o.patches.map(p => ({ kind: 'meshtown' as const, variant: `meshtown+${p}`, patch: p.replaceAll('+', ',') })),
      { kind: 'baseline-longpoll' as const, variant: 'baseline (relayed)', patch: undefined }
    ]
    for (const { kind, variant, patch } of variants) {
      o.log(`trades: ${variant}, ${n} villagers`)
      let town: Town | undefined
      try {
        town = kind === 'meshtown' ? await startMeshTown({ n, launchConcurrency: 3, patch }) : await startBaselineTown({ n, mode: 'longpoll' })
        await waitFormed(town, 120_000 + 4_000 * n)
        const settled = await settle(town)
        const flushMs = await flushDisk()
        o.log(`  ${variant}, ${n} villagers: formed; start-up settled at ${describeSettled(settled)}; disk flushed in ${flushMs.toFixed(0)} ms`)
        await Promise.all(town.children.map(async c => c.ask({ cmd: 'endow', coins: 1_000_000, seed: 100_000 }, 'endowed', 30_000)))
        if (kind !== 'meshtown') await Promise.all(town.children.map(async c => c.ask({ cmd: 'events' }, 'listening', 30_000)))
        // warm up: the first trade opens the streams
        await oneRun(town, 1, 500)
        // Not measured: the first ~20 s of a new town. Its synced writes took 0.97-1.26 ms at the median
        // in the runs that began right after formation against 0.74 ms in the third run (the same build,
        // minutes apart), and trades one in flight 6.8-7.9 ms against 4.4 ms. Both designs get the same warm-up.
        const warm = await oneRun(town, 1, WARMUP_MS)
        o.log(`  ${variant}, ${n} villagers: warmed up (${warm.committed} trades over ${WARMUP_MS / 1000} s, not counted)`)
        for (const c of o.concurrency) {
          const perSec: number[] = []
          const p50: number[] = []
          const p99: number[] = []
          let committed = 0
          let failed = 0
          const saves: number[] = []
          const saveP50: number[] = []
          for (let r = 0; r < o.runs; r++) {
            const profile = o.profileDir != null && kind === 'meshtown' && r === o.runs - 1 && c === Math.max(...o.concurrency) && n === Math.min(...o.villagers) ? `${o.profileDir}/trades-${variant.replace(/[^a-z0-9]+/gi, '-')}-n${n}-c${c}` : undefined
            const run = await oneRun(town, c, o.durationMs, profile)
            perSec.push(run.perSec)
            p50.push(quantile(run.lat, 0.5))
            p99.push(quantile(run.lat, 0.99))
            committed += run.committed
            failed += run.failed
            if (run.saves != null) saves.push(run.saves)
            if (run.saveP50 != null) saveP50.push(run.saveP50)
            o.log(`  ${variant} ${n} villagers, ${c} in flight: ${run.perSec.toFixed(0)} trades/s, p50 ${quantile(run.lat, 0.5).toFixed(2)} ms, p99 ${quantile(run.lat, 0.99).toFixed(2)} ms (${run.committed} committed, ${run.failed} failed)${run.saves != null ? `; ${run.saves.toFixed(1)} synced writes per trade, p50 ${run.saveP50!.toFixed(2)} ms each` : ''}`)
          }
          results.push({ kind, variant, villagers: n, concurrency: c, perSec: spread(perSec), p50: spread(p50), p99: spread(p99), committed, failed, ...(saves.length > 0 ? { savesPerTrade: spread(saves), saveP50: spread(saveP50) } : {}) })
        }
      } catch (err: any) {
        o.log(`  trades ${variant} failed: ${err.message}`)
        for (const c of o.concurrency) results.push({ kind, variant, villagers: n, concurrency: c, perSec: spread([]), p50: spread([]), p99: spread([]), committed: 0, failed: 0, error: String(err.message) })
      } finally {
        if (town != null) await stopTown(town)
      }
    }
  }
  return results
}

export { nowMs }
