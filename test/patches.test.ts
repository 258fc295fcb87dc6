import crypto from 'node:crypto'
import { expect } from 'chai'
import { generateKeyPair } from '@libp2p/crypto/keys'

// patches/@libp2p+crypto+*.patch: Ed25519 keys imported once, and a signature check that
// passed is not made again in the same process (peers sharing a process each check every message)
describe('patched @libp2p/crypto: Ed25519 checks', () => {
  const calls = { verify: 0, importPublic: 0 }
  const verify = crypto.verify
  const createPublicKey = crypto.createPublicKey
  before(() => {
    (crypto as any).verify = (...args: Parameters<typeof crypto.verify>) => { calls.verify++; return verify(...args) }
    ;(crypto as any).createPublicKey = (...args: Parameters<typeof crypto.createPublicKey>) => { calls.importPublic++; return createPublicKey(...args) }
  })
  after(() => {
    (crypto as any).verify = verify
    ;(crypto as any).createPublicKey = createPublicKey
  })

  it('a check that passed is answered from memory; anything changed is checked again and fails', async () => {
    const alice = await generateKeyPair('Ed25519')
    const bob = await generateKeyPair('Ed25519')
    const msg = new TextEncoder().encode(`a vote ${Math.random()}`)
    const sig = await alice.sign(msg)
    calls.verify = 0
    calls.importPublic = 0
    expect(await alice.publicKey.verify(msg, sig)).to.equal(true)
    expect(await alice.publicKey.verify(Uint8Array.from(msg), Uint8Array.from(sig))).to.equal(true)
    expect(calls.verify, 'the same key, signature and bytes are checked once').to.equal(1)
    expect(calls.importPublic, 'the key is imported once').to.equal(1)

    const other = msg.slice()
    other[0]! ^= 1
    const forged = Uint8Array.from(sig) // a copy: sig may be a Buffer, whose slice() is a view
    forged[10]! ^= 1
    for (let i = 0; i < 2; i++) {
      expect(await alice.publicKey.verify(other, sig), 'another message').to.equal(false)
      expect(await alice.publicKey.verify(msg, forged), 'another signature').to.equal(false)
      expect(await bob.publicKey.verify(msg, sig), 'another key').to.equal(false)
    }
    expect(calls.verify, 'failures are never remembered').to.equal(7)
    expect(await alice.publicKey.verify(msg, sig)).to.equal(true)
    expect(calls.verify).to.equal(7)
  })
})
