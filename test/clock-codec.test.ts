import { expect } from 'chai'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import {
  ClockMessageSchema, fromSnapshot, PackedSyncResponseSchema, sign, snapshotStatements, splitBySize, StatementVerifier, SyncResponseSchema,
  toPackedSnapshot, toSnapshot, unpackSnapshot, VoteSchema
} from '../src/protocols/clock/codec.js'
import { MAX_CLOCK_MESSAGE_BYTES, MAX_PACKED_SNAPSHOT_BYTES, MAX_SNAPSHOT_BYTES } from '../src/protocols/clock/constants.js'
import { describeZodError, encodeJson } from '../src/protocols/wire.js'
import { CLOCK_LIMITS, type ClockState, type EvictStatement, type JoinStatement, type Statement, type VoteStatement } from '../src/town/clock.js'

const TOWN = 'codecville'

async function joinBy (key: PrivateKey, name: string): Promise<JoinStatement> {
  return sign<JoinStatement>(key, { kind: 'join', town: TOWN, day: 1, period: 'morning', voter: peerIdFromPrivateKey(key).toString(), name, occupation: 'farmer' })
}

describe('clock statement verifier (real Ed25519 signatures)', () => {
  let keys: PrivateKey[]
  before(async () => { keys = await Promise.all([0, 1, 2].map(async () => generateKeyPair('Ed25519'))) })

  it('checks a signature once; a known signature on other fields is a forgery', async () => {
    const verifier = new StatementVerifier()
    const ann = await joinBy(keys[0]!, 'ann')
    expect(await verifier.verify(ann)).to.equal(true)
    expect(await verifier.verifyAll([ann, ann])).to.equal(true)
    expect(verifier.verifications).to.equal(1)
    const renamed: Statement = { ...ann, name: 'mallory' }
    expect(await verifier.verify(renamed)).to.equal(false)
    expect(await verifier.verifyAll([ann, renamed])).to.equal(false)
    const evict: EvictStatement = { kind: 'evict', town: TOWN, day: 1, period: 'morning', voter: ann.voter, target: ann.voter, sig: ann.sig }
    expect(await verifier.verify(evict)).to.equal(false)
  })

  it('a voter that is no Ed25519 PeerId fails, and a voter\'s remembered key checks only its own signatures', async () => {
    const verifier = new StatementVerifier(2)
    const [ann, ben, cat] = await Promise.all(['ann', 'ben', 'cat'].map(async (name, i) => joinBy(keys[i]!, name)))
    expect(await verifier.verify({ ...ann!, voter: 'not-a-peer-id' })).to.equal(false)
    expect(await verifier.verify({ ...ann!, voter: 'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N' }), 'an RSA-style id carries no key').to.equal(false)
    expect(await verifier.verify(ann!)).to.equal(true)
    // ben's statement under ann's name: ann's key (remembered now) refuses it
    expect(await verifier.verify({ ...ben!, voter: ann!.voter })).to.equal(false)
    // more voters than the bound: keys are decoded again, never confused
    expect(await verifier.verifyAll([ben!, cat!])).to.equal(true)
    expect(await verifier.verify({ ...cat!, voter: ben!.voter, name: 'ben' })).to.equal(false)
  })

  it('keeps the most recently seen statements when full, forgetting the oldest only', async () => {
    const verifier = new StatementVerifier(2)
    const [a, b, c] = await Promise.all(['ann', 'ben', 'cat'].map(async (name, i) => joinBy(keys[i]!, name)))
    expect(await verifier.verifyAll([a!, b!])).to.equal(true)
    // a seen again: b is now the oldest, and c's entry pushes b out, not a
    expect(await verifier.verifyAll([a!, c!])).to.equal(true)
    expect(verifier.verifications).to.equal(3)
    expect(await verifier.verifyAll([a!, c!])).to.equal(true)
    expect(verifier.verifications).to.equal(3)
    expect(await verifier.verify(b!)).to.equal(true)
    expect(verifier.verifications).to.equal(4)
  })

  it('a statement signed here is good without a check; the same signature on other fields is still checked and refused', async () => {
    const verifier = new StatementVerifier()
    const ann = await joinBy(keys[0]!, 'ann')
    verifier.signedHere(ann)
    expect(await verifier.verifyAll([ann])).to.equal(true)
    expect(await verifier.verify(ann)).to.equal(true)
    expect(verifier.verifications).to.equal(0)
    expect(await verifier.verifyAll([{ ...ann, name: 'mallory' }])).to.equal(false)
    expect(verifier.verifications).to.equal(1)
  })

  it('a vote is good only when the join requests it backs are: each checked once, a forged one refuses the vote', async () => {
    const verifier = new StatementVerifier()
    const ben = await joinBy(keys[1]!, 'ben')
    const voteBy = async (joins: JoinStatement[]): Promise<VoteStatement> => sign<VoteStatement>(keys[0]!, {
      kind: 'vote', town: TOWN, day: 1, period: 'morning', voter: peerIdFromPrivateKey(keys[0]!).toString(), action: 'idle', joins
    })
    const vote = await voteBy([ben])
    // own vote signed here: the join inside it is someone else's and still gets its check
    verifier.signedHere(vote)
    expect(await verifier.verifyAll([vote, vote])).to.equal(true)
    expect(verifier.verifications).to.equal(1)
    // the voter's signature is good (it covers the join's forged signature as given), the join's is not
    const forgedJoin = { ...ben, name: 'mallory' }
    const backsForgery = await voteBy([forgedJoin])
    expect(await verifier.verifyAll([backsForgery])).to.equal(false)
    expect(await verifier.verify(backsForgery)).to.equal(false)
  })
})

describe('clock message size: a whole set split into messages within the bound', () => {
  it('splits votes backing 64 joins each (~21 KB) into parts that each fit a message, in order, none lost', async () => {
    const keys = await Promise.all(Array.from({ length: 64 }, async () => generateKeyPair('Ed25519')))
    const joins = await Promise.all(keys.map(async (k, i) => joinBy(k, `newcomer${i}`)))
    const voterKeys = await Promise.all(Array.from({ length: 40 }, async () => generateKeyPair('Ed25519')))
    const votes = await Promise.all(voterKeys.map(async k => sign<VoteStatement>(k, {
      kind: 'vote', town: TOWN, day: 1, period: 'morning', voter: peerIdFromPrivateKey(k).toString(), action: 'idle', joins
    })))
    expect(VoteSchema.safeParse(votes[0]).success, 'a vote backing 64 joins is a valid vote').to.equal(true)
    const envelope = { v: 1, town: TOWN, day: 1, period: 'morning', digest: 'a'.repeat(16), forming: false, seq: 0, stmts: [] as Statement[] }
    expect(encodeJson({ ...envelope, stmts: votes }).byteLength, 'the whole set is over the bound').to.be.greaterThan(MAX_CLOCK_MESSAGE_BYTES)
    const parts = splitBySize(votes, MAX_CLOCK_MESSAGE_BYTES - encodeJson(envelope).byteLength)
    expect(parts.length).to.be.greaterThan(1)
    expect(parts.flat()).to.deep.equal(votes)
    for (const part of parts) {
      const bytes = encodeJson({ ...envelope, stmts: part })
      expect(bytes.byteLength).to.be.at.most(MAX_CLOCK_MESSAGE_BYTES)
      expect(ClockMessageSchema.safeParse(JSON.parse(new TextDecoder().decode(bytes))).success).to.equal(true)
    }
    // a set within the budget stays one part; a statement alone over it goes alone
    expect(splitBySize(votes.slice(0, 3), MAX_CLOCK_MESSAGE_BYTES)).to.deep.equal([votes.slice(0, 3)])
    expect(splitBySize(votes.slice(0, 3), 100)).to.deep.equal(votes.slice(0, 3).map(v => [v]))
    expect(splitBySize([], 100)).to.deep.equal([])
  })
})

describe('clock-sync 1.1.0: a snapshot carries each join request once', () => {
  /**
   * A state of `members` members in day 2 morning, every member's vote of the last period and
   * all but one's of this one backing 64 join requests (the last period's 64 are members now).
   */
  async function stateBackingJoins (members: number, pending = 64): Promise<ClockState> {
    const memberKeys = await Promise.all(Array.from({ length: members }, async () => generateKeyPair('Ed25519')))
    const ids = memberKeys.map(k => peerIdFromPrivateKey(k).toString())
    const view = Object.fromEntries(ids.map((id, i) => [id, { name: `m${i}`, occupation: 'farmer' as const }]))
    const newcomerKeys = await Promise.all(Array.from({ length: pending }, async () => generateKeyPair('Ed25519')))
    const joins = await Promise.all(newcomerKeys.map(async (k, i) => sign<JoinStatement>(k, {
      kind: 'join', town: TOWN, day: 2, period: 'morning', voter: peerIdFromPrivateKey(k).toString(), name: `newcomer${i}`, occupation: 'chef'
    })))
    const admitted = await Promise.all(memberKeys.slice(0, 64).map(async (k, i) => joinBy(k, `m${i}`)))
    const backed = joins.slice(0, CLOCK_LIMITS.maxJoinsPerVote)
    const voteOf = async (k: PrivateKey, day: number, period: 'morning' | 'evening', joinsBacked: JoinStatement[]): Promise<VoteStatement> =>
      sign<VoteStatement>(k, { kind: 'vote', town: TOWN, day, period, voter: peerIdFromPrivateKey(k).toString(), action: 'idle', joins: joinsBacked })
    const prevVotes = await Promise.all(memberKeys.map(async k => voteOf(k, 1, 'evening', admitted)))
    const votes = await Promise.all(memberKeys.slice(1).map(async k => voteOf(k, 2, 'morning', backed)))
    return {
      town: TOWN, day: 2, period: 'morning', view,
      votes: Object.fromEntries(votes.map(v => [v.voter, v])),
      evicts: {},
      joins: Object.fromEntries(joins.map(j => [j.voter, j])),
      founders: [],
      prev: { day: 1, period: 'evening', view, votes: prevVotes, evicts: [] },
      early: []
    }
  }

  /** What the requester gets: the reply's JSON, parsed and schema-checked as `request` does. */
  function overTheWire<T> (schema: { safeParse: (v: unknown) => { success: true, data: T } | { success: false, error: any } }, reply: unknown): T {
    const parsed = schema.safeParse(JSON.parse(new TextDecoder().decode(encodeJson(reply))))
    if (!parsed.success) throw new Error(describeZodError(parsed.error))
    return parsed.data
  }

  it('40 members backing 64 requests: over 1.0.0\'s bound in full (1.1 MB), under a tenth of it packed, the same signed votes unpacked', async () => {
    const state = await stateBackingJoins(40)
    const full = encodeJson({ snapshot: toSnapshot(state) }).byteLength
    const packed = encodeJson({ snapshot: toPackedSnapshot(state) }).byteLength
    expect(full, 'the 1.0.0 form').to.be.greaterThan(MAX_SNAPSHOT_BYTES)
    expect(packed, 'the 1.1.0 form').to.be.lessThan(full / 10)
    const { snapshot } = overTheWire(PackedSyncResponseSchema, { snapshot: toPackedSnapshot(state) })
    expect(snapshot!.pool, 'each request once: the 40 admitted in the last period, the 64 backed now').to.have.length(40 + 64)
    const unpacked = fromSnapshot(unpackSnapshot(snapshot!))
    expect(unpacked).to.deep.equal(state)
    expect(await new StatementVerifier().verifyAll(snapshotStatements(unpacked)), 'every signature holds').to.equal(true)
    // the unpacked form is the stored one
    expect(SyncResponseSchema.safeParse({ snapshot: toSnapshot(unpacked) }).success).to.equal(true)
  })

  it('a place outside the pool is refused by the schema, naming the vote; a pool entry changed fails its signature', async () => {
    const state = await stateBackingJoins(5, 3)
    const packed = JSON.parse(JSON.stringify({ snapshot: toPackedSnapshot(state) }))
    const voter = Object.keys(packed.snapshot.votes)[0]!
    packed.snapshot.votes[voter].joins = [0, 1, 2, 3, 70]
    const refused = PackedSyncResponseSchema.safeParse(packed)
    expect(refused.success).to.equal(false)
    expect(describeZodError(refused.error!)).to.match(new RegExp(`vote of ${voter} backs join 70 of a pool of \\d+`))
    // a place past the pool's bound, a place that is not a whole number, a pool over its bound
    for (const joins of [[2048], [1.5], [-1]]) {
      const bad = JSON.parse(JSON.stringify({ snapshot: toPackedSnapshot(state) }))
      bad.snapshot.votes[voter].joins = joins
      expect(PackedSyncResponseSchema.safeParse(bad).success, JSON.stringify(joins)).to.equal(false)
    }
    const forged = JSON.parse(JSON.stringify({ snapshot: toPackedSnapshot(state) }))
    forged.snapshot.pool[0].occupation = 'carpenter'
    const { snapshot } = overTheWire(PackedSyncResponseSchema, forged)
    expect(await new StatementVerifier().verifyAll(snapshotStatements(fromSnapshot(unpackSnapshot(snapshot!)))), 'a changed request is a forgery').to.equal(false)
  })

  it('the largest honest snapshot (1,024 members, two periods backing 64 requests, 256 pending) fits 1.1.0\'s bound', async function () {
    this.timeout(60_000)
    const state = await stateBackingJoins(CLOCK_LIMITS.maxMembers, CLOCK_LIMITS.maxPendingJoins)
    const reply = { snapshot: toPackedSnapshot(state) }
    const bytes = encodeJson(reply).byteLength
    expect(bytes).to.be.lessThan(MAX_PACKED_SNAPSHOT_BYTES)
    expect(bytes, 'the bound is not loose by much (constants.ts names the figure)').to.be.greaterThan(MAX_PACKED_SNAPSHOT_BYTES / 2)
    expect(PackedSyncResponseSchema.safeParse(JSON.parse(new TextDecoder().decode(encodeJson(reply)))).success).to.equal(true)
  })
})
