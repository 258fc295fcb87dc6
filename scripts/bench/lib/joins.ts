/**
 * How a town's joins read in the report. A joiner with no first vote within
 * JOIN_TIMEOUT_MS is a failed join: a town whose joiners all failed is shown so,
 * and a target is met only if every join voted in time.
 */
import { fmt, type Spread } from './stats.js'

export const JOIN_TIMEOUT_MS = 60_000

export interface JoinResult {
  /** Process start -> its first vote accepted, ms. */
  total: Spread
  phases: Record<string, Spread>
  samples: number
  /** Joins tried (absent in results from before it was counted: as many as `samples`). */
  attempts?: number
  /** The town's agents' think time per period while the joiners came in. */
  townPaceMs?: number
}

export function joinAttempts (j: JoinResult): number {
  return j.attempts ?? j.samples
}

/** "2 joins", or "1 of 2 joins; ..." when some joiner never voted. */
export function joinCount (j: JoinResult): string {
  return j.samples === joinAttempts(j) ? `${j.samples} joins` : `${j.samples} of ${joinAttempts(j)} joins; no vote from the others within ${fmt(JOIN_TIMEOUT_MS / 1000)} s`
}

/** A town's figure in the targets table. */
export function joinFigure (j: JoinResult): string {
  if (j.samples === 0) return `no join voted within ${fmt(JOIN_TIMEOUT_MS / 1000)} s (${joinAttempts(j)} tried)`
  return `${fmt(j.total.median / 1000)} s${j.samples < joinAttempts(j) ? ` (${j.samples} of ${joinAttempts(j)})` : ''}`
}

export function joinMet (j: JoinResult): boolean {
  return j.samples === joinAttempts(j) && j.total.median < 2000
}
