/**
 * Wire forms of the clock: zod schemas for every statement, gossip message and
 * snapshot (bounded sizes, checked before use), and the signatures that let any
 * peer relay another's vote while nobody can forge one.
 */
import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { fromString, toString } from 'uint8arrays'
import { z } from 'zod'
import { CLOCK_LIMITS, type ClockState, type EvictStatement, type JoinStatement, type Statement, type VoteStatement } from '../../town/clock.js'
import { OCCUPATIONS, PERIOD_ACTIONS, PERIODS } from '../../town/rules.js'
import { TOWN_NAME_PATTERN } from '../town-directory/constants.js'
import { MAX_REACH_CHARS, MAX_REACH_GUESTS, SIGNING_DOMAIN } from './constants.js'
import { PeerTagSchema } from '../../node/gossip-routes.js'

const MAX_DAY = 1_000_000_000
export const PeerIdString = z.string().min(40).max(100).regex(/^[1-9A-HJ-NP-Za-km-z]+$/, 'not a base58 PeerId')
const Town = z.string().regex(TOWN_NAME_PATTERN, 'invalid town name')
const Day = z.number().int().min(1).max(MAX_DAY)
const Period = z.enum(PERIODS)
const Sig = z.string().min(16).max(200).regex(/^[A-Za-z0-9_-]+$/, 'not base64url')
const Name = z.string().min(1).max(32).regex(/^[\p{L}\p{N}_-]+$/u, 'invalid villager name')

export const JoinSchema = z.strictObject({
  kind: z.literal('join'), town: Town, day: Day, period: Period, voter: PeerIdString,
  name: Name, occupation: z.enum(OCCUPATIONS), sig: Sig
})
export const VoteSchema = z.strictObject({
  kind: z.literal('vote'), town: Town, day: Day, period: Period, voter: PeerIdString,
  action: z.enum(PERIOD_ACTIONS), joins: z.array(JoinSchema).max(CLOCK_LIMITS.maxJoinsPerVote), sig: Sig
})
export const EvictSchema = z.strictObject({
  kind: z.literal('evict'), town: Town, day: Day, period: Period, voter: PeerIdString, target: PeerIdString, sig: Sig
})
export const StatementSchema = z.discriminatedUnion('kind', [JoinSchema, VoteSchema, EvictSchema])

const MemberSchema = z.strictObject({ name: Name, occupation: z.enum(OCCUPATIONS) })
const ViewSchema = z.record(PeerIdString, MemberSchema).refine(v => Object.keys(v).length <= 1024, 'view too large')

/** What every peer publishes on the clock topic: where it is, and what it holds for that period. */
export const ClockMessageSchema = z.strictObject({
  v: z.literal(1),
  town: Town,
  day: Day,
  period: Period,
  digest: z.string().regex(/^[0-9a-f]{16}$/),
  forming: z.boolean(),
  seq: z.number().int().nonnegative(),
  stmts: z.array(StatementSchema).max(4096),
  /** The members of the author's view it sent this message to (reach.ts). */
  reach: z.string().max(MAX_REACH_CHARS).regex(/^[A-Za-z0-9_-]*$/, 'not base64url').optional(),
  /** Subscribers outside that view it sent this message to, by PeerId tag (reach.ts). */
  guests: z.array(PeerTagSchema).max(MAX_REACH_GUESTS).optional()
})
export type ClockMessage = z.infer<typeof ClockMessageSchema>

const CertificateSchema = z.strictObject({
  day: Day, period: Period, view: ViewSchema, votes: z.array(VoteSchema).max(1024), evicts: z.array(EvictSchema).max(1024 * 1024)
})

export const SnapshotSchema = z.strictObject({
  town: Town,
  day: Day,
  period: Period,
  view: ViewSchema,
  votes: z.record(PeerIdString, VoteSchema),
  evicts: z.record(PeerIdString, z.record(PeerIdString, EvictSchema)),
  joins: z.record(PeerIdString, JoinSchema),
  founders: z.array(JoinSchema).max(1024),
  prev: CertificateSchema.nullable()
})

export const SyncRequestSchema = z.strictObject({ town: Town })
/** clock-sync 1.0.0's answer, and the stored form: every vote carries the join requests it backs in full. */
export const SyncResponseSchema = z.strictObject({ snapshot: SnapshotSchema.nullable() })

export type Snapshot = z.infer<typeof SnapshotSchema>

/**
 * Distinct join requests the votes of a packed snapshot back. Members back the oldest
 * 64 of at most 256 pending requests, and requests go stale after three periods, so an
 * honest snapshot's two periods name a few hundred; the bytes bound the rest.
 */
export const MAX_JOIN_POOL = 2_048

/** A vote as clock-sync 1.1.0 carries it: the join requests it backs as places in the snapshot's pool. */
const PackedVoteSchema = VoteSchema.extend({
  joins: z.array(z.number().int().nonnegative().max(MAX_JOIN_POOL - 1)).max(CLOCK_LIMITS.maxJoinsPerVote)
})
type PackedVote = z.infer<typeof PackedVoteSchema>

/**
 * clock-sync 1.1.0's snapshot: each join request once, in `pool`. In a period with 64
 * pending requests every vote backs all of them (~21 KB a vote in full), so the 1.0.0
 * form outgrew its bound from ~25 members, when a newcomer or a peer behind needs it most.
 * Only the wire form changes: a vote's signature covers its joins' signatures, not their
 * places, so the unpacked votes are the signed ones.
 */
export const PackedSnapshotSchema = SnapshotSchema.extend({
  votes: z.record(PeerIdString, PackedVoteSchema),
  prev: CertificateSchema.extend({ votes: z.array(PackedVoteSchema).max(1024) }).nullable(),
  pool: z.array(JoinSchema).max(MAX_JOIN_POOL)
}).superRefine((s, ctx) => {
  const votes = [...Object.values(s.votes), ...(s.prev?.votes ?? [])]
  const outside = votes.find(v => v.joins.some(i => i >= s.pool.length))
  if (outside != null) {
    ctx.addIssue({ code: 'custom', path: ['pool'], message: `the vote of ${outside.voter} backs join ${Math.max(...outside.joins)} of a pool of ${s.pool.length}` })
  }
})
export const PackedSyncResponseSchema = z.strictObject({ snapshot: PackedSnapshotSchema.nullable() })

/** The snapshot we serve: the state minus what is only ours (statements buffered early). */
export function toSnapshot (state: ClockState): Snapshot {
  const { early: _early, ...snapshot } = state
  return snapshot
}

/** The snapshot we serve on clock-sync 1.1.0: each join request a vote backs, once. */
export function toPackedSnapshot (state: ClockState): z.infer<typeof PackedSnapshotSchema> {
  const pool: JoinStatement[] = []
  const places = new Map<string, number>()
  const pack = (vote: VoteStatement): PackedVote => ({
    ...vote,
    joins: vote.joins.map(join => {
      let place = places.get(join.sig)
      if (place == null) {
        place = pool.push(join) - 1
        places.set(join.sig, place)
      }
      return place
    })
  })
  const snapshot = toSnapshot(state)
  return {
    ...snapshot,
    votes: Object.fromEntries(Object.entries(snapshot.votes).map(([voter, vote]) => [voter, pack(vote)])),
    prev: snapshot.prev == null ? null : { ...snapshot.prev, votes: snapshot.prev.votes.map(pack) },
    pool
  }
}

/** A packed snapshot (schema-checked: every place is in the pool) in the form of 1.0.0. */
export function unpackSnapshot (packed: z.infer<typeof PackedSnapshotSchema>): Snapshot {
  const { pool, ...rest } = packed
  const unpack = (vote: PackedVote): VoteStatement => ({ ...vote, joins: vote.joins.map(place => pool[place]!) })
  return {
    ...rest,
    votes: Object.fromEntries(Object.entries(rest.votes).map(([voter, vote]) => [voter, unpack(vote)])),
    prev: rest.prev == null ? null : { ...rest.prev, votes: rest.prev.votes.map(unpack) }
  }
}

export function fromSnapshot (snapshot: Snapshot): ClockState {
  return { ...snapshot, early: [] }
}

type Unsigned<S> = Omit<S, 'sig'>

/** The exact text a statement's signature covers: every field but the signature, in a fixed order. */
export function signingText (stmt: Unsigned<Statement>): string {
  const common = [SIGNING_DOMAIN, stmt.kind, stmt.town, stmt.day, stmt.period, stmt.voter]
  const specific = stmt.kind === 'vote'
    ? [(stmt as Unsigned<VoteStatement>).action, (stmt as Unsigned<VoteStatement>).joins.map(j => j.sig)]
    : stmt.kind === 'evict'
      ? [(stmt as Unsigned<EvictStatement>).target]
      : [(stmt as Unsigned<JoinStatement>).name, (stmt as Unsigned<JoinStatement>).occupation]
  return JSON.stringify([...common, ...specific])
}

const utf8 = new TextEncoder()

/** The bytes signed: signingText in UTF-8. */
export function signingBytes (stmt: Unsigned<Statement>): Uint8Array {
  return utf8.encode(signingText(stmt))
}

export async function sign<S extends Statement> (key: PrivateKey, stmt: Unsigned<S>): Promise<S> {
  const sig = await key.sign(signingBytes(stmt))
  return { ...stmt, sig: toString(sig, 'base64url') } as S
}

/**
 * Checks signatures, remembering good ones: a re-published set is mostly
 * statements already seen, and Ed25519 verification is the barrier's main CPU cost.
 */
export class StatementVerifier {
  /** Keys of good statements (cacheKey), least recently seen first. */
  private readonly verified = new Set<string>()
  private readonly max: number
  verifications = 0

  // a re-published set holds one period's statements and a snapshot two periods': dozens of
  // periods of a town of 50 fit, and each entry (signature and signed text) is ~0.5 KB of heap
  constructor (max = 4_096) {
    this.max = max
  }

  async verify (stmt: Statement): Promise<boolean> {
    return await this.check(stmt)
  }

  /**
   * A message's statements are mostly known ones (a heartbeat's, a re-published set's):
   * those are looked up without a signature check or an await each.
   */
  async verifyAll (stmts: Iterable<Statement>): Promise<boolean> {
    for (const s of stmts) {
      const ok = this.check(s)
      if (ok === true) continue
      if (ok === false || !await ok) return false
    }
    return true
  }

  /**
   * A statement this peer has just signed itself: good without a check. Each member's
   * own vote comes back in the relay's message of the period's votes, and was checked
   * there once more (one of the N checks a member makes each period).
   */
  signedHere (stmt: Statement): void {
    // only the statement itself: the join requests a vote backs are others', checked as they came in
    this.remember(cacheKey(stmt, signingText(stmt)))
  }

  /**
   * True when known (synchronously, no await), else the signature's check. The signed
   * text is built once per statement: it is the cache key's and the checked bytes' both.
   */
  private check (stmt: Statement): boolean | Promise<boolean> {
    if (stmt.kind === 'vote' && stmt.joins.length > 0) return this.checkWithJoins(stmt)
    return this.checkOwn(stmt)
  }

  private async checkWithJoins (vote: VoteStatement): Promise<boolean> {
    for (const join of vote.joins) if (!await this.check(join)) return false
    return await this.checkOwn(vote)
  }

  /** The statement's own signature (a vote's joins aside): the memo, else the check. */
  private checkOwn (stmt: Statement): boolean | Promise<boolean> {
    const text = signingText(stmt)
    const key = cacheKey(stmt, text)
    if (this.seen(key)) return true
    return this.checkSignature(stmt, text, key)
  }

  private async checkSignature (stmt: Statement, text: string, key: string): Promise<boolean> {
    let ok = false
    try {
      const publicKey = this.publicKeyOf(stmt.voter)
      if (publicKey == null) return false
      this.verifications++
      ok = await publicKey.verify(utf8.encode(text), fromString(stmt.sig, 'base64url'))
    } catch {
      return false
    }
    if (ok) this.remember(key)
    return ok
  }

  private remember (key: string): void {
    if (this.seen(key)) return
    // the oldest goes, not the whole cache: clearing it all made a town of 50 check every
    // statement of the next few sets again, right when it was busiest
    if (this.verified.size >= this.max) this.verified.delete(this.verified.values().next().value!)
    this.verified.add(key)
  }

  /** Voters' keys, decoded from their PeerIds once (base58 and protobuf: ~4 % of a villager's CPU when done per check). */
  private readonly keys = new Map<string, PublicKey | undefined>()

  private publicKeyOf (voter: string): PublicKey | undefined {
    if (this.keys.has(voter)) return this.keys.get(voter)
    const key = peerIdFromString(voter).publicKey
    // a town holds dozens of members; a flood of made-up voters only ever costs this bound
    if (this.keys.size >= this.max) this.keys.delete(this.keys.keys().next().value!)
    this.keys.set(voter, key)
    return key
  }

  /** Whether the key is cached; a hit moves it to the young end. */
  private seen (key: string): boolean {
    if (!this.verified.delete(key)) return false
    this.verified.add(key)
    return true
  }
}

/** The cache key covers the signed content too: a known signature pasted onto other fields is a forgery. */
function cacheKey (stmt: Statement, text: string): string {
  return `${stmt.sig}\n${text}`
}

/** Every statement a snapshot carries, for signature checks. */
export function snapshotStatements (s: ClockState): Statement[] {
  return [
    ...s.founders,
    ...Object.values(s.joins),
    ...Object.values(s.votes),
    ...Object.values(s.evicts).flatMap(e => Object.values(e)),
    ...(s.prev == null ? [] : [...s.prev.votes, ...s.prev.evicts])
  ]
}

/**
 * `stmts` in order, in groups whose JSON (as in a message's `stmts` array) takes at
 * most `budget` bytes each. A statement larger than the budget alone makes a group of
 * its own (none is: a vote backing 64 joins is ~21 KB).
 */
export function splitBySize (stmts: Statement[], budget: number): Statement[][] {
  const groups: Statement[][] = []
  let group: Statement[] = []
  let size = 2
  for (const stmt of stmts) {
    const bytes = Buffer.byteLength(JSON.stringify(stmt)) + 1
    if (group.length > 0 && size + bytes > budget) {
      groups.push(group)
      group = []
      size = 2
    }
    group.push(stmt)
    size += bytes
  }
  if (group.length > 0) groups.push(group)
  return groups
}
