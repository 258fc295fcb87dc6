/**
 * How a town of N processes forms: every 5 s, the spread of membership views,
 * links per peer and the town's CPU, until every villager sees all N members.
 *   npx tsx scripts/bench/form-probe.ts 25 [patch]
 */
import { cpuMsByChild, cpuMsSince, startMeshTown, stopTown } from './lib/towns.js'
import { countsOf, sum } from './lib/stats.js'
import { prepareBundles, sleep } from './lib/child.js'

const n = Number(process.argv[2] ?? 25)
const patch = process.argv[3] ?? ''
const limitMs = Number(process.env.LIMIT_MS ?? 240_000)
await prepareBundles(['mesh-node.ts'])
const t0 = Date.now()
const town = await startMeshTown({ n, patch })
console.log(`${((Date.now() - t0) / 1000).toFixed(1)} s: all ${n} processes started`)
const histogram = (xs: number[]): string => countsOf(xs).map(([k, v]) => `${k}x${v}`).join(' ')
try {
  let cpuBefore = await cpuMsByChild(town.children)
  let at = Date.now()
  while (Date.now() - t0 < limitMs) {
    await sleep(5_000)
    const statuses = await Promise.all(town.children.map(async c => c.ask({ cmd: 'status' }, 'status', 30_000)))
    const peers = statuses.flatMap(s => s.peers as Array<{ view: number, member: boolean, conns: number }>)
    const cpuNow = await cpuMsByChild(town.children)
    const cores = sum(cpuMsSince(cpuBefore, cpuNow)) / (Date.now() - at)
    cpuBefore = cpuNow
    at = Date.now()
    for (const p of peers as any[]) if (p.view < n - 1) console.log(`  ${p.name}: view ${p.view}, ${p.conns} links, directory ${JSON.stringify(p.dir)}`)
    console.log(`${((Date.now() - t0) / 1000).toFixed(1)} s: views ${histogram(peers.map(p => p.view))}; links ${histogram(peers.map(p => p.conns))}; members ${peers.filter(p => p.member).length}; ${cores.toFixed(2)} cores`)
    if (peers.length >= n && peers.every(p => p.view === n && p.member)) { console.log('formed'); break }
  }
} finally { await stopTown(town) }
