import { expect } from 'chai'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { sign, StatementVerifier } from '../src/protocols/clock/codec.js'
import type { EvictStatement, JoinStatement, Statement } from '../src/town/clock.js'

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
