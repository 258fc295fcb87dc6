/** Order statistics for the benchmarks: every figure is a median over runs, with min and max. */

export interface Spread {
  median: number
  min: number
  max: number
  /** How many runs (or samples) the figure is over. */
  n: number
}

export function quantile (values: readonly number[], q: number): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  // nearest rank: p99 of 100 samples is the 99th, not an interpolation past the data
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[rank]!
}

export function median (values: readonly number[]): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export function spread (values: readonly number[]): Spread {
  const finite = values.filter(v => Number.isFinite(v))
  if (finite.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0 }
  return { median: median(finite), min: Math.min(...finite), max: Math.max(...finite), n: finite.length }
}

export function mean (values: readonly number[]): number {
  return values.length === 0 ? NaN : values.reduce((a, b) => a + b, 0) / values.length
}

/** Format a number with sensible precision for a table. */
export function fmt (v: number, unit = ''): string {
  if (!Number.isFinite(v)) return 'n/a'
  const abs = Math.abs(v)
  const s = abs >= 100 ? v.toFixed(0) : abs >= 10 ? v.toFixed(1) : abs >= 1 ? v.toFixed(2) : v.toFixed(3)
  return unit === '' ? s : `${s} ${unit}`
}

export function fmtSpread (s: Spread, unit = ''): string {
  if (s.n === 0) return 'n/a'
  if (s.n === 1) return fmt(s.median, unit)
  return `${fmt(s.median, unit)} (${fmt(s.min)}–${fmt(s.max)})`
}

/** Wall-clock milliseconds since the epoch with sub-millisecond resolution, comparable across processes. */
export function nowMs (): number {
  return performance.timeOrigin + performance.now()
}

export function sum (values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0)
}

/** How often each value occurs, by value. */
export function countsOf (values: readonly number[]): Array<[value: number, count: number]> {
  const counts = new Map<number, number>()
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1)
  return [...counts].sort((a, b) => a[0] - b[0])
}
