/**
 * Towns of OS processes for the benchmarks: a Meshtown town (a bootstrap peer and
 * villager processes running scripts/bench/mesh-node.ts) and a baseline town (the
 * central coordinator and baseline villager processes), driven the same way.
 */
import { execFile, execFileSync } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import path from 'node:path'
import { Child, sleep, stopAll, type ChildEvent } from './child.js'
import { countsOf, mean, nowMs, quantile, sum } from './stats.js'

export type TownKind = 'meshtown' | 'baseline-poll' | 'baseline-longpoll'

/** A town's processes by pid, named for perf-summary.ts (which counts only these as the town). */
export function perfRoles (town: Town): Map<number, string> {
  return new Map([[town.infra.pid, 'bootstrap'], ...town.children.map(c => [c.pid, 'villager processes'] as [number, string])])
}

export interface Town {
  kind: TownKind
  n: number
  root: string
  infra: Child
  children: Child[]
  /** Villager names in the order they were started. */
  names: string[]
  /** Where each villager lives. */
  childOf: Map<string, Child>
  bootstrapAddr?: string
  coordinatorUrl?: string
  evictAfterMs?: number
  /** How long a stopping child gets before SIGKILL (a profiled one writes its profile on exit). */
  graceMs?: number
}

export interface MeshTownOptions {
  n: number
  /** Villager peers per OS process (1 = each its own process). */
  perProcess?: number
  evictAfterMs?: number
  republishMs?: number
  /** Experimental patches for the villagers (scripts/bench/lib/patches.ts), comma-separated. */
  patch?: string
  nodeArgs?: string[]
  /** Processes launched at once (2 cores: loading libp2p costs ~1.5 s of CPU each). */
  launchConcurrency?: number
  town?: string
  verbose?: boolean
  /** Extra node flags for the villager processes only (e.g. --cpu-prof for one of them). */
  villagerNodeArgs?: (index: number) => string[]
  /** A mesh-node bundle other than this checkout's (A/B probes). */
  bundle?: string
}

export async function tempRoot (label: string): Promise<string> {
  return mkdtemp(path.join(tmpdir(), `meshtown-bench-${label}-`))
}

async function pool<T> (items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items]
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, async () => {
    while (queue.length > 0) await fn(queue.shift()!)
  }))
}

export async function startMeshTown (o: MeshTownOptions): Promise<Town> {
  const root = await tempRoot('mesh')
  const townName = o.town ?? 'benchtown'
  const infra = new Child('bootstrap', 'mesh-node.ts', ['--role', 'bootstrap', '--root', root], { nodeArgs: o.nodeArgs, verbose: o.verbose, bundle: o.bundle })
  const ready = await infra.waitFor(e => e.ev === 'ready', 60_000, 'bootstrap ready')
  const perProcess = o.perProcess ?? 1
  const town: Town = { kind: 'meshtown', n: o.n, root, infra, children: [], names: [], childOf: new Map(), bootstrapAddr: ready.addr, evictAfterMs: o.evictAfterMs }
  const groups: Array<{ first: number, count: number }> = []
  for (let first = 0; first < o.n; first += perProcess) groups.push({ first, count: Math.min(perProcess, o.n - first) })
  await pool(groups.map((g, i) => ({ ...g, i })), o.launchConcurrency ?? 4, async (g) => {
    await spawnMeshVillagers(town, townName, g.first, g.count, [...(o.nodeArgs ?? []), ...(o.villagerNodeArgs?.(g.i) ?? [])], o)
  })
  return town
}

export async function spawnMeshVillagers (town: Town, townName: string, first: number, count: number, nodeArgs: string[], o: Pick<MeshTownOptions, 'evictAfterMs' | 'republishMs' | 'verbose' | 'patch' | 'bundle'> = {}): Promise<Child> {
  const args = ['--role', 'villager', '--town', townName, '--bootstrap', town.bootstrapAddr!, '--root', town.root, '--prefix', 'v', '--first', String(first), '--count', String(count)]
  if (o.evictAfterMs != null) args.push('--evict-after', String(o.evictAfterMs))
  if (o.republishMs != null) args.push('--republish', String(o.republishMs))
  if (o.patch != null && o.patch !== '') args.push('--patch', o.patch)
  const child = new Child(`mesh-v${first}${count > 1 ? `-${first + count - 1}` : ''}`, 'mesh-node.ts', args, { nodeArgs, verbose: o.verbose, bundle: o.bundle })
  town.children.push(child)
  // a process of many peers starts them one after another while the first ones already link and look up
  const started = await child.waitFor(e => e.ev === 'started', Math.max(120_000, 30_000 * count), 'villager start')
  for (const name of started.names as string[]) { town.names.push(name); town.childOf.set(name, child) }
  return child
}

export interface BaselineTownOptions {
  n: number
  mode: 'poll' | 'longpoll'
  pollMs?: number
  launchConcurrency?: number
  sync?: boolean
  verbose?: boolean
}

export async function startBaselineTown (o: BaselineTownOptions): Promise<Town> {
  const root = await tempRoot('base')
  const infra = new Child('coordinator', 'baseline/coordinator.ts', ['--journal', path.join(root, 'journal.log'), ...(o.sync === false ? ['--no-sync'] : [])], { verbose: o.verbose })
  const ready = await infra.waitFor(e => e.ev === 'ready', 60_000, 'coordinator ready')
  const town: Town = { kind: o.mode === 'poll' ? 'baseline-poll' : 'baseline-longpoll', n: o.n, root, infra, children: [], names: [], childOf: new Map(), coordinatorUrl: ready.url }
  await pool(Array.from({ length: o.n }, (_, i) => i), o.launchConcurrency ?? 8, async (i) => {
    await spawnBaselineVillager(town, `v${i}`, o)
  })
  return town
}

export async function spawnBaselineVillager (town: Town, name: string, o: Pick<BaselineTownOptions, 'mode' | 'pollMs' | 'verbose'>): Promise<Child> {
  const child = new Child(`base-${name}`, 'baseline/villager.ts', ['--url', town.coordinatorUrl!, '--name', name, '--mode', o.mode, '--poll-ms', String(o.pollMs ?? 1_000)], { verbose: o.verbose })
  town.children.push(child)
  await child.waitFor(e => e.ev === 'started', 60_000, 'baseline villager start')
  town.names.push(name)
  town.childOf.set(name, child)
  return child
}

/** How long a Meshtown town of `n` processes gets to form: ~4 minutes at N = 50 on 2 cores, a third of that is starting them. */
export function formTimeoutMs (n: number): number {
  return 120_000 + 8_000 * n
}

/** Every villager sees all `n` members (Meshtown: its clock view; baseline: the coordinator's list). */
export async function waitFormed (town: Town, timeoutMs: number, n = town.n): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last: Array<{ view: number, member: boolean, evicts?: number, conns?: number }> = []
  while (Date.now() < deadline) {
    // a process of a forming town of 50 on 2 cores can take over 30 s to answer
    const statuses = await Promise.all(town.children.filter(c => c.alive).map(async c => c.ask({ cmd: 'status' }, 'status', 120_000)))
    const peers = statuses.flatMap(s => s.peers as typeof last)
    if (peers.length >= n && peers.every(p => p.view === n && p.member)) return
    last = peers
    await sleep(250)
  }
  const seen = countsOf(last.map(p => p.view)).map(([view, count]) => `${count} saw ${view}`).join(', ')
  // why: peers never linked (no view, no links), or founders evicted while the town formed (a forming town has no
  // boundary to admit them again at)
  const why = town.kind === 'meshtown'
    ? `; not members ${last.filter(p => !p.member).length}, without links ${last.filter(p => p.conns === 0).length}, evictions held ${countsOf(last.map(p => p.evicts ?? 0)).map(([e, count]) => `${e} by ${count}`).join(', ')}`
    : ''
  throw new Error(`${town.kind}: town of ${n} not formed within ${timeoutMs} ms (members seen: ${seen}${why})`)
}

/**
 * CPU ms each process has used so far, read by the OS (/proc/<pid>/stat) so that a
 * process too busy to answer (a forming town of 50 on 2 cores) still has its CPU
 * counted; asked of the process where /proc is not there.
 */
export async function cpuMsByChild (children: Child[]): Promise<number[]> {
  const tick = 1000 / clockTicksPerSecond()
  return Promise.all(children.map(async c => {
    const stat = await readFile(`/proc/${c.pid}/stat`, 'utf8').catch(() => undefined)
    if (stat == null) {
      if (!c.alive) return 0
      const m = await c.ask({ cmd: 'mem' }, 'mem', 30_000)
      return m.cpu == null ? 0 : (m.cpu.user + m.cpu.system) / 1000
    }
    // fields after the command name (which may hold spaces): utime and stime are the 12th and 13th
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) * tick
  }))
}

let ticks: number | undefined
function clockTicksPerSecond (): number {
  try {
    ticks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    ticks = 100
  }
  return ticks
}

/** Per process, what `after` adds to `before` (two readings of cpuMsByChild). */
export function cpuMsSince (before: number[], after: number[]): number[] {
  return after.map((ms, i) => ms - (before[i] ?? 0))
}

/**
 * Write back every filesystem's dirty pages and wait for it (`sync`), so that what the
 * towns before left for the kernel to write (50 LevelDB data dirs after the barrier's
 * largest town) does not queue ahead of the synced writes measured next: the trades
 * right after a full barrier run once measured each synced write at 1.0-1.3 ms against
 * 0.7-0.85 ms minutes later. Returns how long the flush took, ms.
 */
export async function flushDisk (): Promise<number> {
  const t0 = nowMs()
  await promisify(execFile)('sync').catch(() => {})
  return nowMs() - t0
}

/** What `settle` saw: the last window's cores, how long it waited, and why it stopped. */
export interface Settled {
  cores: number
  ms: number
  why: 'quiet' | 'stopped falling' | 'timeout'
}

/**
 * Wait until the town's start-up work is over (DHT table refresh, the directory's
 * fast lookups, identify, catch-up, mesh forming): until its processes together use
 * less than `maxCores` over a 2 s window, or their CPU has stopped falling
 * (`stoppedFalling`: a town of 50 processes on 2 cores idles above any fixed bar)
 * once `minFlatMs` have passed (a town of 25 held ~1.6 cores for 20 s before it fell
 * to 0.6), or `timeoutMs` passed. The bar is at most half the machine's cores: at 0.04 cores
 * per villager alone, a town of 50 on 2 cores counted as settled at once, and its
 * barrier was measured while its start-up storm still ran (a town of 50 as two
 * processes of 25 fell from 1.8 to 0.5 cores within a minute after that).
 */
export async function settle (town: Town, maxCores = Math.min(Math.max(0.3, 0.04 * town.n), availableParallelism() / 2), timeoutMs = 60_000 + 2_400 * town.n, minFlatMs = 60_000): Promise<Settled> {
  const cpu = async (): Promise<number> => sum(await cpuMsByChild(town.children.filter(c => c.alive)))
  const t0 = nowMs()
  const deadline = t0 + timeoutMs
  const windows: number[] = []
  while (nowMs() < deadline) {
    const c0 = await cpu()
    const w0 = nowMs()
    await sleep(2_000)
    windows.push((await cpu() - c0) / (nowMs() - w0))
    const cores = windows[windows.length - 1]!
    if (cores < maxCores) return { cores, ms: nowMs() - t0, why: 'quiet' }
    if (nowMs() - t0 >= minFlatMs && stoppedFalling(windows)) return { cores, ms: nowMs() - t0, why: 'stopped falling' }
  }
  return { cores: windows[windows.length - 1] ?? NaN, ms: nowMs() - t0, why: 'timeout' }
}

/** For a log line: "0.60 cores after 44 s (quiet)". */
export function describeSettled (s: Settled): string {
  return `${s.cores.toFixed(2)} cores after ${(s.ms / 1000).toFixed(0)} s (${s.why})`
}

/**
 * Whether CPU samples of equal windows have stopped falling: the last `span` windows
 * average at least `ratio` of the `span` before them. Windows of 2 s swing by a
 * quarter in a busy town, so one window is not compared with one.
 */
export function stoppedFalling (windows: readonly number[], span = 5, ratio = 0.9): boolean {
  if (windows.length < 2 * span) return false
  const last = mean(windows.slice(-span))
  const before = mean(windows.slice(-2 * span, -span))
  return last >= ratio * before
}

/**
 * How long a villager process of `town` gets to answer the harness. A town of 50 on
 * 2 cores is saturated, and a process behind the others' heartbeats took over 30 s
 * to answer once, which failed the whole measurement of its town.
 */
export function answerMs (town: Town): number {
  return 30_000 + 1_000 * town.n
}

export async function currentIndex (town: Town): Promise<number> {
  const statuses = await Promise.all(town.children.filter(c => c.alive).map(async c => c.ask({ cmd: 'status' }, 'status', answerMs(town))))
  return Math.max(...statuses.flatMap(s => (s.peers as Array<{ at: number }>).map(p => p.at)))
}

export interface PeerReport {
  name: string
  t: Record<string, number>
  votes: Array<[number, number, number]>
  adv: Array<[number, number, number]>
  rejections?: Record<string, number>
  verifications?: number
}

export interface ProcessReport {
  child: string
  pid: number
  rss: number
  cpu: { user: number, system: number }
  peers: PeerReport[]
}

export async function reports (town: Town, timeoutMs = answerMs(town)): Promise<ProcessReport[]> {
  const out = await Promise.all(town.children.filter(c => c.alive).map(async c => {
    const r = await c.ask({ cmd: 'report' }, 'report', timeoutMs)
    return { child: c.name, pid: c.pid, rss: r.rss, cpu: r.cpu, peers: r.peers } as ProcessReport
  }))
  return out
}

export interface BarrierRun {
  periods: number
  /** Per period: last vote (act) -> every peer advanced, ms. */
  latencies: number[]
  /** The same, counted from the last vote's hand-over to the network (after its durable write). */
  networkLatencies: number[]
  p50: number
  p99: number
  periodsPerSec: number
  incomplete: number
  elapsedMs: number
  /** CPU time of all the town's villager processes from the start of the run to the reports. */
  cpuMs?: number
}

/**
 * Let every villager act instantly for `periods` periods from where the town is,
 * then read everyone's timings.
 */
export async function runPeriods (town: Town, periods: number, timeoutMs: number, pace = 0, profileDir?: string): Promise<{ run: BarrierRun, reports: ProcessReport[] }> {
  const start = await currentIndex(town)
  const stopAt = start + periods
  const alive = town.children.filter(c => c.alive)
  if (profileDir != null) await Promise.all(alive.map(async c => c.ask({ cmd: 'prof-start' }, 'prof-started', answerMs(town))))
  const cpuBefore = (await Promise.all(alive.map(async c => c.ask({ cmd: 'mem' }, 'mem', answerMs(town))))).reduce((s, m) => s + m.cpu.user + m.cpu.system, 0)
  const marks = alive.map(c => c.events.length)
  const t0 = nowMs()
  for (const c of alive) c.send({ cmd: 'go', stopAt, pace })
  await Promise.allSettled(alive.map(async (c, i) => c.waitFor(e => e.ev === 'reached' && c.events.indexOf(e) >= marks[i]!, timeoutMs, 'reached')))
  await Promise.all(alive.map(async c => c.ask({ cmd: 'halt' }, 'halted', answerMs(town)).catch(() => undefined)))
  if (profileDir != null) {
    await Promise.all(alive.map(async c => c.ask({ cmd: 'prof-stop', file: path.join(profileDir, `${town.kind}-n${town.n}-${c.name}.cpuprofile`) }, 'prof-stopped', 60_000).catch(() => undefined)))
  }
  const reps = await reports(town)
  const run = barrierStats(reps, start, stopAt, t0)
  run.cpuMs = (reps.reduce((s, r) => s + r.cpu.user + r.cpu.system, 0) - cpuBefore) / 1000
  return { run, reports: reps }
}

/**
 * Runs the town's periods, unmeasured, for about `ms`: code that has run a few
 * dozen times is not yet optimised, and a town of 10 took 124 ms of CPU per period
 * over its first 60 periods against 86-88 ms over 600 (`run-probe.ts 10`), so runs
 * of 15 periods straight after formation measured a town still warming up. Batches
 * of about 3 s at the rate the town shows. Returns the periods run.
 */
export async function warmUp (town: Town, ms: number, periodTimeoutMs: number): Promise<number> {
  const t0 = nowMs()
  let done = 0
  let batch = 5
  while (nowMs() - t0 < ms) {
    const b0 = nowMs()
    const { run } = await runPeriods(town, batch, Math.max(60_000, batch * periodTimeoutMs))
    done += run.periods
    const perSec = run.periods / Math.max(1, nowMs() - b0) * 1000
    batch = Math.min(500, Math.max(1, Math.round(perSec * 3)))
  }
  return done
}

export function barrierStats (reps: ProcessReport[], start: number, stopAt: number, t0: number): BarrierRun {
  const peers = reps.flatMap(r => r.peers)
  const latencies: number[] = []
  const networkLatencies: number[] = []
  let incomplete = 0
  let firstVote = Infinity
  let lastAdvance = 0
  for (let k = start; k < stopAt; k++) {
    let lastAct = 0
    let lastSubmit = 0
    let allAdv = 0
    let missing = false
    for (const p of peers) {
      const v = p.votes.find(x => x[0] === k)
      if (v != null) {
        const act = v[1] > 0 ? v[1] : v[2]
        lastAct = Math.max(lastAct, act)
        lastSubmit = Math.max(lastSubmit, v[2])
        if (k === start) firstVote = Math.min(firstVote, act)
      }
      const a = p.adv.find(x => x[0] <= k && x[1] > k && x[2] >= t0)
      if (a == null) missing = true
      else allAdv = Math.max(allAdv, a[2])
    }
    if (missing || lastAct === 0) { incomplete++; continue }
    latencies.push(allAdv - lastAct)
    networkLatencies.push(allAdv - lastSubmit)
    lastAdvance = Math.max(lastAdvance, allAdv)
  }
  const done = latencies.length
  const elapsedMs = lastAdvance - firstVote
  return {
    periods: done,
    latencies,
    networkLatencies,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    periodsPerSec: done > 0 && elapsedMs > 0 ? done / (elapsedMs / 1000) : NaN,
    incomplete,
    elapsedMs
  }
}

export async function stopTown (town: Town): Promise<void> {
  await stopAll(town.children, town.graceMs ?? 3_000)
  await town.infra.stop(3_000)
  await rm(town.root, { recursive: true, force: true }).catch(() => {})
}

export function lastEvent (c: Child, pred: (e: ChildEvent) => boolean): ChildEvent | undefined {
  for (let i = c.events.length - 1; i >= 0; i--) if (pred(c.events[i]!)) return c.events[i]
  return undefined
}
