/**
 * "Did you mean ...?" for mistyped commands and items.
 */

/**
 * Edit distance counting a swap of two neighbouring letters as one edit
 * (optimal string alignment), since `prodcue` is one slip, not two.
 */
export function editDistance (a: string, b: string): number {
  const rows = a.length + 1
  const cols = b.length + 1
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)))
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1)
      d[i]![j] = best
    }
  }
  return d[a.length]![b.length]!
}

/**
 * The candidate nearest to `word`, if it is near enough to be a slip: at most a
 * third of the word's letters wrong (and at least one allowed), so `xyz` suggests
 * nothing rather than something random. A candidate that `word` starts is a
 * better guess than any other at the same distance.
 */
export function closest (word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase()
  const allowed = Math.max(1, Math.floor(w.length / 3))
  let best: { candidate: string, distance: number } | undefined
  for (const candidate of candidates) {
    let distance = editDistance(w, candidate.toLowerCase())
    if (candidate.toLowerCase().startsWith(w) && w.length >= 2) distance = Math.min(distance, 1)
    if (distance > allowed) continue
    if (best == null || distance < best.distance) best = { candidate, distance }
  }
  return best?.candidate
}
