import { expect } from 'chai'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { ClockMessageSchema, sign, splitBySize, StatementVerifier, VoteSchema } from '../src/protocols/clock/codec.js'
import { MAX_CLOCK_MESSAGE_BYTES } from '../src/protocols/clock/constants.js'
import { encodeJson } from '../src/protocols/wire.js'
import type { EvictStatement, JoinStatement, Statement, VoteStatement } from '../src/town/clock.js'

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
