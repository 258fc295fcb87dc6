/**
 * Vector clocks as pure functions over plain, frozen-by-convention records
 * (in the spirit of orbitdb's oplog clock, but a full vector instead of a
 * Lamport pair, so that concurrency can be detected and not just ordered).
 *
 * Keys are opaque strings: an agent id, or any other sequential stream id
 * (the causal inbox keys private channels as "sender>receiver").
 *
 * Canonical form: entries are positive integers; a zero entry is omitted and
 * keys are sorted, so two equal clocks have the same JSON encoding and byte size.
 * Clocks are built with Object.fromEntries so that a key such as "__proto__"
 * (a legal agent name) is an own data property and never touches a prototype.
 */

export type VectorClock = Readonly<Record<string, number>>

export type ClockOrdering = 'before' | 'after' | 'equal' | 'concurrent'

/** What compareForDelivery needs from a message. */
export interface DeliveryStamp {
  readonly clock: VectorClock
  readonly sender: string
  readonly id: string
}

const EMPTY: VectorClock = Object.freeze({})

export function emptyClock(): VectorClock {
  return EMPTY
}

export function get(clock: VectorClock, id: string): number {
  return Object.hasOwn(clock, id) ? (clock[id] ?? 0) : 0
}

function fromEntries(entries: Iterable<readonly [string, number]>): VectorClock {
  const kept = [...entries].filter(([, n]) => n > 0).sort(([a], [b]) => compareStrings(a, b))
  return Object.freeze(Object.fromEntries(kept))
}

/** Drops zero entries and sorts keys. */
export function canonicalClock(clock: VectorClock): VectorClock {
  return fromEntries(Object.entries(clock))
}

/** True when every entry is a positive safe integer (zeros are not canonical). */
export function isValidClock(value: unknown): value is VectorClock {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  return Object.values(value).every((n) => typeof n === 'number' && Number.isSafeInteger(n) && n > 0)
}

export function tick(clock: VectorClock, id: string): VectorClock {
  return fromEntries([...Object.entries(clock).filter(([k]) => k !== id), [id, get(clock, id) + 1]])
}

/** Entry-wise maximum. */
export function merge(a: VectorClock, b: VectorClock): VectorClock {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)])
  return fromEntries([...keys].map((k) => [k, Math.max(get(a, k), get(b, k))] as const))
}

export function compare(a: VectorClock, b: VectorClock): ClockOrdering {
  let aBehind = false
  let bBehind = false
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = get(a, k)
    const y = get(b, k)
    if (x < y) aBehind = true
    else if (x > y) bBehind = true
  }
  if (aBehind && bBehind) return 'concurrent'
  if (aBehind) return 'before'
  if (bBehind) return 'after'
  return 'equal'
}

/** a -> b: a is strictly in b's causal past. */
export function happenedBefore(a: VectorClock, b: VectorClock): boolean {
  return compare(a, b) === 'before'
}

/** a has seen everything b has (a >= b entry-wise, equality included). */
export function dominates(a: VectorClock, b: VectorClock): boolean {
  const order = compare(a, b)
  return order === 'after' || order === 'equal'
}

export function sumOfEntries(clock: VectorClock): number {
  return Object.values(clock).reduce((sum, n) => sum + n, 0)
}

/**
 * Code-unit comparison: localeCompare would make the order depend on the
 * machine's locale, and every agent must compute the same order.
 */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/**
 * A deterministic total order that extends causality: if a.clock happened
 * before b.clock then a's sum is strictly smaller (every entry <=, one <), so
 * sorting by sum first never puts an effect before its cause. Sender, then
 * id, break the remaining ties so all agents sort the same set identically.
 */
export function compareForDelivery(a: DeliveryStamp, b: DeliveryStamp): number {
  return (
    sumOfEntries(a.clock) - sumOfEntries(b.clock) ||
    compareStrings(a.sender, b.sender) ||
    compareStrings(a.id, b.id)
  )
}

/** The shared transcript order: the same sequence at every agent holding the same set. */
export function sortForDelivery<M extends DeliveryStamp>(messages: readonly M[]): M[] {
  return [...messages].sort(compareForDelivery)
}

/** Bytes of the canonical JSON encoding, for benchmarks of clock overhead on the wire. */
export function clockByteSize(clock: VectorClock): number {
  return Buffer.byteLength(JSON.stringify(canonicalClock(clock)), 'utf8')
}
