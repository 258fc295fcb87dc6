import { createPublicKey, verify, type KeyObject } from 'node:crypto'
import type { PublicKey } from '@libp2p/interface'

/** DER header of an Ed25519 SubjectPublicKeyInfo; the 32 raw key bytes follow. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')
const MAX_CACHED_KEYS = 4_096
const keys = new Map<string, KeyObject>()

/**
 * Verify an Ed25519 signature with the key imported once per signer. A libp2p
 * PublicKey imports the raw key into a KeyObject on every verify, which cost as
 * much as the check itself on the barrier's and the rooms' hot paths.
 * Other key types fall back to the key's own verify.
 */
export async function verifySignature (key: PublicKey, data: Uint8Array, sig: Uint8Array): Promise<boolean> {
  if (key.type !== 'Ed25519') return await key.verify(data, sig)
  const id = key.toString()
  let object = keys.get(id)
  if (object == null) {
    object = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, key.raw]), format: 'der', type: 'spki' })
    if (keys.size >= MAX_CACHED_KEYS) keys.clear()
    keys.set(id, object)
  }
  try {
    return verify(null, data, object, sig)
  } catch {
    return false
  }
}
