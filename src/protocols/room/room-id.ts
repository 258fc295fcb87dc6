import { randomBytes } from 'node:crypto'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { UsageError } from '../../node/errors.js'
import { ROOM_ID_ALPHABET, ROOM_ID_LENGTH, ROOM_ID_PATTERN, ROOM_KEY_PREFIX } from './constants.js'

/** 16 characters of a 62-letter alphabet: ~95 bits, unguessable and safe in a topic name. */
export function newRoomId (): string {
  let id = ''
  // rejection sampling: 256 is not a multiple of 62, and a plain modulo would favour some letters
  const limit = 256 - (256 % ROOM_ID_ALPHABET.length)
  while (id.length < ROOM_ID_LENGTH) {
    for (const byte of randomBytes(ROOM_ID_LENGTH * 2)) {
      if (byte < limit && id.length < ROOM_ID_LENGTH) id += ROOM_ID_ALPHABET[byte % ROOM_ID_ALPHABET.length]
    }
  }
  return id
}

export function isRoomId (value: string): boolean {
  return ROOM_ID_PATTERN.test(value)
}

export function assertRoomId (value: string): string {
  if (!isRoomId(value)) throw new UsageError(`invalid room id "${value}": a room id is 16 letters and digits, as printed by \`meshtown room create\``)
  return value
}

/** The DHT key whose providers serve this room's config (its creator and its members). */
export async function roomKey (roomId: string): Promise<CID> {
  const digest = await sha256.digest(new TextEncoder().encode(ROOM_KEY_PREFIX + roomId))
  return CID.createV1(raw.code, digest)
}
