/**
 * Where a join's time goes, against the town's period boundaries: a town of N moving with its agents
 * thinking PACE ms per period, then JOINS newcomers one at a time (each after a seeded random delay);
 * prints each joiner's milestones and the boundaries a member saw around them.
 *
 *   npx tsx scripts/bench/join-probe.ts [N] [PACE] [JOINS]
 *
 * JOIN_PROF=dir writes each joiner's CPU profile there (MESHTOWN_READABLE_BUNDLE=1 for profile-summary.ts).
 */
import path from 'node:path'
import { seededRng } from '../../src/rooms/rng.js'
import { prepareBundles, sleep } from './lib/child.js'
import { JOIN_TIMEOUT_MS } from './lib/joins.js'
import { nowMs } from './lib/stats.js'
import { answerMs, spawnMeshVillagers, startMeshTown, stopTown, waitFormed } from './lib/towns.js'

const n = Number(process.argv[2] ?? 3)
const pace = Number(process.argv[3] ?? 1000)
const joins = Number(process.argv[4] ?? 3)
await prepareBundles(['mesh-node.ts'])
// BUNDLE=path: another build's mesh-node bundle for the town and its joiners (A/B against this checkout)
const town = await startMeshTown({ n, bundle: process.env.BUNDLE })
try {
  await waitFormed(town, 120_000)
  for (const c of town.children) c.send({ cmd: 'go', pace })
  await sleep(3_000)
  const rng = seededRng('join-probe', n, pace)
  for (let j = 0; j < joins; j++) {
    await sleep(Math.floor(rng() * (pace + 100)))
    const spawnAt = nowMs()
    const prof = process.env.JOIN_PROF != null ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(process.env.JOIN_PROF)] : []
    const child = await spawnMeshVillagers(town, 'benchtown', town.names.length, 1, prof, { bundle: process.env.BUNDLE })
    child.send({ cmd: 'go', pace: 0, townOnly: true })
    await child.waitFor(e => e.ev === 'first-vote', JOIN_TIMEOUT_MS, 'first vote')
    const cpu = (await child.ask({ cmd: 'mem' }, 'mem', answerMs(town))).cpu as { user: number, system: number }
    const net = (await child.ask({ cmd: 'gossip-stats' }, 'gossip-stats', answerMs(town))).peers[0].net as { opened: number, closed: number, streams: Record<string, number> }
    const rep = await child.ask({ cmd: 'report' }, 'report', answerMs(town))
    const t = rep.peers[0].t as Record<string, number>
    const member = await town.children[0]!.ask({ cmd: 'report' }, 'report', answerMs(town))
    const boundaries = (member.peers[0].adv as Array<[number, number, number]>).map(a => a[2]).filter(x => x > spawnAt - 2 * pace && x < t.firstVote! + pace)
    const rel = (x: number | undefined): string => x == null ? '-' : (x - spawnAt).toFixed(0)
    const views = child.events.filter(e => e.ev === 'view').map(e => `view ${e.size}${e.member === true ? ' member' : ''} at ${e.at} (${rel(e.t ?? undefined)})`)
    console.log(`  joiner's views: ${views.join('; ')}`)
    const bs = boundaries.length > 12 ? [...boundaries.slice(0, 3), NaN, ...boundaries.slice(-8)] : boundaries
    console.log(`  joiner's CPU by its first vote: user ${(cpu.user / 1000).toFixed(0)} ms, system ${(cpu.system / 1000).toFixed(0)} ms`)
    console.log(`  joiner's links by then: ${net.opened} opened, ${net.closed} closed; streams ${Object.entries(net.streams).map(([k, v]) => `${k} ${v}`).join(', ')}`)
    console.log(`join ${j}: ${Object.entries(t).filter(([k]) => k !== 'processStart').map(([k, v]) => `${k} ${rel(v)}`).join(', ')}; boundaries at ${bs.map(b => Number.isNaN(b) ? '...' : rel(b)).join(', ')} (${boundaries.length})`)
    await sleep(3_000)
  }
} finally {
  await stopTown(town)
}
