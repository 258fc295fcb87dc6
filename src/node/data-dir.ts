import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { loadOrCreateSelfKey } from '@libp2p/config'
import type { PrivateKey } from '@libp2p/interface'
import { LevelDatastore } from 'datastore-level'
import { Level } from 'level'
import { DataDirError, DataDirLockedError, UnreadableKeyError } from './errors.js'

/**
 * A peer's data dir: one LevelDB datastore holding the peer store, DHT records,
 * the peer's private key (through the libp2p keychain) and, later, the town state.
 * LevelDB's own LOCK file is what stops two peers from sharing a data dir.
 */
export async function openDatastore (dataDir: string): Promise<LevelDatastore> {
  const location = path.join(dataDir, 'datastore')
  try {
    await mkdir(location, { recursive: true })
  } catch (err: any) {
    throw new DataDirError(`data dir ${dataDir} cannot be created: ${err.code ?? err.message}`)
  }
  // opened here rather than by LevelDatastore, whose error drops the cause that says "locked"
  const db = new Level<string, Uint8Array>(location, { keyEncoding: 'utf8', valueEncoding: 'view' })
  try {
    await db.open()
  } catch (err: any) {
    if (isLockedError(err)) {
      throw new DataDirLockedError(`data dir ${dataDir} is in use by another running peer (its LevelDB is locked); stop that peer or choose another --data-dir`)
    }
    throw new DataDirError(`data dir ${dataDir} cannot be opened: ${describeLevelError(err)}`)
  }
  const datastore = new LevelDatastore(db)
  await datastore.open()
  return datastore
}

/**
 * The same data dir always gives the same PeerId. The key lives encrypted in the
 * keychain inside the datastore; `keyPass` (>= 20 chars) changes the encryption key.
 */
export async function loadOrCreatePeerKey (datastore: LevelDatastore, dataDir: string, keyPass?: string): Promise<PrivateKey> {
  try {
    return await loadOrCreateSelfKey(datastore, keyPass == null ? {} : { pass: keyPass })
  } catch (err: any) {
    throw new UnreadableKeyError(`the peer key in ${dataDir} cannot be read (${err.message ?? err}): wrong MESHTOWN_KEY_PASS or a damaged data dir`)
  }
}

function isLockedError (err: any): boolean {
  for (let e = err; e != null; e = e.cause) {
    if (e.code === 'LEVEL_LOCKED') return true
  }
  return false
}

function describeLevelError (err: any): string {
  const parts: string[] = []
  for (let e = err; e != null; e = e.cause) parts.push(e.message ?? String(e))
  return parts.join(': ')
}
