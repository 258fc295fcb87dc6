/**
 * Noise's transport encryption (ChaCha20-Poly1305, IETF) by libsodium.
 *
 * Every frame a peer sends or receives is sealed or opened once. Noise's default
 * seals frames under 1,200 bytes in WebAssembly and larger ones through node:crypto,
 * which builds a cipher object per frame; libsodium does either in one native call,
 * 2.5-5x faster for a town's frames (a vote, a relay's set of votes, a room message:
 * `npm run bench` notes the measurement). The rest of noise (the handshake's X25519,
 * hashing, HKDF) stays noise's own. Where sodium-native cannot load, noise's default is used.
 */
import { createRequire } from 'node:module'
import type { ICryptoInterface } from '@chainsafe/libp2p-noise'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'

/** The two calls of sodium-native used here (it ships no types). */
export interface SodiumAead {
  crypto_aead_chacha20poly1305_ietf_encrypt: (c: Uint8Array, m: Uint8Array, ad: Uint8Array | null, nsec: null, npub: Uint8Array, k: Uint8Array) => number
  crypto_aead_chacha20poly1305_ietf_decrypt: (m: Uint8Array, nsec: null, c: Uint8Array, ad: Uint8Array | null, npub: Uint8Array, k: Uint8Array) => number
}

const TAG_BYTES = 16

function loadSodium (): SodiumAead | undefined {
  try {
    return createRequire(import.meta.url)('sodium-native') as SodiumAead
  } catch {
    return undefined
  }
}

/** Noise's crypto with its frames sealed by libsodium, or noise's default without it. */
export function noiseCrypto (): ICryptoInterface {
  return noiseCryptoWith(loadSodium())
}

export function noiseCryptoWith (sodium: SodiumAead | undefined): ICryptoInterface {
  if (sodium == null) return defaultCrypto
  return {
    ...defaultCrypto,
    chaCha20Poly1305Encrypt (plaintext, nonce, ad, k) {
      const m = plaintext instanceof Uint8Array ? plaintext : plaintext.subarray()
      const c = Buffer.allocUnsafe(m.byteLength + TAG_BYTES)
      sodium.crypto_aead_chacha20poly1305_ietf_encrypt(c, m, ad, null, nonce, k)
      return c
    },
    chaCha20Poly1305Decrypt (ciphertext, nonce, ad, k, dst) {
      const c = ciphertext instanceof Uint8Array ? ciphertext : ciphertext.subarray()
      if (c.byteLength < TAG_BYTES) throw new Error('Invalid chacha20poly1305 decryption')
      // noise hands the frame's own bytes as `dst` (it opens in place, as libsodium allows)
      const m = dst?.byteLength === c.byteLength - TAG_BYTES ? dst : Buffer.allocUnsafe(c.byteLength - TAG_BYTES)
      try {
        sodium.crypto_aead_chacha20poly1305_ietf_decrypt(m, null, c, ad, nonce, k)
      } catch {
        throw new Error('Invalid chacha20poly1305 decryption')
      }
      return m
    }
  }
}
