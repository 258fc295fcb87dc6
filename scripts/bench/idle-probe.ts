import path from 'node:path'
import { answerMs, cpuMsByChild, cpuMsSince, formTimeoutMs, settle, describeSettled, startMeshTown, waitFormed, stopTown, runPeriods, perfRoles } from './lib/towns.js'
import { sum } from './lib/stats.js'
import { sleep } from './lib/child.js'
import { nodeArgsFrom, prepareBundles } from './lib/child.js'
import { summarize, formatSummary } from './profile-summary.js'
import { startPerf, formatPerfSummary } from './perf-summary.js'
const n = Number(process.argv[2] ?? 10)
const patch = process.argv[3] ?? ''
await prepareBundles(['mesh-node.ts'])
// BUNDLE=path: run another build's mesh-node bundle (A/B against this checkout); NODE_ARGS: node flags for every process
const town = await startMeshTown({ n, patch, verbose: process.env.VERBOSE === '1', perProcess: Number(process.env.PER_PROCESS ?? 1), nodeArgs: nodeArgsFrom(process.env.NODE_ARGS), bundle: process.env.BUNDLE, launchConcurrency: process.env.LAUNCH == null ? undefined : Number(process.env.LAUNCH) })
const startedAt = Date.now()
try {
  await waitFormed(town, formTimeoutMs(n))
  console.log(`formed ${((Date.now() - startedAt) / 1000).toFixed(0)} s after the processes were started`)
  // SETTLE=1: start measuring once the start-up work is over, as the barrier benchmark's idle figure does
  if (process.env.SETTLE === '1') console.log(`settled at ${describeSettled(await settle(town))}`)
  // RUNNING=k: k periods first, so that the idle town is a running one in a period nobody has acted in
  // (before any period completes a town is still forming, and its founders heartbeat throughout)
  if (process.env.RUNNING != null) console.log(`ran ${(await runPeriods(town, Number(process.env.RUNNING), 120_000)).run.periods} periods first`)
  let prev: Record<string, number> = {}
  // PERF=1: the whole town's CPU over the windows by Linux perf (see run-probe.ts)
  const perf = process.env.PERF === '1'
    ? await startPerf(path.resolve('.scratch/perf/idle.data'), perfRoles(town))
    : undefined
  const windowsStart = Date.now()
  for (let w = 0; w < Number(process.env.WINDOWS ?? 4); w++) {
    const b = await cpuMsByChild(town.children)
    const t0 = Date.now()
    await sleep(5000)
    const byChild = cpuMsSince(b, await cpuMsByChild(town.children))
    const cpu = sum(byChild)
    const g = await town.children[0]!.ask({ cmd: 'gossip-stats' }, 'gossip-stats', answerMs(town))
    const cur: Record<string, number> = { ...g.peers[0].net.streams, 'links opened': g.peers[0].net.opened, 'links closed': g.peers[0].net.closed, 'clock taken in, not forwarded': g.peers[0].spared, 'of those, left to other meshes': g.peers[0].leftToOtherMeshes ?? 0 }
    for (const [why, count] of Object.entries(g.peers[0].forwarded as Record<string, number>)) cur[`clock forwarded, ${why}`] = count
    for (const [t, v] of Object.entries(g.peers[0].topics as Record<string, { n: number }>)) cur[t] = v.n
    for (const [k, v] of Object.entries(g.crypto as Record<string, number>)) cur[`ed25519 ${k} (process)`] = v
    const delta = Object.fromEntries(Object.entries(cur).map(([k, v]) => [k, v - (prev[k] ?? 0)]).filter(([, v]) => v !== 0))
    prev = cur
    const per = byChild.map((ms, i) => ({ i, ms })).sort((x, y) => y.ms - x.ms)
    console.log(`window ${w}: ${(cpu / (Date.now() - t0)).toFixed(2)} cores; v0 in 5 s: ${JSON.stringify(delta)}`)
    console.log(`  busiest: ${per.slice(0, 5).map(x => `${town.children[x.i]!.name} ${x.ms.toFixed(0)} ms`).join(', ')}; quietest: ${per.slice(-3).map(x => `${town.children[x.i]!.name} ${x.ms.toFixed(0)} ms`).join(', ')}`)
  }
  if (perf != null) {
    const seconds = (Date.now() - windowsStart) / 1000
    const summary = await perf.stop()
    console.log(formatPerfSummary(summary, seconds, 40, 'second'))
  }
  // every villager: members it has no link to, and its member links' dials
  const all = await Promise.all(town.children.map(async ch => (await ch.ask({ cmd: 'gossip-stats' }, 'gossip-stats', answerMs(town))).peers[0]))
  const unlinked = all.map((p: any) => p.memberLinks?.unlinked ?? 0)
  console.log(`unlinked members per villager: ${unlinked.join(',')} (sum ${sum(unlinked)}); member-link dials ${sum(all.map((p: any) => p.memberLinks?.dials ?? 0))}, failed ${sum(all.map((p: any) => p.memberLinks?.failures ?? 0))}`)
  for (const p of all as any[]) if (p.memberLinks?.last != null) console.log(`  ${p.name}: last failure ${p.memberLinks.last}`)
  for (const p of all as any[]) if ((p.uncovered?.length ?? 0) > 0) console.log(`  ${p.name}: subscribers left out of reach ${JSON.stringify(p.uncovered)}`)
  if (process.env.LINK_PROBE === '1') {
    for (const [i, ch] of town.children.entries()) {
      if (i % 10 !== 9) continue
      const r = await ch.ask({ cmd: 'link-probe' }, 'link-probe', 100_000)
      console.log(`${ch.name} link probe: ${JSON.stringify(r)}`)
    }
  }
  const c = town.children[0]!
  const g0 = await c.ask({ cmd: 'gossip-stats' }, 'gossip-stats', answerMs(town))
  console.log(JSON.stringify(g0.peers[0]))
  const before = await cpuMsByChild(town.children)
  await c.ask({ cmd: 'prof-start' }, 'prof-started', 30000)
  // PROF_MS: a longer profile, for a town so idle that 5 s hold few samples
  await sleep(Number(process.env.PROF_MS ?? 5000))
  const file = path.resolve('.scratch/idle.cpuprofile')
  await c.ask({ cmd: 'prof-stop', file }, 'prof-stopped', 30000)
  const cpu = sum(cpuMsSince(before, await cpuMsByChild(town.children)))
  console.log(`idle CPU all villagers over the profile (${process.env.PROF_MS ?? 5000} ms): ${cpu.toFixed(0)} ms`)
  const g = await c.ask({ cmd: 'gossip-stats' }, 'gossip-stats', answerMs(town))
  console.log(JSON.stringify(g.peers[0]))
  console.log(formatSummary(await summarize([file], 30), 30))
} finally { await stopTown(town) }
