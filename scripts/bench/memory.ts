/**
 * Memory: RSS of one villager per process (from the barrier runs) and peers per
 * GB with many villager peers in one process. A town of 1 + K villagers: one
 * process holding a single villager, one holding K; both formed into the same
 * town and run for a few periods, then RSS is read. The marginal cost of a peer
 * is (RSS of the K-peer process - RSS of the 1-peer process) / (K - 1). The
 * same town also gives the barrier figures at a larger N with many peers per
 * process.
 */
import { nowMs } from './lib/stats.js'
import { runPeriods, spawnMeshVillagers, stopTown, tempRoot, waitFormed, type BarrierRun, type Town } from './lib/towns.js'
import { Child } from './lib/child.js'

export interface MemoryOptions {
  perProcess: number
  periods: number
  log: (line: string) => void
}

export interface MemoryResult {
  perProcess: number
  rssSingleMB: number
  rssManyMB: number
  marginalMBPerPeer: number
  peersPerGB: number
  /** process.memoryUsage() of the two processes, MB. */
  usage?: Array<Record<string, number>>
  barrier?: BarrierRun
  formMs: number
  error?: string
}

export async function benchMemory (o: MemoryOptions): Promise<MemoryResult> {
  const root = await tempRoot('mem')
  const infra = new Child('bootstrap', 'mesh-node.ts', ['--role', 'bootstrap', '--root', root])
  const town: Town = { kind: 'meshtown', n: 1 + o.perProcess, root, infra, children: [], names: [], childOf: new Map() }
  try {
    o.log(`memory: one process with 1 villager, one with ${o.perProcess}, one town`)
    const ready = await infra.waitFor(e => e.ev === 'ready', 60_000, 'bootstrap ready')
    town.bootstrapAddr = ready.addr
    const started = nowMs()
    await spawnMeshVillagers(town, 'memtown', 0, 1, [])
    await spawnMeshVillagers(town, 'memtown', 1, o.perProcess, [])
    await waitFormed(town, 180_000 + 6_000 * town.n)
    const formMs = nowMs() - started
    const { run } = await runPeriods(town, o.periods, Math.max(60_000, o.periods * 5_000))
    o.log(`  N=${town.n} (1 + ${o.perProcess} per process): ${run.periods} periods, p50 ${run.p50.toFixed(0)} ms, p99 ${run.p99.toFixed(0)} ms, ${run.periodsPerSec.toFixed(2)} periods/s`)
    const mems = await Promise.all(town.children.map(async c => c.ask({ cmd: 'mem' }, 'mem', 30_000)))
    const single = mems[0]!.rss / 1048576
    const many = mems[1]!.rss / 1048576
    const marginal = (many - single) / (o.perProcess - 1)
    o.log(`  RSS: 1 villager ${single.toFixed(0)} MB, ${o.perProcess} villagers ${many.toFixed(0)} MB: ${marginal.toFixed(1)} MB per extra peer, ${(1024 / marginal).toFixed(0)} peers per GB`)
    // the kernel's split: pages shared with other processes (node's own code, mapped once for every node process) and the process's own
    const usage = mems.map(x => ({
      ...Object.fromEntries(Object.entries(x.usage as Record<string, number>).map(([k, v]) => [k, v / 1048576])),
      shared: x.detail?.['kernel Shared_Clean'] ?? NaN,
      private: (x.detail?.['kernel Private_Dirty'] ?? NaN) + (x.detail?.['kernel Private_Clean'] ?? 0)
    }))
    return { usage, perProcess: o.perProcess, rssSingleMB: single, rssManyMB: many, marginalMBPerPeer: marginal, peersPerGB: 1024 / marginal, barrier: run, formMs }
  } catch (err: any) {
    o.log(`  memory failed: ${err.message}`)
    return { perProcess: o.perProcess, rssSingleMB: NaN, rssManyMB: NaN, marginalMBPerPeer: NaN, peersPerGB: NaN, formMs: NaN, error: String(err.message) }
  } finally {
    await stopTown(town)
  }
}
