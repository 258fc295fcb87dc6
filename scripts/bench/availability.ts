/**
 * Availability: a Meshtown town and a baseline town of the same N run at the same
 * time, agents acting instantly. At one moment the baseline's coordinator and one
 * Meshtown villager are SIGKILLed; then count the periods each town completes in
 * the next window. The baseline has no coordinator left; Meshtown's survivors sign
 * the silent member's eviction after --evict-after and go on without it.
 */
import { nowMs } from './lib/stats.js'
import { reports, startBaselineTown, startMeshTown, stopTown, waitFormed, type Town } from './lib/towns.js'
import { sleep } from './lib/child.js'

export interface AvailabilityOptions {
  n: number
  windowMs: number
  warmupMs: number
  evictAfterMs: number
  log: (line: string) => void
}

export interface AvailabilityResult {
  n: number
  windowMs: number
  evictAfterMs: number
  meshtown: { before: number, after: number, resumedAfterMs: number | null, members: number | null }
  baseline: { before: number, after: number, resumedAfterMs: number | null }
  error?: string
}

function countIn (reps: Awaited<ReturnType<typeof reports>>, from: number, to: number): { count: number, firstAt: number | null } {
  const counts: number[] = []
  let firstAt: number | null = null
  for (const r of reps) {
    for (const p of r.peers) {
      const inWindow = p.adv.filter(a => a[2] > from && a[2] <= to)
      counts.push(inWindow.reduce((s, a) => s + (a[1] - a[0]), 0))
      for (const a of inWindow) if (firstAt == null || a[2] < firstAt) firstAt = a[2]
    }
  }
  counts.sort((a, b) => a - b)
  return { count: counts.length === 0 ? 0 : counts[counts.length >> 1]!, firstAt }
}

export async function benchAvailability (o: AvailabilityOptions): Promise<AvailabilityResult> {
  let mesh: Town | undefined
  let base: Town | undefined
  try {
    o.log(`availability: N=${o.n}, window ${o.windowMs / 1000} s, Meshtown evicts after ${o.evictAfterMs / 1000} s of silence`)
    mesh = await startMeshTown({ n: o.n, evictAfterMs: o.evictAfterMs, launchConcurrency: 3 })
    base = await startBaselineTown({ n: o.n, mode: 'longpoll' })
    await waitFormed(mesh, 120_000 + 4_000 * o.n)
    await waitFormed(base, 60_000)
    const all = [...mesh.children, ...base.children]
    const startAt = nowMs()
    for (const c of all) c.send({ cmd: 'go' })
    await sleep(o.warmupMs)
    const victim = mesh.children[mesh.children.length - 1]!
    const killAt = nowMs()
    base.infra.kill('SIGKILL')
    victim.kill('SIGKILL')
    o.log(`  killed the coordinator (pid ${base.infra.pid}) and Meshtown villager ${victim.name} (pid ${victim.pid})`)
    await sleep(o.windowMs)
    const endAt = nowMs()
    for (const c of all) if (c.alive) c.send({ cmd: 'halt' })
    const meshReps = await reports(mesh)
    const baseReps = await reports(base)
    const mBefore = countIn(meshReps, startAt, killAt)
    const mAfter = countIn(meshReps, killAt, endAt)
    const bBefore = countIn(baseReps, startAt, killAt)
    const bAfter = countIn(baseReps, killAt, endAt)
    const status = await mesh.children.find(c => c.alive)?.ask({ cmd: 'status' }, 'status', 10_000).catch(() => undefined)
    const result: AvailabilityResult = {
      n: o.n,
      windowMs: o.windowMs,
      evictAfterMs: o.evictAfterMs,
      meshtown: { before: mBefore.count, after: mAfter.count, resumedAfterMs: mAfter.firstAt == null ? null : mAfter.firstAt - killAt, members: status?.peers?.[0]?.view ?? null },
      baseline: { before: bBefore.count, after: bAfter.count, resumedAfterMs: bAfter.firstAt == null ? null : bAfter.firstAt - killAt }
    }
    o.log(`  in the ${o.windowMs / 1000} s after the kill: Meshtown ${mAfter.count} periods (first after ${result.meshtown.resumedAfterMs == null ? 'never' : (result.meshtown.resumedAfterMs / 1000).toFixed(1) + ' s'}), baseline ${bAfter.count}`)
    return result
  } catch (err: any) {
    o.log(`  availability failed: ${err.message}`)
    return { n: o.n, windowMs: o.windowMs, evictAfterMs: o.evictAfterMs, meshtown: { before: 0, after: 0, resumedAfterMs: null, members: null }, baseline: { before: 0, after: 0, resumedAfterMs: null }, error: String(err.message) }
  } finally {
    if (mesh != null) await stopTown(mesh)
    if (base != null) await stopTown(base)
  }
}
