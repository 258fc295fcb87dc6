import { nowMs } from './stats.js'

export interface ClosedLoopResult {
  committed: number
  failed: number
  /** When the loop started and when its last success ended (nowMs()). */
  first: number
  last: number
  /** Latency of every success, ms. */
  lat: number[]
}

/**
 * The trade driver both designs run, so that they are measured the same way:
 * `concurrency` workers, each starting its next trade as soon as its last one
 * ended, until `count` trades were started or `durationMs` passed. `one` resolves
 * to whether the trade it started committed; a throw counts as a failure.
 */
export async function closedLoop (
  o: { count?: number, concurrency?: number, durationMs?: number },
  one: (i: number) => Promise<boolean>,
  onError: (err: unknown) => void = () => {}
): Promise<ClosedLoopResult> {
  const deadline = nowMs() + Number(o.durationMs ?? 10_000)
  const total = Number(o.count ?? 1000)
  const r: ClosedLoopResult = { committed: 0, failed: 0, first: nowMs(), last: 0, lat: [] }
  let started = 0
  const worker = async (): Promise<void> => {
    while (started < total && nowMs() < deadline) {
      const i = started++
      const t0 = nowMs()
      let ok = false
      try {
        ok = await one(i)
      } catch (err) {
        onError(err)
      }
      if (ok) { r.committed++; r.lat.push(nowMs() - t0); r.last = nowMs() } else r.failed++
    }
  }
  await Promise.all(Array.from({ length: Number(o.concurrency ?? 1) }, worker))
  return r
}
