import { BaseDatastore } from 'datastore-core'
import { Key, type Batch, type Datastore, type KeyQuery, type Pair, type Query } from 'interface-datastore'
import type { AbortOptions } from '@libp2p/interface'

/** Where libp2p's peer store keeps one record per peer. */
export const PEER_STORE_PREFIX = '/peers/'
export const DEFAULT_MAX_CACHED_PEERS = 4_096
export const DEFAULT_PEER_FLUSH_MS = 1_000

export interface PeerStoreCacheOptions {
  /** Records kept in memory; the least recently used clean ones go first. */
  maxEntries?: number
  /** A changed record reaches the disk within this many ms (and at flush()). */
  flushMs?: number
}

/**
 * The datastore libp2p is given: everything goes to the peer's LevelDB as before,
 * except peer-store records, which are read from memory and written back in one
 * batch a second.
 *
 * libp2p reads a peer's record from the datastore and writes it back (always: it
 * stamps the update time) for every stream it opens or accepts, every identify,
 * and every peer named in a DHT answer. In a forming town of 50 that was a fifth
 * of a villager's CPU (LevelDB gets and puts), and each trade step paid it on both
 * sides. A peer record is a cache of addresses and protocols that identify and
 * the DHT rebuild: losing its last second in a crash costs nothing, so it is not
 * written at once (what matters, trades, the clock, keys, is, and goes straight
 * through).
 */
export class PeerStoreCache extends BaseDatastore {
  private readonly inner: Datastore
  private readonly maxEntries: number
  private readonly flushMs: number
  /** Cached records, least recently used first. */
  private readonly records = new Map<string, Uint8Array>()
  private readonly dirty = new Set<string>()
  /** Peer keys being read from disk, and whether a delete landed meanwhile. */
  private readonly reading = new Map<string, { readers: number, deleted: boolean }>()
  private timer?: ReturnType<typeof setTimeout>
  private flushing: Promise<void> = Promise.resolve()

  constructor (inner: Datastore, options: PeerStoreCacheOptions = {}) {
    super()
    this.inner = inner
    this.maxEntries = Math.max(1, options.maxEntries ?? DEFAULT_MAX_CACHED_PEERS)
    this.flushMs = options.flushMs ?? DEFAULT_PEER_FLUSH_MS
  }

  get size (): number {
    return this.records.size
  }

  override async put (key: Key, value: Uint8Array, options?: AbortOptions): Promise<Key> {
    const k = key.toString()
    if (!isPeerKey(k)) return this.inner.put(key, value, options)
    // dirty first: a record not yet on disk is never the one trimmed
    this.dirty.add(k)
    this.remember(k, value)
    this.scheduleFlush()
    return key
  }

  override async get (key: Key, options?: AbortOptions): Promise<Uint8Array> {
    const k = key.toString()
    if (!isPeerKey(k)) return this.inner.get(key, options)
    const cached = this.records.get(k)
    if (cached != null) {
      this.remember(k, cached)
      return cached
    }
    const read = this.reading.get(k) ?? { readers: 0, deleted: false }
    read.readers++
    this.reading.set(k, read)
    let value: Uint8Array
    try {
      value = await this.inner.get(key, options)
    } finally {
      if (--read.readers === 0) this.reading.delete(k)
    }
    // a put that landed while the read was on its way is newer; after a delete, what
    // was read is gone from the disk and must not come back to life in memory
    if (!read.deleted && !this.records.has(k)) this.remember(k, value)
    return this.records.get(k) ?? value
  }

  override async has (key: Key, options?: AbortOptions): Promise<boolean> {
    const k = key.toString()
    if (isPeerKey(k) && this.records.has(k)) return true
    return this.inner.has(key, options)
  }

  override async delete (key: Key, options?: AbortOptions): Promise<void> {
    const k = key.toString()
    if (isPeerKey(k)) {
      this.records.delete(k)
      this.dirty.delete(k)
      const read = this.reading.get(k)
      if (read != null) read.deleted = true
    }
    await this.inner.delete(key, options)
  }

  override batch (): Batch {
    const inner = this.inner.batch()
    const peerPuts: Array<[Key, Uint8Array]> = []
    const peerDeletes: Key[] = []
    return {
      put: (key, value) => { if (isPeerKey(key.toString())) peerPuts.push([key, value]); else inner.put(key, value) },
      delete: (key) => { if (isPeerKey(key.toString())) peerDeletes.push(key); else inner.delete(key) },
      commit: async (options?: AbortOptions) => {
        for (const [key, value] of peerPuts) await this.put(key, value, options)
        for (const key of peerDeletes) await this.delete(key, options)
        await inner.commit(options)
      }
    }
  }

  /** Queries read the disk: whatever is waiting in memory is written first. */
  override async * query (q: Query, options?: AbortOptions): AsyncGenerator<Pair> {
    await this.flush()
    yield * this.inner.query(q, options)
  }

  override async * queryKeys (q: KeyQuery, options?: AbortOptions): AsyncGenerator<Key> {
    await this.flush()
    yield * this.inner.queryKeys(q, options)
  }

  /** Write every changed record now; resolves once they are in LevelDB. */
  async flush (): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    // one batch at a time, in order: a later flush must not overtake an earlier one
    this.flushing = this.flushing.catch(() => {}).then(async () => {
      if (this.dirty.size === 0) return
      const batch = this.inner.batch()
      const written: Array<[string, Uint8Array]> = []
      for (const k of this.dirty) {
        const value = this.records.get(k)
        if (value == null) continue
        batch.put(new Key(k), value)
        written.push([k, value])
      }
      this.dirty.clear()
      try {
        await batch.commit()
      } catch (err) {
        // keep them for the next flush, unless a newer value or a delete came meanwhile
        for (const [k, value] of written) if (this.records.get(k) === value) this.dirty.add(k)
        throw err
      } finally {
        this.trim()
      }
    })
    await this.flushing
  }

  private remember (k: string, value: Uint8Array): void {
    this.records.delete(k)
    this.records.set(k, value)
    if (this.records.size > this.maxEntries) this.trim()
  }

  /** Forget the least recently used records that are on disk already. */
  private trim (): void {
    if (this.records.size <= this.maxEntries) return
    for (const k of this.records.keys()) {
      if (this.records.size <= this.maxEntries) break
      if (!this.dirty.has(k)) this.records.delete(k)
    }
    // all dirty: write them out, and the next trim can forget some
    if (this.records.size > this.maxEntries) this.scheduleFlush(0)
  }

  private scheduleFlush (delay = this.flushMs): void {
    if (this.timer != null && delay > 0) return
    clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.flush().catch(() => {})
    }, delay)
    this.timer.unref?.()
  }
}

function isPeerKey (k: string): boolean {
  return k.startsWith(PEER_STORE_PREFIX)
}
