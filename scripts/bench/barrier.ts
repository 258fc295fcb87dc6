/**
 * Barrier, joining and memory: the same N villagers, each its own OS process,
 * acting the instant a period starts, in a Meshtown town and in the central
 * coordinator baseline (long-poll, and polling every second), one after the
 * other in the same run.
 */
import { rm } from 'node:fs/promises'
import path from 'node:path'
import { seededRng } from '../../src/rooms/rng.js'
import { Child, sleep } from './lib/child.js'
import { median, nowMs, quantile, spread, sum, type Spread } from './lib/stats.js'
import { JOIN_TIMEOUT_MS, type JoinResult } from './lib/joins.js'
import { PERF_NODE_ARGS, startPerf, type PerfSummary } from './perf-summary.js'
import {
  answerMs, cpuMsByChild, formTimeoutMs, currentIndex, runPeriods, settle, describeSettled, warmUp, spawnBaselineVillager, spawnMeshVillagers, startBaselineTown, startMeshTown, stopTown, waitFormed, perfRoles,
  type BarrierRun, type ProcessReport, type Town, type TownKind
} from './lib/towns.js'

export interface BarrierOptions {
  sizes: number[]
  periods: number
  /** Periods per run for the 1 s polling baseline (each takes about a second). */
  pollPeriods: number
  runs: number
  /** Meshtown variants to measure besides the code as it is: patch names (lib/patches.ts). */
  patches: string[]
  /** More variants, measured only at N <= 10 (each costs a town start). */
  smallPatches: string[]
  /** Towns of N villagers with K peers per OS process, measured as their own variant: [N, K] pairs. */
  packed?: Array<[n: number, perProcess: number]>
  /**
   * Towns larger than the sizes, measured only with K peers per process (N processes of one are past
   * what the machine holds) and against the long-poll baseline; no joins.
   */
  large?: Array<[n: number, perProcess: number]>
  /** Their villagers' --evict-after, ms (default: the villager's own) */
  largeEvictAfterMs?: number
  joins: number
  /** Agents' think time while a joiner comes in (the town must be moving for it to be admitted). */
  joinPaceMs: number
  /** Joins measured again into the same town, its agents thinking this long per period (0 = not measured). */
  joinThinkMs: number
  /** How long the idle town's CPU is measured. */
  idleMs: number
  /** How long each town runs periods, unmeasured, before its measured runs (both designs alike). */
  warmMs: number
  profileDir?: string
  profileSize?: number
  /** Record the machine with perf over the last run of each Meshtown town of the profiled size (files here). */
  perfDir?: string
  log: (line: string) => void
}

export interface VariantResult {
  kind: TownKind
  variant: string
  n: number
  runs: BarrierRun[]
  p50: Spread
  p99: Spread
  periodsPerSec: Spread
  /** p50 from the last vote's hand-over to the network (after its synced write). */
  networkP50: Spread
  rssMB: Spread
  /** CPU seconds per period summed over the town's processes (from the last run). */
  cpuMsPerPeriod?: number
  /** CPU cores the whole town (villager processes) uses while nobody acts. */
  idleCores?: number
  join?: JoinResult
  /** Joins into the same town with its agents thinking `joinThinkMs` per period. */
  joinThinking?: JoinResult
  formMs: number
  /** From formed until the start-up work was over (settle), before the idle and barrier measurements. */
  settleMs?: number
  /** perf over the last run (--perf): the town's CPU by activity, process, thread and function. */
  perf?: { periods: number, summary: PerfSummary }
  error?: string
}

function summarize (kind: TownKind, variant: string, n: number, runs: BarrierRun[], reps: ProcessReport[], formMs: number): VariantResult {
  return {
    kind,
    variant,
    n,
    runs,
    p50: spread(runs.map(r => r.p50)),
    p99: spread(runs.map(r => r.p99)),
    periodsPerSec: spread(runs.map(r => r.periodsPerSec)),
    networkP50: spread(runs.map(r => quantile(r.networkLatencies, 0.5))),
    rssMB: spread(reps.map(r => r.rss / 1048576)),
    formMs
  }
}

async function measureTown (town: Town, kind: TownKind, variant: string, periods: number, o: BarrierOptions, formStarted: number): Promise<VariantResult> {
  // a town of 50 processes on 2 cores takes minutes to start and form (every link set up on
  // both sides, every event loop saturated meanwhile): reported as "formed in", not cut short
  await waitFormed(town, formTimeoutMs(town.n))
  const formMs = nowMs() - formStarted
  const settled = await settle(town)
  // how long a period may take before a run gives up on it
  const periodMs = kind === 'baseline-poll' ? 3_000 : 2_000 + 60 * town.n
  o.log(`  ${variant} N=${town.n}: formed in ${(formMs / 1000).toFixed(1)} s; start-up settled at ${describeSettled(settled)}`)
  if (o.warmMs > 0) {
    const warm0 = nowMs()
    const warmed = await warmUp(town, o.warmMs, periodMs)
    o.log(`  ${variant} N=${town.n}: warmed up, ${warmed} periods in ${((nowMs() - warm0) / 1000).toFixed(0)} s, not measured`)
  }
  // what the town costs while nobody acts (heartbeats, re-publishes, status notices, DHT lookups): after
  // the warm-up, a running town in a period nobody has acted in yet, as between its agents' turns
  const idleCores = await idleCpu(town, o.idleMs)
  o.log(`  ${variant} N=${town.n}: idle, the town uses ${idleCores.toFixed(2)} cores`)
  const runs: BarrierRun[] = []
  let perfResult: VariantResult['perf']
  let last: ProcessReport[] = []
  const cpuPerPeriod: number[] = []
  for (let r = 0; r < o.runs; r++) {
    // the last run of a Meshtown town of the profiled size is the one profiled (--profile) and recorded (--perf)
    const profiled = r === o.runs - 1 && town.n === profiledSize(o) && kind === 'meshtown'
    const slug = variant.replace(/[^a-z0-9]+/gi, '-')
    const profile = o.profileDir != null && profiled ? path.join(o.profileDir, slug) : undefined
    if (profile != null) { const { mkdir } = await import('node:fs/promises'); await mkdir(profile, { recursive: true }) }
    const timeout = Math.max(60_000, periods * periodMs)
    const perfFile = o.perfDir != null && profiled ? path.join(o.perfDir, `${slug}-n${town.n}.data`) : undefined
    const perf = perfFile == null ? undefined : await startPerf(perfFile, perfRoles(town))
    const { run, reports } = await runPeriods(town, periods, timeout, 0, profile)
    if (perf != null) {
      perfResult = { periods: run.periods, summary: await perf.stop() }
      // V8's perf maps (~1 MB a process) served the summary; none is left behind in /tmp
      await Promise.all([town.infra, ...town.children].map(async c => rm(`/tmp/perf-${c.pid}.map`, { force: true })))
    }
    runs.push(run)
    if (run.cpuMs != null && run.periods > 0) cpuPerPeriod.push(run.cpuMs / run.periods)
    last = reports
    o.log(`  ${variant} N=${town.n} run ${r + 1}/${o.runs}: ${run.periods} periods, p50 ${run.p50.toFixed(1)} ms, p99 ${run.p99.toFixed(1)} ms, ${run.periodsPerSec.toFixed(2)} periods/s${run.incomplete > 0 ? `, ${run.incomplete} incomplete` : ''}`)
  }
  const result = summarize(kind, variant, town.n, runs, last, formMs)
  result.cpuMsPerPeriod = cpuPerPeriod.length > 0 ? median(cpuPerPeriod) : undefined
  result.idleCores = idleCores
  result.settleMs = settled.ms
  result.perf = perfResult
  return result
}

/** The town size whose last Meshtown run is profiled and recorded: the largest of the sizes unless given. */
function profiledSize (o: BarrierOptions): number {
  return o.profileSize ?? Math.max(...o.sizes)
}

export async function idleCpu (town: Town, ms: number): Promise<number> {
  const cpu = async (): Promise<number> => sum(await cpuMsByChild(town.children.filter(c => c.alive)))
  const c0 = await cpu()
  const t0 = nowMs()
  await sleep(ms)
  return (await cpu() - c0) / (nowMs() - t0)
}

const JOINER_QUIET_CORES = 0.15
const JOINER_QUIET_MAX_MS = 20_000

/** Until a new process's CPU over a second falls below JOINER_QUIET_CORES (its start-up work is over), at most JOINER_QUIET_MAX_MS. */
async function startUpOver (child: Child): Promise<void> {
  const until = nowMs() + JOINER_QUIET_MAX_MS
  while (nowMs() < until && child.alive) {
    const [c0] = await cpuMsByChild([child])
    const t0 = nowMs()
    await sleep(1_000)
    const [c1] = await cpuMsByChild([child])
    if ((c1! - c0!) / (nowMs() - t0) < JOINER_QUIET_CORES) return
  }
}

/**
 * Time from a new villager process's start to its first accepted vote, while the town keeps
 * moving at `townPaceMs` of think time per period. The joiner itself acts the moment it may:
 * what is measured is the system's, not its agent's thinking.
 */
async function measureJoins (town: Town, o: BarrierOptions, townPaceMs: number): Promise<JoinResult> {
  const totals: number[] = []
  const phases: Record<string, number[]> = {}
  // the town moves on at the agents' pace, so that a join can be admitted at a boundary
  for (const c of town.children) c.send({ cmd: 'go', pace: townPaceMs })
  // a join's wait for admission depends on where in the period it comes; without a random start the
  // waits between joins (a second at a time) kept every join at about the same place (seeded: runs repeat)
  const rng = seededRng('join', town.kind, town.n, townPaceMs)
  for (let j = 0; j < o.joins; j++) {
    await sleep(Math.floor(rng() * (townPaceMs + 100)))
    // after the joiners of an earlier measurement, which are members now
    const index = town.names.length
    const name = `v${index}`
    const spawnAt = nowMs()
    let child: Child
    try {
      if (town.kind === 'meshtown') child = await spawnMeshVillagers(town, 'benchtown', index, 1, [])
      else child = await spawnBaselineVillager(town, name, { mode: town.kind === 'baseline-poll' ? 'poll' : 'longpoll' })
      child.send({ cmd: 'go', pace: 0, townOnly: true })
      const first = await child.waitFor(e => e.ev === 'first-vote', JOIN_TIMEOUT_MS, 'first vote')
      totals.push(first.t - spawnAt)
      const rep = await child.ask({ cmd: 'report' }, 'report', answerMs(town))
      const t = rep.peers[0].t as Record<string, number | undefined>
      const add = (k: string, to: number | undefined, from: number | undefined): void => {
        if (to != null && from != null && Number.isFinite(to - from)) (phases[k] ??= []).push(to - from)
      }
      add('spawn → main (node start)', t.main, spawnAt)
      add('main → modules loaded', t.imported, t.main)
      add('modules → peer started', t.peer, t.imported)
      add('peer → villager created', t.node, t.peer)
      if (t.tookUp != null) {
        // Meshtown: finding the town (DHT), linking to a member and its snapshot; then admission at a boundary
        add('villager created → took up the town', t.tookUp, t.node)
        add('took up the town → member', t.member, t.tookUp)
      } else {
        add('→ member of the town', t.member, t.node ?? t.connected ?? t.main)
      }
      add('member → first vote', t.firstVote, t.member)
      o.log(`  join ${town.kind} N=${town.n}+${j}, town thinking ${townPaceMs} ms: ${(first.t - spawnAt).toFixed(0)} ms`)
      // the next join comes into a town, not into a town and a newcomer still busy starting up (its DHT
      // lookups, identify, catch-up): every join before this rule competed with the one before it
      await startUpOver(child)
    } catch (err: any) {
      o.log(`  join ${town.kind}: failed: ${err.message}`)
    }
  }
  for (const c of town.children) c.send({ cmd: 'halt' })
  const out: Record<string, Spread> = {}
  for (const [k, v] of Object.entries(phases)) out[k] = spread(v)
  return { total: spread(totals), phases: out, samples: totals.length, attempts: o.joins, townPaceMs }
}

export async function benchBarrier (o: BarrierOptions): Promise<VariantResult[]> {
  const results: VariantResult[] = []
  const packed = [...(o.packed ?? []), ...(o.large ?? [])]
  const sizes = [...new Set([...o.sizes, ...(o.large ?? []).map(([n]) => n)])].sort((a, b) => a - b)
  for (const n of sizes) {
    const large = !o.sizes.includes(n)
    const packedAtN = packed.filter(([size]) => size === n).map(([, k]) => ({ kind: 'meshtown' as const, variant: `meshtown, ${k} per process`, perProcess: k }))
    const evict = o.largeEvictAfterMs
    const variants: Array<{ kind: TownKind, variant: string, patch?: string, perProcess?: number, evictAfterMs?: number }> = large
      ? [...packedAtN.map(v => evict == null ? v : { ...v, variant: `${v.variant}, evict-after ${evict / 1000} s`, evictAfterMs: evict }), { kind: 'baseline-longpoll', variant: 'baseline long-poll' }]
      : [
          { kind: 'meshtown', variant: 'meshtown' },
          ...packedAtN,
          ...(n <= 10 ? o.smallPatches : []).map(p => ({ kind: 'meshtown' as const, variant: `meshtown+${p.replaceAll(',', '+')}`, patch: p })),
          ...o.patches.map(p => ({ kind: 'meshtown' as const, variant: `meshtown+${p.replaceAll(',', '+')}`, patch: p })),
          { kind: 'baseline-longpoll', variant: 'baseline long-poll' },
          { kind: 'baseline-poll', variant: 'baseline poll 1 s' }
        ]
    for (const v of variants) {
      o.log(`barrier: ${v.variant}, N=${n}`)
      const started = nowMs()
      let town: Town | undefined
      try {
        town = v.kind === 'meshtown'
          ? await startMeshTown({ n, patch: v.patch, launchConcurrency: 3, perProcess: v.perProcess, evictAfterMs: v.evictAfterMs, nodeArgs: o.perfDir != null && n === profiledSize(o) ? PERF_NODE_ARGS : undefined })
          : await startBaselineTown({ n, mode: v.kind === 'baseline-poll' ? 'poll' : 'longpoll' })
        const periods = v.kind === 'baseline-poll' ? o.pollPeriods : o.periods
        const result = await measureTown(town, v.kind, v.variant, periods, o, started)
        if (o.joins > 0 && !large && v.kind !== 'baseline-poll' && v.perProcess == null) {
          result.join = await measureJoins(town, o, o.joinPaceMs)
          if (o.joinThinkMs > 0) result.joinThinking = await measureJoins(town, o, o.joinThinkMs)
        }
        results.push(result)
      } catch (err: any) {
        o.log(`  ${v.variant} N=${n} failed: ${err.message}`)
        results.push({ kind: v.kind, variant: v.variant, n, runs: [], p50: spread([]), p99: spread([]), periodsPerSec: spread([]), networkP50: spread([]), rssMB: spread([]), formMs: NaN, error: String(err.message) })
      } finally {
        if (town != null) await stopTown(town)
      }
    }
  }
  return results
}

export { median }
