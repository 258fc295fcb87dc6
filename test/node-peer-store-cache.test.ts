import { expect } from 'chai'
import { Key } from 'interface-datastore'
import type { LevelDatastore } from 'datastore-level'
import { openDatastore } from '../src/node/data-dir.js'
import { PeerStoreCache } from '../src/node/peer-store-cache.js'
import { PeerPool, removeDir, tempDir, waitFor } from './helpers/peers.js'

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)
const text = (b: Uint8Array): string => new TextDecoder().decode(b)

describe('peer store cache (real LevelDB)', function () {
  this.timeout(30_000)
  let dir: string
  let level: LevelDatastore

  beforeEach(async () => {
    dir = await tempDir()
    level = await openDatastore(dir)
  })
  afterEach(async () => {
    await level.close().catch(() => {})
    await removeDir(dir)
  })

  it('keeps peer records in memory and writes them back in one batch; everything else goes straight to disk', async () => {
    const cache = new PeerStoreCache(level, { flushMs: 60_000 })
    await cache.put(new Key('/peers/a'), bytes('a1'))
    await cache.put(new Key('/clock/town'), bytes('state'))
    // the clock's state (anything not a peer record) is on disk at once; the peer record not yet
    expect(await level.has(new Key('/clock/town'))).to.equal(true)
    expect(await level.has(new Key('/peers/a'))).to.equal(false)
    expect(text(await cache.get(new Key('/peers/a')))).to.equal('a1')
    expect(await cache.has(new Key('/peers/a'))).to.equal(true)
    await cache.put(new Key('/peers/a'), bytes('a2'))
    await cache.flush()
    expect(text(await level.get(new Key('/peers/a')))).to.equal('a2')
  })

  it('writes changed records within flushMs without being asked', async () => {
    const cache = new PeerStoreCache(level, { flushMs: 50 })
    await cache.put(new Key('/peers/b'), bytes('b'))
    await waitFor(async () => level.has(new Key('/peers/b')), 5_000, 'the record on disk')
  })

  it('reads a record from disk once, then from memory; a delete removes it from both', async () => {
    await level.put(new Key('/peers/c'), bytes('from disk'))
    const cache = new PeerStoreCache(level)
    expect(text(await cache.get(new Key('/peers/c')))).to.equal('from disk')
    // changed behind the cache's back (nothing does this but the test): the cached value is served
    await level.put(new Key('/peers/c'), bytes('changed on disk'))
    expect(text(await cache.get(new Key('/peers/c')))).to.equal('from disk')
    await cache.delete(new Key('/peers/c'))
    expect(await cache.has(new Key('/peers/c'))).to.equal(false)
    expect(await level.has(new Key('/peers/c'))).to.equal(false)
    let error: any
    try { await cache.get(new Key('/peers/c')) } catch (err) { error = err }
    expect(error?.name).to.equal('NotFoundError')
  })

  it('a record deleted while it was being read from disk is not kept in memory', async () => {
    await level.put(new Key('/peers/f'), bytes('old'))
    // the disk read of /peers/f waits until the test lets it go
    let release!: () => void
    const gate = new Promise<void>(resolve => { release = resolve })
    const slow = Object.create(level) as LevelDatastore
    slow.get = async (key, options) => { const value = await level.get(key, options); await gate; return value }
    const cache = new PeerStoreCache(slow)
    const reading = cache.get(new Key('/peers/f'))
    await cache.delete(new Key('/peers/f'))
    release()
    await reading
    expect(await cache.has(new Key('/peers/f'))).to.equal(false)
  })

  it('a query sees records not yet written; a batch puts peer records in memory and the rest on disk', async () => {
    const cache = new PeerStoreCache(level, { flushMs: 60_000 })
    const batch = cache.batch()
    batch.put(new Key('/peers/d'), bytes('d'))
    batch.put(new Key('/dht/record'), bytes('r'))
    await batch.commit()
    expect(await level.has(new Key('/dht/record'))).to.equal(true)
    expect(await level.has(new Key('/peers/d'))).to.equal(false)
    await cache.put(new Key('/peers/e'), bytes('e'))
    const keys: string[] = []
    for await (const { key } of cache.query({ prefix: '/peers/' })) keys.push(key.toString())
    expect(keys.sort()).to.deep.equal(['/peers/d', '/peers/e'])
  })

  it('holds at most maxEntries records; forgotten ones are read from disk again', async () => {
    const cache = new PeerStoreCache(level, { maxEntries: 3, flushMs: 60_000 })
    for (let i = 0; i < 6; i++) await cache.put(new Key(`/peers/p${i}`), bytes(`v${i}`))
    // all six are changed and not on disk: none can be forgotten before the write
    await cache.flush()
    expect(cache.size).to.be.at.most(3)
    for (let i = 0; i < 6; i++) expect(text(await cache.get(new Key(`/peers/p${i}`)))).to.equal(`v${i}`)
    expect(cache.size).to.be.at.most(3)
  })

  it('a stopped peer has written the records of the peers it met', async () => {
    const pool = new PeerPool()
    try {
      const a = await pool.create()
      const bDir = await pool.dir()
      const b = await pool.create({ dataDir: bDir })
      await b.libp2p.dial(a.libp2p.getMultiaddrs()[0]!)
      await waitFor(() => b.libp2p.getPeers().some(p => p.equals(a.peerId)), 10_000, 'b linked to a')
      await pool.stop(b)
      const reopened = await openDatastore(bDir)
      try {
        // libp2p's peer store key: /peers/<the peer id as a base32 CID>
        expect(await reopened.has(new Key(`/peers/${a.peerId.toCID().toString()}`))).to.equal(true)
      } finally {
        await reopened.close()
      }
    } finally {
      await pool.cleanup()
    }
  })
})
