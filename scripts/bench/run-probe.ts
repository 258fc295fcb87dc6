import path from 'node:path'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { availableParallelism } from 'node:os'
import { readFile } from 'node:fs/promises'
import { sum } from './lib/stats.js'
import { cpuMsByChild, cpuMsSince, describeSettled, formTimeoutMs, startMeshTown, waitFormed, stopTown, runPeriods, settle, warmUp, perfRoles } from './lib/towns.js'
import { nodeArgsFrom, prepareBundles } from './lib/child.js'
import { summarize, formatSummary } from './profile-summary.js'
import { startPerf, formatPerfSummary } from './perf-summary.js'
const n = Number(process.argv[2] ?? 10)
const patch = process.argv[3] ?? ''
const periods = Number(process.env.PERIODS ?? 20)
await prepareBundles(['mesh-node.ts'])
// NODE_ARGS: node flags for every process of the town (e.g. heap settings), space-separated
// BUNDLE: another build's dist/bench/mesh-node.mjs (run alternately with this checkout's to compare)
const pollution: ChildProcess[] = []
const town = await startMeshTown({ n, patch, perProcess: Number(process.env.PER_PROCESS ?? 1), nodeArgs: nodeArgsFrom(process.env.NODE_ARGS), bundle: process.env.BUNDLE })
const stats = async (): Promise<Record<string, number>> => {
  const g = await town.children[0]!.ask({ cmd: 'gossip-stats' }, 'gossip-stats', 30000)
  const cur: Record<string, number> = { ...g.peers[0].net.streams }
  for (const [t, v] of Object.entries(g.peers[0].topics as Record<string, { n: number }>)) cur[t] = v.n
  for (const [k, v] of Object.entries(g.crypto as Record<string, number>)) cur[`ed25519 ${k}`] = v
  // the clock's own signature checks of statements (votes, joins, evictions), memo misses only
  cur['statement checks'] = g.peers[0].verifications
  return cur
}
try {
  const t0 = Date.now()
  await waitFormed(town, Math.max(300_000, formTimeoutMs(n)))
  console.log(`formed in ${((Date.now() - t0) / 1000).toFixed(0)} s`)
  // PIN=1: each villager process (every thread) held to one core, taken in turn, so that the kernel cannot
  // place a woken process on the core of the one that woke it (measures what that placement costs a period)
  if (process.env.PIN === '1') {
    const cores = availableParallelism()
    town.children.forEach((c, i) => { execFileSync('taskset', ['-a', '-p', '-c', String(i % cores), String(c.pid)], { stdio: 'ignore' }) })
    console.log(`pinned ${town.children.length} villager processes over ${cores} cores`)
  }
  // as the barrier benchmark does: wait until the start-up work (DHT refresh, fast lookups) is over
  if (process.env.NO_SETTLE == null) console.log(`settled at ${describeSettled(await settle(town))}`)
  const g0 = await town.children[0]!.ask({ cmd: 'gossip-stats' }, 'gossip-stats', 30000)
  console.log(`v0 at formation: conns ${g0.peers[0].conns}, opened ${g0.peers[0].net.opened}, closed ${g0.peers[0].net.closed}`)
  // POLLUTERS=K: K more processes share the cores, each waking every 30 ms to read 1 MB of its own 32 MB
  // (cache-polluter.mjs; ~1.5 % of a core each): little CPU, but what the villagers had in the caches is gone
  // more often. Their CPU is not counted; a villager's CPU per period that grows with them is cache misses.
  const polluters = Number(process.env.POLLUTERS ?? 0)
  for (let i = 0; i < polluters; i++) pollution.push(spawn(process.execPath, [path.join(import.meta.dirname, 'cache-polluter.mjs'), '32', '1', '30'], { stdio: 'ignore' }))
  if (polluters > 0) console.log(`${polluters} cache polluters running`)
  await runPeriods(town, 3, 120_000)
  // WARM_MS: run periods unmeasured first, as the barrier benchmark does (--warmup)
  if (process.env.WARM_MS != null) console.log(`warmed up: ${await warmUp(town, Number(process.env.WARM_MS), 5_000)} periods`)
  const s0 = await stats()
  const allPeers = async (): Promise<any[]> => (await Promise.all(town.children.map(async c => (await c.ask({ cmd: 'gossip-stats' }, 'gossip-stats', 30000)).peers))).flat()
  const sent0 = await allPeers()
  const prof = process.env.PROF != null ? path.resolve('.scratch/prof') : undefined
  if (prof != null) { const { mkdir } = await import('node:fs/promises'); await mkdir(prof, { recursive: true }) }
  // PROF_ONE=1: profile only the first villager, so that the profiler's own cost does not slow the whole town
  const one = process.env.PROF_ONE != null ? path.resolve('.scratch/prof-one') : undefined
  if (one != null) await town.children[0]!.ask({ cmd: 'prof-start' }, 'prof-started', 30000)
  const cpu0 = await cpuMsByChild([town.infra, ...town.children])
  // how often each villager process's main thread slept and woke (voluntary switches), and was pushed off a core
  const switches = async (): Promise<Array<{ voluntary: number, involuntary: number }>> => Promise.all(town.children.map(async c => {
    const status = await readFile(`/proc/${c.pid}/task/${c.pid}/status`, 'utf8').catch(() => '')
    const field = (name: string): number => Number(new RegExp(`^${name}:\\s*(\\d+)`, 'm').exec(status)?.[1] ?? NaN)
    return { voluntary: field('voluntary_ctxt_switches'), involuntary: field('nonvoluntary_ctxt_switches') }
  }))
  const sw0 = await switches()
  const split0 = await Promise.all(town.children.map(async c => (await c.ask({ cmd: 'mem' }, 'mem', 30000)).cpu as { user: number, system: number }))
  // PERF=1: the whole machine's CPU over the measured periods, by Linux perf (needs NODE_ARGS=--perf-basic-prof
  // for JS names): on-CPU samples of every thread and of the kernel, which V8's profiler cannot see
  const perfFile = process.env.PERF === '1' ? path.resolve('.scratch/perf/town.data') : undefined
  const perf = perfFile == null ? undefined : await startPerf(perfFile, perfRoles(town))
  // PACE=ms: agents think this long before acting, so that a profile is not of processes waiting for a CPU
  const { run, reports } = await runPeriods(town, periods, 300_000, Number(process.env.PACE ?? 0), prof)
  if (perf != null) console.log(formatPerfSummary(await perf.stop(), run.periods, 40))
  const perChild = cpuMsSince(cpu0, await cpuMsByChild([town.infra, ...town.children]))
  const split1 = await Promise.all(town.children.map(async c => (await c.ask({ cmd: 'mem' }, 'mem', 30000)).cpu as { user: number, system: number }))
  const userMs = split1.reduce((t, c, i) => t + c.user - split0[i]!.user, 0) / 1000
  const systemMs = split1.reduce((t, c, i) => t + c.system - split0[i]!.system, 0) / 1000
  console.log(`villagers' CPU per period: user ${(userMs / run.periods).toFixed(1)} ms, system (kernel) ${(systemMs / run.periods).toFixed(1)} ms`)
  const sw1 = await switches()
  const wakeups = sum(sw1.map((x, i) => x.voluntary - sw0[i]!.voluntary))
  const preempted = sum(sw1.map((x, i) => x.involuntary - sw0[i]!.involuntary))
  const villagerCpuMs = sum(perChild.slice(1))
  console.log(`villager processes' main threads per period: ${(wakeups / run.periods).toFixed(1)} wake-ups, ${(preempted / run.periods).toFixed(1)} preemptions (all processes); CPU per wake-up ${(1000 * villagerCpuMs / Math.max(1, wakeups)).toFixed(0)} us`)
  console.log(`CPU ms per period by process: bootstrap ${(perChild[0]! / run.periods).toFixed(1)}, villagers ${perChild.slice(1).map(ms => (ms / run.periods).toFixed(1)).join(' ')}`)
  if (one != null) {
    const { mkdir } = await import('node:fs/promises')
    await mkdir(one, { recursive: true })
    const file = path.join(one, 'v0.cpuprofile')
    await town.children[0]!.ask({ cmd: 'prof-stop', file }, 'prof-stopped', 60000)
    console.log(formatSummary(await summarize([file], 40), 40))
  }
  const med = (a: number[]): number => { const b = [...a].sort((x, y) => x - y); return b[Math.floor(b.length / 2)] ?? NaN }
  for (const k of ['prepare', 'save']) console.log(`phase ${k}: median ${med(reports.flatMap(r => r.peers.flatMap((p: any) => p.phases?.[k] ?? []))).toFixed(1)} ms`)
  const gaps = reports.flatMap(r => r.peers.flatMap(p => p.votes.filter(v => v[1] > 0).map(v => v[2] - v[1])))
  console.log(`act -> submit: median ${med(gaps).toFixed(1)} ms, max ${Math.max(...gaps).toFixed(1)}`)
  const s1 = await stats()
  const g1 = await town.children[0]!.ask({ cmd: 'gossip-stats' }, 'gossip-stats', 30000)
  console.log(`v0 after: conns ${g1.peers[0].conns}, opened ${g1.peers[0].net.opened}, closed ${g1.peers[0].net.closed}`)
  const delta = Object.fromEntries(Object.entries(s1).map(([k, v]) => [k, +((v - (s0[k] ?? 0)) / run.periods).toFixed(2)]).filter(([, v]) => v !== 0))
  console.log(`N=${n} ${patch}: ${run.periods} periods p50 ${run.p50.toFixed(1)} p99 ${run.p99.toFixed(1)} net p50 ${(run.networkLatencies.sort((a, b) => a - b)[Math.floor(run.networkLatencies.length / 2)] ?? NaN).toFixed(1)} ${run.periodsPerSec.toFixed(2)}/s, CPU ${(run.cpuMs! / run.periods).toFixed(0)} ms/period`)
  console.log(`v0 per period: ${JSON.stringify(delta)}`)
  // the vote relay (src/protocols/clock/relay.ts): votes carried by relays, and votes their voters published themselves, since the start
  const statsPeers = await allPeers()
  const during = (k: string): string => ((sum(statsPeers.map((p: any) => p[k] ?? 0)) - sum(sent0.map((p: any) => p[k] ?? 0))) / run.periods).toFixed(2)
  console.log(`per measured period, all villagers: ${during('heartbeats')} heartbeats, ${during('repairs')} whole-set repairs`)
  const relays = statsPeers.map((p: any) => p.relay ?? { held: 0, handed: 0, fallbacks: 0, timeouts: 0 })
  console.log(`whole-set repairs since the start: ${sum(statsPeers.map((p: any) => p.repairs ?? 0))}`)
  console.log(`heartbeats since the start: ${sum(statsPeers.map((p: any) => p.heartbeats ?? 0))}`)
  console.log(`vote relay since the start: ${sum(relays.map(r => r.held))} votes carried, ${sum(relays.map(r => r.handed ?? 0))} hand-overs answered, ${sum(relays.map(r => r.fallbacks))} published by their voters instead (${sum(relays.map(r => r.timeouts))} of them after no answer in time)`)
  const mems = await Promise.all(town.children.map(async c => c.ask({ cmd: 'mem' }, 'mem', 30000)))
  const mb = (x: number): string => (x / 1048576).toFixed(0)
  console.log('MB rss/heapUsed/heapTotal/external/arrayBuffers: ' + mems.map(m => [m.rss, m.usage.heapUsed, m.usage.heapTotal, m.usage.external, m.usage.arrayBuffers].map(mb).join('/')).join('  '))
  console.log(`v0 memory detail (MB): ${JSON.stringify(mems[0]?.detail)}`)
  if (process.env.HEAP_SNAPSHOT != null) {
    const r = await town.children[0]!.ask({ cmd: 'heap-snapshot', file: path.resolve(process.env.HEAP_SNAPSHOT) }, 'heap-snapshot', 120000)
    console.log(`heap snapshot of v0: ${r.file}`)
  }
  if (prof != null) {
    const { readdirSync } = await import('node:fs')
    const files = readdirSync(prof).filter(f => f.endsWith('.cpuprofile')).map(f => path.join(prof, f))
    console.log(formatSummary(await summarize(files, 30), 25))
  }
} finally {
  for (const p of pollution) p.kill()
  await stopTown(town)
}
