import { createRequire } from 'node:module'
import { randomBytes } from 'node:crypto'
import { expect } from 'chai'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { Uint8ArrayList } from 'uint8arraylist'
import { noiseCrypto, noiseCryptoWith } from '../src/node/noise-crypto.js'
import { PeerPool, waitFor } from './helpers/peers.js'

const flat = (data: Uint8Array | Uint8ArrayList): Uint8Array => data instanceof Uint8Array ? data : data.subarray()

describe('noise frames sealed by libsodium (src/node/noise-crypto.ts)', () => {
  const sodiumCrypto = noiseCrypto()
  const key = randomBytes(32)
  const nonce = randomBytes(12)
  // the transport's frames carry no associated data; the handshake's carry its hash
  const ads = [new Uint8Array(0), randomBytes(32)]
  // either side of noise's default switch (WebAssembly under 1,200 bytes, node:crypto above) and its largest frame
  const sizes = [0, 1, 64, 1199, 1200, 1500, 4000, 65519]

  it('is libsodium where sodium-native loads, and noise\'s default where it does not', () => {
    expect(sodiumCrypto).to.not.equal(defaultCrypto)
    expect(noiseCryptoWith(undefined)).to.equal(defaultCrypto)
  })

  it('seals and opens what noise\'s default does, byte for byte, both ways', () => {
    for (const ad of ads) {
      for (const size of sizes) {
        const plaintext = randomBytes(size)
        const ours = flat(sodiumCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, key))
        const theirs = flat(defaultCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, key))
        expect(Buffer.from(ours).equals(Buffer.from(theirs)), `${size} bytes`).to.equal(true)
        expect(ours.byteLength).to.equal(size + 16)
        expect(Buffer.from(flat(defaultCrypto.chaCha20Poly1305Decrypt(ours, nonce, ad, key))).equals(plaintext)).to.equal(true)
        expect(Buffer.from(flat(sodiumCrypto.chaCha20Poly1305Decrypt(theirs, nonce, ad, key))).equals(plaintext)).to.equal(true)
      }
    }
  })

  it('takes data in pieces (a list of buffers), as noise passes a frame made of several', () => {
    const plaintext = randomBytes(3000)
    const pieces = new Uint8ArrayList(plaintext.subarray(0, 1000), plaintext.subarray(1000))
    const sealed = flat(sodiumCrypto.chaCha20Poly1305Encrypt(pieces, nonce, ads[0]!, key))
    const sealedPieces = new Uint8ArrayList(sealed.subarray(0, 7), sealed.subarray(7))
    expect(Buffer.from(flat(sodiumCrypto.chaCha20Poly1305Decrypt(sealedPieces, nonce, ads[0]!, key))).equals(plaintext)).to.equal(true)
  })

  it('opens in place into the frame\'s own bytes, as noise asks (dst)', () => {
    const plaintext = randomBytes(1500)
    const frame = Uint8Array.from(flat(sodiumCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ads[0]!, key)))
    const dst = frame.subarray(0, frame.byteLength - 16)
    const opened = sodiumCrypto.chaCha20Poly1305Decrypt(frame, nonce, ads[0]!, key, dst)
    expect(opened).to.equal(dst)
    expect(Buffer.from(dst).equals(plaintext)).to.equal(true)
  })

  it('refuses a changed frame, other associated data, another nonce or key, and a frame shorter than its tag', () => {
    const plaintext = randomBytes(500)
    const sealed = Uint8Array.from(flat(sodiumCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ads[1]!, key)))
    const changed = Uint8Array.from(sealed)
    changed[100]! ^= 1
    const tagChanged = Uint8Array.from(sealed)
    tagChanged[sealed.byteLength - 1]! ^= 1
    const otherNonce = Uint8Array.from(nonce)
    otherNonce[11]! ^= 1
    const attempts: Array<[string, () => unknown]> = [
      ['a changed byte', () => sodiumCrypto.chaCha20Poly1305Decrypt(changed, nonce, ads[1]!, key)],
      ['a changed tag', () => sodiumCrypto.chaCha20Poly1305Decrypt(tagChanged, nonce, ads[1]!, key)],
      ['other associated data', () => sodiumCrypto.chaCha20Poly1305Decrypt(sealed, nonce, ads[0]!, key)],
      ['another nonce', () => sodiumCrypto.chaCha20Poly1305Decrypt(sealed, otherNonce, ads[1]!, key)],
      ['another key', () => sodiumCrypto.chaCha20Poly1305Decrypt(sealed, nonce, ads[1]!, randomBytes(32))],
      ['shorter than a tag', () => sodiumCrypto.chaCha20Poly1305Decrypt(sealed.subarray(0, 15), nonce, ads[1]!, key)]
    ]
    for (const [what, attempt] of attempts) expect(attempt, what).to.throw('Invalid chacha20poly1305 decryption')
  })

  describe('between real peers over TCP', () => {
    const pool = new PeerPool()
    const sodium = createRequire(import.meta.url)('sodium-native')
    const seal = sodium.crypto_aead_chacha20poly1305_ietf_encrypt
    const open = sodium.crypto_aead_chacha20poly1305_ietf_decrypt
    const calls = { seal: 0, open: 0 }
    before(() => {
      sodium.crypto_aead_chacha20poly1305_ietf_encrypt = (...args: unknown[]) => { calls.seal++; return seal(...args) }
      sodium.crypto_aead_chacha20poly1305_ietf_decrypt = (...args: unknown[]) => { calls.open++; return open(...args) }
    })
    after(async () => {
      sodium.crypto_aead_chacha20poly1305_ietf_encrypt = seal
      sodium.crypto_aead_chacha20poly1305_ietf_decrypt = open
      await pool.cleanup()
    })

    it('a connection\'s handshake and frames go through libsodium, and the peers talk', async () => {
      const a = await pool.create()
      const b = await pool.create()
      await a.libp2p.dial(b.libp2p.getMultiaddrs()[0]!)
      const rtt = await a.libp2p.services.ping.ping(b.libp2p.peerId)
      expect(rtt).to.be.a('number')
      await waitFor(() => calls.seal > 0 && calls.open > 0, 5_000, 'frames sealed and opened by libsodium')
    })
  })
})
