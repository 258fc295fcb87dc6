/**
 * How a town of N processes forms: every 5 s, the spread of membership views,
 * links per peer and the town's CPU, until every villager sees all N members.
 *   npx tsx scripts/bench/form-probe.ts 25 [patch]
 * A process too busy to answer within 10 s is listed as such; its CPU is read from
 * /proc. Each process's event-loop lag (p99 and longest stall) shows how long a
 * handshake or an answer waits behind other work. PROF_AT=k writes villager k's CPU profile to .scratch/prof-form at the end.
 */
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { cpuMsByChild, cpuMsSince, startMeshTown, stopTown } from './lib/towns.js'
import { countsOf, sum } from './lib/stats.js'
import { prepareBundles, sleep } from './lib/child.js'

const n = Number(process.argv[2] ?? 25)
const patch = process.argv[3] ?? ''
const limitMs = Number(process.env.LIMIT_MS ?? 240_000)
await prepareBundles(['mesh-node.ts'])
const t0 = Date.now()
const profAt = process.env.PROF_AT != null ? Number(process.env.PROF_AT) : undefined
const profDir = path.resolve('.scratch/prof-form')
if (profAt != null) await mkdir(profDir, { recursive: true })
const town = await startMeshTown({
  n,
  patch,
  villagerNodeArgs: (i) => i === profAt ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []
})
if (profAt != null) town.graceMs = 30_000
console.log(`${((Date.now() - t0) / 1000).toFixed(1)} s: all ${n} processes started`)
const histogram = (xs: number[]): string => countsOf(xs).map(([k, v]) => `${k}x${v}`).join(' ')
try {
  const procs = [town.infra, ...town.children]
  let cpuBefore = await cpuMsByChild(procs)
  let at = Date.now()
  while (Date.now() - t0 < limitMs) {
    await sleep(5_000)
    const statuses = await Promise.all(town.children.map(async c => c.ask({ cmd: 'status' }, 'status', 10_000).catch(() => undefined)))
    const silent = town.children.filter((_, i) => statuses[i] == null).map(c => c.name)
    if (silent.length > 0) console.log(`  no status within 10 s: ${silent.join(' ')}`)
    const peers = statuses.flatMap(s => (s?.peers ?? []) as Array<{ name: string, view: number, member: boolean, conns: number, evicts: number, dir: unknown }>)
    const cpuNow = await cpuMsByChild(procs)
    const used = cpuMsSince(cpuBefore, cpuNow)
    const cores = sum(used) / (Date.now() - at)
    const busiest = used.map((ms, i) => ({ ms, name: procs[i]!.name })).sort((a, b) => b.ms - a.ms).slice(0, 5)
    console.log(`  busiest: ${busiest.map(b => `${b.name} ${Math.round(b.ms)} ms`).join(', ')}`)
    cpuBefore = cpuNow
    at = Date.now()
    for (const p of peers) if (p.view < n - 1) console.log(`  ${p.name}: view ${p.view}, ${p.conns} links, directory ${JSON.stringify(p.dir)}`)
    const lags = statuses.flatMap(st => st?.lag != null ? [st.lag as { p50: number, p99: number, max: number }] : [])
    const p99s = lags.map(l => l.p99).sort((x, y) => x - y)
    if (p99s.length > 0) console.log(`  event-loop lag over the last 5 s, p99 per process: median ${p99s[p99s.length >> 1]} ms, max ${p99s[p99s.length - 1]} ms; longest stall ${Math.max(...lags.map(l => l.max))} ms; member-link dials failed so far ${sum(peers.map(p => (p as any).linkFailures ?? 0))}`)
    console.log(`${((Date.now() - t0) / 1000).toFixed(1)} s: views ${histogram(peers.map(p => p.view))}; links ${histogram(peers.map(p => p.conns))}; members ${peers.filter(p => p.member).length}; evictions held ${histogram(peers.map(p => p.evicts))}; ${cores.toFixed(2)} cores`)
    if (peers.length >= n && peers.every(p => p.view === n && p.member)) { console.log('formed'); break }
  }
} finally { await stopTown(town) }
