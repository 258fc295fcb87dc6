import { HEARTBEAT_MS_PER_MEMBER, MAX_HEARTBEAT_MS } from './constants.js'

/**
 * How often a quiet member sends its heartbeat, in a town of `members`.
 *
 * Every heartbeat reaches every other member, so at a fixed pace a town's
 * background grows with N²: each process of a settled town of 25 took in 24
 * heartbeats per 5 s (~0.015 cores), and a town of 50 on 2 cores never settled.
 * Up to 25 members the pace is a sixth of the eviction timeout (at most 5 s);
 * beyond, 200 ms per member, so each member takes in about as many heartbeats a
 * second as in a town of 25, up to a quarter of the timeout: a member is then
 * evicted after four heartbeats missed in a row instead of six (a saturated
 * process can miss a few; fewer would evict the slow with the dead).
 */
export function heartbeatIntervalMs (members: number, evictAfterMs: number, republishIntervalMs: number): number {
  const base = Math.min(MAX_HEARTBEAT_MS, Math.floor(evictAfterMs / 6))
  const bySize = Math.min(Math.floor(evictAfterMs / 4), members * HEARTBEAT_MS_PER_MEMBER)
  return Math.max(republishIntervalMs, base, bySize)
}
