// The town's time barrier as pure functions over plain data (DESIGN.md, "Time").
//
// Every peer holds a ClockState and feeds it signed statements (their signatures are
// checked by the protocol layer before they get here):
//   vote   "I, a member, acted in (day, period)"; carries the join requests I back
//   evict  "I, a member, have not heard from <target> in (day, period) for too long"
//   join   "I, not a member, ask to join; my name and occupation are ..."
// A period completes when every member of the current view has voted, except the
// members a strict majority of the view signed evictions of, and provided a strict
// majority remains. Joins backed by a majority of the remaining votes take effect at
// the boundary. Since every peer decides from the same statements with the same rule,
// all advance to the same next period without a master; and since evicting needs a
// majority, the minority side of a partition can never move time.
//
// A statement is immutable: a voter who signs two different votes for one period
// (equivocation) gets the one with the smaller signature kept, on every peer alike.

import { createHash } from 'node:crypto'
import { comparePeriods, firstPeriod, nextPeriod, periodIndex, PERIODS, type Occupation, type Period, type PeriodAction, type TownTime } from './rules.js'

export interface Member {
  name: string
  occupation: Occupation
}

export interface JoinStatement {
  kind: 'join'
  town: string
  day: number
  period: Period
  voter: string
  name: string
  occupation: Occupation
  sig: string
}

export interface VoteStatement {
  kind: 'vote'
  town: string
  day: number
  period: Period
  voter: string
  action: PeriodAction
  /** Join requests this voter backs, embedded so every peer admits the same joiners. */
  joins: JoinStatement[]
  sig: string
}

export interface EvictStatement {
  kind: 'evict'
  town: string
  day: number
  period: Period
  voter: string
  target: string
  sig: string
}

export type Statement = VoteStatement | EvictStatement | JoinStatement

/** The statements that completed a period: what lets another peer check our current view. */
export interface Certificate {
  day: number
  period: Period
  view: Record<string, Member>
  votes: VoteStatement[]
  evicts: EvictStatement[]
}

export interface ClockState {
  town: string
  day: number
  period: Period
  /** Members of the current period, by PeerId. */
  view: Record<string, Member>
  votes: Record<string, VoteStatement>
  /** target -> voter -> statement */
  evicts: Record<string, Record<string, EvictStatement>>
  /** Pending join requests of non-members, by PeerId. */
  joins: Record<string, JoinStatement>
  /** Genesis founders; only meaningful while `prev` is null. */
  founders: JoinStatement[]
  prev: Certificate | null
  /** Votes and evictions for the next period that arrived before we got there. */
  early: Array<VoteStatement | EvictStatement>
}

export const CLOCK_LIMITS = {
  maxMembers: 1024,
  maxPendingJoins: 256,
  /** Join requests one vote backs (the wire's bound on a vote, codec.ts); the oldest go first. */
  maxJoinsPerVote: 64,
  maxEarly: 2048,
  /** Join requests older than this many periods are stale: the joiner re-sends while it waits. */
  joinValidityPeriods: 3
} as const

export type ClockRejection =
  | 'WRONG_TOWN' | 'PAST_PERIOD' | 'FUTURE_PERIOD' | 'NOT_A_MEMBER' | 'TARGET_NOT_A_MEMBER'
  | 'SELF_EVICTION' | 'ALREADY_MEMBER' | 'NAME_TAKEN' | 'STALE_JOIN' | 'INVALID_JOIN' | 'EQUIVOCATION' | 'FULL'

export type ApplyOutcome =
  | { status: 'accepted' }
  | { status: 'duplicate' }
  | { status: 'buffered' }
  | { status: 'rejected', code: ClockRejection, message: string }

export interface ApplyResult {
  state: ClockState
  outcome: ApplyOutcome
  /** The periods completed as a consequence, oldest first. */
  completed: Certificate[]
}

// ---------------------------------------------------------------------------------------
// Creating and reading

export function genesis (founder: JoinStatement): ClockState {
  const start = firstPeriod()
  return {
    town: founder.town,
    day: start.day,
    period: start.period,
    view: foundersView([founder]),
    votes: {},
    evicts: {},
    joins: {},
    founders: [founder],
    prev: null,
    early: []
  }
}

export function now (state: ClockState): TownTime {
  return { day: state.day, period: state.period }
}

export function isMember (state: ClockState, peerId: string): boolean {
  return Object.hasOwn(state.view, peerId)
}

export function majorityOf (n: number): number {
  return Math.floor(n / 2) + 1
}

export interface Tally {
  time: TownTime
  members: Array<{ id: string, name: string, occupation: Occupation, voted: boolean, action?: PeriodAction, evictVotes: number }>
  voted: string[]
  awaited: string[]
  /** Members a majority has signed out this period. */
  evicted: string[]
  majority: number
}

/** Who has voted and who is awaited in the current period: what `status` shows. */
export function tally (state: ClockState): Tally {
  const ids = memberIds(state.view)
  const majority = majorityOf(ids.length)
  const evicted = evictedMembers(state)
  const members = ids.map(id => ({
    id,
    name: state.view[id]!.name,
    occupation: state.view[id]!.occupation,
    voted: state.votes[id] != null,
    action: state.votes[id]?.action,
    evictVotes: countEvictVotes(state, id)
  }))
  return {
    time: now(state),
    members,
    voted: ids.filter(id => state.votes[id] != null),
    awaited: ids.filter(id => state.votes[id] == null && !evicted.includes(id)),
    evicted,
    majority
  }
}

/** Find a member by name (the town's directory for addressing villagers). */
export function memberByName (state: ClockState, name: string): string | undefined {
  const lower = name.toLowerCase()
  return Object.keys(state.view).find(id => state.view[id]!.name.toLowerCase() === lower)
}

/** A short digest of the view, so peers can tell cheaply whether they agree on membership. */
export function viewDigest (view: Record<string, Member>): string {
  let digest = digestOfView.get(view)
  if (digest == null) {
    const h = createHash('sha256')
    for (const id of memberIds(view)) h.update(`${id}:${view[id]!.name}:${view[id]!.occupation};`)
    digest = h.digest('hex').slice(0, 16)
    digestOfView.set(view, digest)
  }
  return digest
}

/**
 * Total order on states: further in time first, then (same period, different
 * membership, which only a race between a late vote and an eviction can cause)
 * the smaller view digest, so every peer picks the same one.
 */
export function compareStates (a: Pick<ClockState, 'day' | 'period' | 'view'>, b: Pick<ClockState, 'day' | 'period' | 'view'>): number {
  const byTime = comparePeriods(a, b)
  if (byTime !== 0) return byTime
  const da = viewDigest(a.view)
  const db = viewDigest(b.view)
  return da === db ? 0 : da < db ? 1 : -1
}

// ---------------------------------------------------------------------------------------
// Applying statements

export function applyStatement (state: ClockState, stmt: Statement): ApplyResult {
  if (stmt.town !== state.town) return rejected(state, 'WRONG_TOWN', `statement for town "${stmt.town}", this is "${state.town}"`)
  switch (stmt.kind) {
    case 'join': return applyJoin(state, stmt)
    case 'vote':
    case 'evict': {
      const when = comparePeriods(stmt, state)
      if (when < 0) return rejected(state, 'PAST_PERIOD', `${stmt.kind} for day ${stmt.day} ${stmt.period}, already at day ${state.day} ${state.period}`)
      if (when > 0) {
        if (comparePeriods(stmt, nextPeriod(state)) !== 0) return rejected(state, 'FUTURE_PERIOD', `${stmt.kind} for day ${stmt.day} ${stmt.period} is too far ahead of day ${state.day} ${state.period}`)
        if (state.early.some(s => s.sig === stmt.sig)) return { state, outcome: { status: 'duplicate' }, completed: [] }
        if (state.early.length >= CLOCK_LIMITS.maxEarly) return rejected(state, 'FULL', 'too many statements for the next period')
        return { state: { ...state, early: [...state.early, stmt] }, outcome: { status: 'buffered' }, completed: [] }
      }
      const applied = stmt.kind === 'vote' ? applyVote(state, stmt) : applyEvict(state, stmt)
      if (applied.state === state) return applied
      const advanced = advance(applied.state)
      return { state: advanced.state, outcome: applied.outcome, completed: advanced.completed }
    }
  }
}

function applyVote (state: ClockState, vote: VoteStatement): ApplyResult {
  if (!isMember(state, vote.voter)) return rejected(state, 'NOT_A_MEMBER', `${vote.voter} is not a member of ${state.town} in day ${state.day} ${state.period}`)
  for (const join of vote.joins) {
    if (join.town !== state.town) return rejected(state, 'INVALID_JOIN', 'vote backs a join request for another town')
  }
  const held = state.votes[vote.voter]
  if (held != null) {
    if (held.sig === vote.sig) return { state, outcome: { status: 'duplicate' }, completed: [] }
    // two different votes by one voter for one period: keep the same one everywhere
    const keep = held.sig < vote.sig ? held : vote
    const next = keep === held ? state : { ...state, votes: { ...state.votes, [vote.voter]: vote } }
    return { state: next, outcome: { status: 'rejected', code: 'EQUIVOCATION', message: `${vote.voter} signed two different votes for day ${vote.day} ${vote.period}` }, completed: [] }
  }
  return { state: { ...state, votes: { ...state.votes, [vote.voter]: vote } }, outcome: { status: 'accepted' }, completed: [] }
}

function applyEvict (state: ClockState, evict: EvictStatement): ApplyResult {
  if (!isMember(state, evict.voter)) return rejected(state, 'NOT_A_MEMBER', `${evict.voter} is not a member and cannot evict`)
  if (!isMember(state, evict.target)) return rejected(state, 'TARGET_NOT_A_MEMBER', `${evict.target} is not a member`)
  if (evict.voter === evict.target) return rejected(state, 'SELF_EVICTION', 'a member cannot evict itself')
  const byTarget = state.evicts[evict.target] ?? {}
  const held = byTarget[evict.voter]
  if (held != null) {
    if (held.sig === evict.sig) return { state, outcome: { status: 'duplicate' }, completed: [] }
    if (held.sig < evict.sig) return { state, outcome: { status: 'duplicate' }, completed: [] }
  }
  return {
    state: { ...state, evicts: { ...state.evicts, [evict.target]: { ...byTarget, [evict.voter]: evict } } },
    outcome: { status: 'accepted' },
    completed: []
  }
}

function applyJoin (state: ClockState, join: JoinStatement): ApplyResult {
  // founders' requests keep circulating while the town forms: seen, not refused
  if (state.founders.some(f => f.sig === join.sig)) return { state, outcome: { status: 'duplicate' }, completed: [] }
  if (isMember(state, join.voter)) return rejected(state, 'ALREADY_MEMBER', `${join.voter} is already a member`)
  const holder = memberByName(state, join.name)
  if (holder != null) return rejected(state, 'NAME_TAKEN', `the name "${join.name}" is taken in ${state.town}`)
  if (comparePeriods(join, state) > 0 && comparePeriods(join, nextPeriod(state)) > 0) {
    return rejected(state, 'FUTURE_PERIOD', `join request dated day ${join.day} ${join.period}, the town is at day ${state.day} ${state.period}`)
  }
  if (periodsBetween(join, state) > CLOCK_LIMITS.joinValidityPeriods) {
    return rejected(state, 'STALE_JOIN', `join request dated day ${join.day} ${join.period} is stale`)
  }
  // while the town is still forming (no period completed), a join makes one a founder
  if (state.prev == null && comparePeriods(state, firstPeriod()) === 0) {
    if (state.founders.some(f => f.sig === join.sig)) return { state, outcome: { status: 'duplicate' }, completed: [] }
    const founders = [...state.founders.filter(f => f.voter !== join.voter), join]
    return { state: { ...state, founders, view: foundersView(founders) }, outcome: { status: 'accepted' }, completed: [] }
  }
  const held = state.joins[join.voter]
  if (held != null && held.sig === join.sig) return { state, outcome: { status: 'duplicate' }, completed: [] }
  if (held != null && comparePeriods(held, join) > 0) return { state, outcome: { status: 'duplicate' }, completed: [] }
  if (held == null && Object.keys(state.joins).length >= CLOCK_LIMITS.maxPendingJoins) return rejected(state, 'FULL', 'too many pending join requests')
  return { state: { ...state, joins: { ...state.joins, [join.voter]: join } }, outcome: { status: 'accepted' }, completed: [] }
}

/** Pending join requests a member should back in its vote now. */
export function joinsToBack (state: ClockState): JoinStatement[] {
  // at most a vote's worth, the same ones at every member that holds the same requests (oldest
  // first, then by PeerId: the sort is stable): more than that made every member's vote invalid
  // on the wire, so 65 requests at once (anyone can make keys) stopped the town's time for good
  return sortedIds(state.joins)
    .map(id => state.joins[id]!)
    .filter(j => !isMember(state, j.voter) && memberByName(state, j.name) == null && periodsBetween(j, state) <= CLOCK_LIMITS.joinValidityPeriods)
    .sort(comparePeriods)
    .slice(0, CLOCK_LIMITS.maxJoinsPerVote)
}

// ---------------------------------------------------------------------------------------
// Completing periods

interface Completion {
  evicted: string[]
  nextView: Record<string, Member>
}

/** Whether the current period is complete and, if so, the next view. */
export function completion (state: Pick<ClockState, 'view' | 'votes' | 'evicts'>): Completion | undefined {
  // Every statement a peer takes in asks this (a town of 50: ~2,500 times a period at each
  // peer), and the answer is nearly always "a vote is still missing": found without sorting
  // the members or counting every member's evictions (perf: ~4 % of a town of 50's CPU).
  if (!everyRemainingMemberVoted(state)) return undefined
  const ids = memberIds(state.view)
  if (ids.length === 0) return undefined
  const majority = majorityOf(ids.length)
  const evicted = evictedMembers(state)
  const remaining = ids.filter(id => !evicted.includes(id))
  if (remaining.length < majority) return undefined
  if (!remaining.every(id => state.votes[id] != null)) return undefined
  const nextView: Record<string, Member> = {}
  for (const id of remaining) nextView[id] = state.view[id]!
  // a joiner enters when a majority of the view backs it; the smallest signature settles
  // any disagreement about its (signed, so normally identical) request
  const backing = new Map<string, { count: number, join: JoinStatement }>()
  for (const id of remaining) {
    const seen = new Set<string>()
    for (const join of state.votes[id]!.joins) {
      if (seen.has(join.voter)) continue
      seen.add(join.voter)
      const entry = backing.get(join.voter)
      if (entry == null) backing.set(join.voter, { count: 1, join })
      else backing.set(join.voter, { count: entry.count + 1, join: join.sig < entry.join.sig ? join : entry.join })
    }
  }
  const takenNames = new Set(Object.values(nextView).map(m => m.name.toLowerCase()))
  for (const joiner of [...backing.keys()].sort()) {
    const { count, join } = backing.get(joiner)!
    if (count < majority || Object.hasOwn(nextView, joiner) || evicted.includes(joiner)) continue
    if (takenNames.has(join.name.toLowerCase())) continue
    if (Object.keys(nextView).length >= CLOCK_LIMITS.maxMembers) break
    nextView[joiner] = { name: join.name, occupation: join.occupation }
    takenNames.add(join.name.toLowerCase())
  }
  return { evicted, nextView }
}

function advance (state: ClockState): { state: ClockState, completed: Certificate[] } {
  const completed: Certificate[] = []
  let current = state
  while (true) {
    const done = completion(current)
    if (done == null) break
    const cert: Certificate = {
      day: current.day,
      period: current.period,
      view: current.view,
      votes: memberIds(current.view).filter(id => !done.evicted.includes(id)).map(id => current.votes[id]!),
      evicts: done.evicted.flatMap(t => Object.values(current.evicts[t] ?? {}))
    }
    const time = nextPeriod(current)
    const joins: Record<string, JoinStatement> = {}
    for (const [id, join] of Object.entries(current.joins)) {
      if (done.nextView[id] == null) joins[id] = join
    }
    let next: ClockState = {
      town: current.town,
      day: time.day,
      period: time.period,
      view: done.nextView,
      votes: {},
      evicts: {},
      joins,
      founders: [],
      prev: cert,
      early: []
    }
    completed.push(cert)
    // statements that arrived early are judged against the view they were meant for
    for (const stmt of current.early) {
      if (comparePeriods(stmt, next) !== 0) continue
      const r = stmt.kind === 'vote' ? applyVote(next, stmt) : applyEvict(next, stmt)
      next = r.state
    }
    current = next
  }
  return { state: current, completed }
}

/** Whether every member has voted or is evicted (what completion requires of the remaining members). */
function everyRemainingMemberVoted (state: Pick<ClockState, 'view' | 'votes' | 'evicts'>): boolean {
  const ids = memberIds(state.view)
  const majority = majorityOf(ids.length)
  for (const id of ids) {
    if (state.votes[id] == null && countEvictVotes(state, id) < majority) return false
  }
  return true
}

function evictedMembers (state: Pick<ClockState, 'view' | 'evicts'>): string[] {
  const ids = memberIds(state.view)
  const majority = majorityOf(ids.length)
  return ids.filter(id => countEvictVotes(state, id) >= majority)
}

function countEvictVotes (state: Pick<ClockState, 'view' | 'evicts'>, target: string): number {
  return Object.keys(state.evicts[target] ?? {}).filter(voter => Object.hasOwn(state.view, voter)).length
}

/**
 * Members whose eviction `self` should sign now: members with no vote this period
 * that `self` has not heard from for `timeoutMs`, counting from `waitingSince` at the
 * earliest: when the period started waiting here (its first vote), since members
 * send no heartbeat while nobody has acted (ClockService.owesHeartbeat). A member that
 * keeps talking but has not acted yet (a person thinking) is slow, not silent, and is
 * never evicted.
 *
 * Only while the period waits on someone, that is once any member has voted in it: a
 * period nobody has acted in waits on no one, so a silent member holds nothing up, and
 * its silence may be a slow start. A town of 100 forming on two cores (BENCHMARKS.md)
 * never formed: its processes lagged behind their own linking, the founders evicted
 * each other, and a town still forming admits no one again. Once someone acts, a member
 * silent for the timeout is evicted at the next check, as before.
 */
export function evictionTargets (
  state: ClockState,
  self: string,
  lastHeard: ReadonlyMap<string, number>,
  waitingSince: number,
  nowMs: number,
  timeoutMs: number
): string[] {
  if (!isMember(state, self)) return []
  if (Object.keys(state.votes).length === 0) return []
  return memberIds(state.view).filter(id => {
    if (id === self || state.votes[id] != null) return false
    if (state.evicts[id]?.[self] != null) return false
    const heard = Math.max(lastHeard.get(id) ?? 0, waitingSince)
    return nowMs - heard >= timeoutMs
  })
}

// ---------------------------------------------------------------------------------------
// Catch-up: adopting or merging another peer's state

export type SnapshotCheck = { ok: true, state: ClockState } | { ok: false, reason: string }

/**
 * Rebuild a state received from a neighbour from what can be checked: its view must
 * follow from its certificate (or its founders, for a town still forming), and its
 * statements for the current period are re-applied one by one, so nothing invalid
 * is kept. Signatures are checked by the caller first.
 */
export function checkSnapshot (snapshot: ClockState, town: string): SnapshotCheck {
  if (snapshot.town !== town) return { ok: false, reason: `snapshot of town "${snapshot.town}"` }
  let base: ClockState
  if (snapshot.prev == null) {
    if (comparePeriods(snapshot, firstPeriod()) !== 0) return { ok: false, reason: 'snapshot past the first period without a certificate' }
    if (snapshot.founders.length === 0) return { ok: false, reason: 'forming town without founders' }
    if (snapshot.founders.some(f => f.town !== town)) return { ok: false, reason: 'founder of another town' }
    const view = foundersView(snapshot.founders)
    base = { ...emptyAt(town, snapshot), view, founders: snapshot.founders }
  } else {
    const cert = snapshot.prev
    const done = completion({
      view: cert.view,
      votes: Object.fromEntries(cert.votes.filter(v => comparePeriods(v, cert) === 0 && Object.hasOwn(cert.view, v.voter)).map(v => [v.voter, v])),
      evicts: groupEvicts(cert.evicts.filter(e => comparePeriods(e, cert) === 0))
    })
    if (done == null) return { ok: false, reason: 'certificate does not complete its period' }
    if (comparePeriods(nextPeriod(cert), snapshot) !== 0) return { ok: false, reason: 'certificate is not for the period before' }
    if (viewDigest(done.nextView) !== viewDigest(snapshot.view)) return { ok: false, reason: 'view does not follow from the certificate' }
    base = { ...emptyAt(town, snapshot), view: done.nextView, prev: cert }
  }
  let state = base
  for (const join of Object.values(snapshot.joins)) state = applyJoin(state, join).state
  for (const vote of Object.values(snapshot.votes)) state = applyStatement(state, vote).state
  for (const byVoter of Object.values(snapshot.evicts)) {
    for (const evict of Object.values(byVoter)) state = applyStatement(state, evict).state
  }
  return { ok: true, state }
}

/**
 * Combine our state with a checked neighbour's: the further one wins (see
 * compareStates) if its view shares a member with ours, and a town of one gives way
 * to a larger one (see replaces); two states of a town that is still forming merge
 * their founders; equal ones pool their statements.
 */
export function mergeStates (ours: ClockState, theirs: ClockState): { state: ClockState, completed: Certificate[], adopted: boolean } {
  const bothForming = ours.prev == null && theirs.prev == null && comparePeriods(ours, theirs) === 0
  if (bothForming) {
    let state = ours
    const completed: Certificate[] = []
    for (const f of theirs.founders) state = applyJoin(state, f).state
    for (const stmt of [...Object.values(theirs.votes), ...Object.values(theirs.evicts).flatMap(e => Object.values(e))]) {
      const r = applyStatement(state, stmt)
      state = r.state
      completed.push(...r.completed)
    }
    return { state, completed, adopted: false }
  }
  // 0 only for the same period and the same view
  const order = compareStates(theirs, ours)
  if (order !== 0) return replaces(theirs, ours, order) ? { state: theirs, completed: [], adopted: true } : { state: ours, completed: [], adopted: false }
  let state = ours
  const completed: Certificate[] = []
  const stmts: Statement[] = [
    ...Object.values(theirs.joins),
    ...Object.values(theirs.votes),
    ...Object.values(theirs.evicts).flatMap(e => Object.values(e))
  ]
  for (const stmt of stmts) {
    const r = applyStatement(state, stmt)
    state = r.state
    completed.push(...r.completed)
  }
  return { state, completed, adopted: false }
}

/**
 * Whether `theirs`, another state of the same town, replaces `ours`. The state further in
 * time does, as long as its view shares a member with ours: that is how the majority side
 * of a healed partition looks to the minority (which could not move), and how the town looks
 * to a member back from a long stop. A view that shares none is another history under the
 * town's name: above all a newcomer's town of one (every villager starts one until a
 * neighbour answers), which its agent can race ahead while the town waits for a slow member;
 * taken by time alone, it let one peer replace a whole town's time and membership. A town of
 * one gives way to a town of more members, ahead or behind: that is how a newcomer comes
 * into the town it finds (it then asks to join).
 */
function replaces (theirs: ClockState, ours: ClockState, order: number): boolean {
  const oursAlone = isTownOfOne(ours)
  const theirsAlone = isTownOfOne(theirs)
  if (oursAlone !== theirsAlone) return oursAlone
  if (order < 0) return false
  return oursAlone || Object.keys(theirs.view).some(id => Object.hasOwn(ours.view, id))
}

function isTownOfOne (state: Pick<ClockState, 'view'>): boolean {
  return Object.keys(state.view).length <= 1
}

/** Every statement of the current period, for re-publishing: one message repairs many gaps. */
export function currentStatements (state: ClockState): Statement[] {
  return [
    ...(state.prev == null ? state.founders : []),
    ...Object.values(state.joins),
    ...Object.values(state.votes),
    ...Object.values(state.evicts).flatMap(e => Object.values(e))
  ]
}

// ---------------------------------------------------------------------------------------
// helpers

function rejected (state: ClockState, code: ClockRejection, message: string): ApplyResult {
  return { state, outcome: { status: 'rejected', code, message }, completed: [] }
}

/** PeerId order: the order of a view's digest, its certificates and the clock's reach bitmap. */
export function sortedIds (record: Record<string, unknown>): string[] {
  return Object.keys(record).sort()
}

// A view is never changed once made (a new membership is a new object), so what is
// derived from it is derived once: the clock asks for its sorted members at every
// statement it takes in, and a view of 50 PeerIds is an object V8 keeps as a dictionary,
// whose keys it sorts again at each Object.keys (perf: a town of 50, ~1 % of its CPU).
const membersOfView = new WeakMap<Record<string, Member>, readonly string[]>()
const digestOfView = new WeakMap<Record<string, Member>, string>()

/** A view's member ids, sorted (the same array each time: not to be changed). */
export function memberIds (view: Record<string, Member>): readonly string[] {
  let ids = membersOfView.get(view)
  if (ids == null) {
    ids = Object.freeze(sortedIds(view))
    membersOfView.set(view, ids)
  }
  return ids
}

/** Founders with clashing names: the smallest PeerId keeps the name. */
function foundersView (founders: JoinStatement[]): Record<string, Member> {
  const view: Record<string, Member> = {}
  const names = new Set<string>()
  for (const f of [...founders].sort((a, b) => a.voter < b.voter ? -1 : a.voter > b.voter ? 1 : 0)) {
    if (Object.hasOwn(view, f.voter) || names.has(f.name.toLowerCase())) continue
    view[f.voter] = { name: f.name, occupation: f.occupation }
    names.add(f.name.toLowerCase())
  }
  return view
}

function emptyAt (town: string, time: TownTime): ClockState {
  return { town, day: time.day, period: time.period, view: {}, votes: {}, evicts: {}, joins: {}, founders: [], prev: null, early: [] }
}

function groupEvicts (evicts: EvictStatement[]): Record<string, Record<string, EvictStatement>> {
  const out: Record<string, Record<string, EvictStatement>> = {}
  for (const e of evicts) {
    const byVoter = out[e.target] ?? (out[e.target] = {})
    const held = byVoter[e.voter]
    if (held == null || e.sig < held.sig) byVoter[e.voter] = e
  }
  return out
}

function periodsBetween (from: TownTime, to: TownTime): number {
  const index = (t: TownTime): number => t.day * PERIODS.length + periodIndex(t.period)
  return index(to) - index(from)
}
