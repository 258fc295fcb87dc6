import crypto from 'node:crypto'
import { createRequire } from 'node:module'
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { promisify } from 'node:util'
import { expect } from 'chai'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { LengthPrefixedDecoder } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import net from 'node:net'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { PeerPool, waitFor } from './helpers/peers.js'

// patches/@libp2p+crypto+*.patch: Ed25519 signatures made and checked by libsodium (sodium-native), and a
// check that passed is not made again in the same process (peers sharing a process each check every message)
describe('patched @libp2p/crypto: Ed25519 checks and signatures', () => {
  const sodium = createRequire(import.meta.url)('sodium-native')
  const calls = { sodium: 0, openssl: 0 }
  const sodiumVerify = sodium.crypto_sign_verify_detached
  const verify = crypto.verify
  before(() => {
    sodium.crypto_sign_verify_detached = (...args: unknown[]) => { calls.sodium++; return sodiumVerify(...args) }
    ;(crypto as any).verify = (...args: Parameters<typeof crypto.verify>) => { calls.openssl++; return verify(...args) }
  })
  after(() => {
    sodium.crypto_sign_verify_detached = sodiumVerify
    ;(crypto as any).verify = verify
  })

  it('libsodium checks; a check that passed is answered from memory; anything changed is checked again and fails', async () => {
    const alice = await generateKeyPair('Ed25519')
    const bob = await generateKeyPair('Ed25519')
    const msg = new TextEncoder().encode(`a vote ${Math.random()}`)
    const sig = await alice.sign(msg)
    calls.sodium = 0
    calls.openssl = 0
    expect(await alice.publicKey.verify(msg, sig)).to.equal(true)
    expect(await alice.publicKey.verify(Uint8Array.from(msg), Uint8Array.from(sig))).to.equal(true)
    expect(calls.sodium, 'the same key, signature and bytes are checked once').to.equal(1)
    // node:crypto's OpenSSL agrees on the signature
    const raw = alice.publicKey.raw
    const key = crypto.createPublicKey({ format: 'jwk', key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') } })
    expect(verify(null, msg, key, sig)).to.equal(true)

    const other = msg.slice()
    other[0]! ^= 1
    const forged = Uint8Array.from(sig) // a copy: sig may be a Buffer, whose slice() is a view
    forged[10]! ^= 1
    for (let i = 0; i < 2; i++) {
      expect(await alice.publicKey.verify(other, sig), 'another message').to.equal(false)
      expect(await alice.publicKey.verify(msg, forged), 'another signature').to.equal(false)
      expect(await bob.publicKey.verify(msg, sig), 'another key').to.equal(false)
    }
    expect(calls.sodium, 'failures are never remembered').to.equal(7)
    expect(await alice.publicKey.verify(msg, sig)).to.equal(true)
    expect(calls.sodium).to.equal(7)
    expect(calls.openssl, 'libp2p checked nothing through OpenSSL').to.equal(0)
  })

  it('libsodium signs, with the signature OpenSSL gives (Ed25519 is deterministic), for a raw key of 64 or 32 bytes', async () => {
    const signDetached = sodium.crypto_sign_detached
    const sign = crypto.sign
    const used = { sodium: 0, openssl: 0 }
    sodium.crypto_sign_detached = (...args: unknown[]) => { used.sodium++; return signDetached(...args) }
    ;(crypto as any).sign = (...args: Parameters<typeof crypto.sign>) => { used.openssl++; return sign(...args) }
    try {
      const key = await generateKeyPair('Ed25519')
      const { hashAndSign } = await import(pathToFileURL(createRequire(import.meta.url).resolve('@libp2p/crypto/keys').replace(/index\.js$/, 'ed25519/index.js')).href)
      const msg = new TextEncoder().encode(`a vote ${Math.random()}`)
      const raw = key.raw
      const openssl = sign(null, msg, crypto.createPrivateKey({ format: 'jwk', key: { kty: 'OKP', crv: 'Ed25519', d: Buffer.from(raw.subarray(0, 32)).toString('base64url'), x: Buffer.from(raw.subarray(32)).toString('base64url') } }))
      for (const sig of [await key.sign(msg), hashAndSign(raw, msg), hashAndSign(raw.subarray(0, 32), msg)]) {
        expect(Buffer.from(sig).equals(openssl)).to.equal(true)
      }
      expect(used).to.deep.equal({ sodium: 3, openssl: 0 })
    } finally {
      sodium.crypto_sign_detached = signDetached
      ;(crypto as any).sign = sign
    }
  })

  it('checks through OpenSSL where sodium-native cannot load', async function () {
    this.timeout(30_000)
    const dir = await mkdtemp(path.join(tmpdir(), 'meshtown-nosodium-'))
    try {
      // a process in which the binding cannot be found, as on a platform without a prebuilt one
      const hook = path.join(dir, 'no-sodium.mjs')
      await writeFile(hook, `import { registerHooks } from 'node:module'
registerHooks({ resolve (specifier, context, next) { if (specifier === 'sodium-native') throw new Error('no binding here'); return next(specifier, context) } })
`)
      const script = `import { generateKeyPair } from '@libp2p/crypto/keys'
import crypto from 'node:crypto'
let checks = 0
const verify = crypto.verify
crypto.verify = (...args) => { checks++; return verify(...args) }
const key = await generateKeyPair('Ed25519')
const msg = new TextEncoder().encode('a vote')
let signs = 0
const sign = crypto.sign
crypto.sign = (...args) => { signs++; return sign(...args) }
const sig = await key.sign(msg)
const forged = Uint8Array.from(sig)
forged[3] ^= 1
console.log(JSON.stringify({ good: await key.publicKey.verify(msg, sig), forged: await key.publicKey.verify(msg, forged), checks, signs }))
`
      const { stdout } = await promisify(execFile)(process.execPath, ['--import', pathToFileURL(hook).href, '--input-type=module', '-e', script], { cwd: process.cwd() })
      expect(JSON.parse(stdout)).to.deep.equal({ good: true, forged: false, checks: 2, signs: 1 })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

// patches/@libp2p+tcp+*.patch: what a connection writes in one tick leaves in one syscall. A noise
// frame is two to four buffers (its 2-byte length, the ciphertext, for frames of 1,200 bytes or more
// the tag apart), and each socket.write was a syscall of its own and, with no Nagle, a TCP segment.
describe('patched @libp2p/tcp: one syscall per tick of writes', () => {
  const pool = new PeerPool()
  const writes: number[] = []
  let writevs = 0
  const writeGeneric = (net.Socket.prototype as any)._writeGeneric
  before(() => {
    (net.Socket.prototype as any)._writeGeneric = function (writev: boolean, data: any, ...rest: any[]) {
      if (writev) writevs++
      else writes.push(data.length)
      return writeGeneric.call(this, writev, data, ...rest)
    }
  })
  after(async () => {
    (net.Socket.prototype as any)._writeGeneric = writeGeneric
    await pool.cleanup()
  })

  it('a message on a stream goes out as one write, never as a bare length prefix', async () => {
    const a = await pool.create()
    const b = await pool.create()
    const received: number[] = []
    await b.libp2p.handle('/meshtown/test-echo/1.0.0', async (stream) => {
      for await (const chunk of stream) received.push(chunk.byteLength)
    })
    const stream = await a.libp2p.dialProtocol(b.libp2p.getMultiaddrs()[0]!, '/meshtown/test-echo/1.0.0')
    writes.length = 0
    writevs = 0
    stream.send(new Uint8Array(3000).fill(7))
    await waitFor(() => received.reduce((x, y) => x + y, 0) === 3000, 10_000, 'the message to arrive')
    expect(writes.filter(n => n < 8), `writes of a bare noise length prefix (all writes: ${writes.join(', ')})`).to.deep.equal([])
    expect(writevs, 'the length and the ciphertext left together').to.be.greaterThan(0)
    await stream.close()
  })
})

// patches/@libp2p+utils+*.patch: noise reads its frames through LengthPrefixedDecoder, which asked
// the length decoder once more at the end of every read, on an empty buffer, and caught the
// RangeError it threw (an Error with its stack trace, per frame received)
describe('patched @libp2p/utils: LengthPrefixedDecoder', () => {
  it('does not ask for a length once the buffer is drained', () => {
    let asked = 0
    const decoder = new LengthPrefixedDecoder({
      lengthDecoder: (buf) => {
        asked++
        if (buf.byteLength < 2) throw new RangeError('short')
        const bytes = buf.subarray()
        return bytes[0]! * 256 + bytes[1]!
      },
      encodingLength: () => 2
    })
    const frame = Uint8Array.from([0, 3, 1, 2, 3])
    expect([...decoder.decode(frame)].map(b => b.subarray())).to.deep.equal([Uint8Array.from([1, 2, 3])])
    expect(asked, 'one frame, one length').to.equal(1)
    expect([...decoder.decode(Uint8Array.from([0]))], 'half a length waits for more').to.deep.equal([])
    expect([...decoder.decode(Uint8Array.from([2, 9, 9, 0, 1, 5]))].map(b => b.subarray())).to.deep.equal([Uint8Array.from([9, 9]), Uint8Array.from([5])])
  })
})

// patches/@libp2p+peer-store+*.patch: reading a peer's record takes no lock. Each read created and
// took a lock of its own (mortice), several times the read itself, and a DHT answer reads every peer
// it names: in an idle town of 50, answering DHT requests was the busiest thing a process did
describe('patched @libp2p/peer-store: reads without a lock', () => {
  const pool = new PeerPool()
  after(async () => { await pool.cleanup() })

  it('get and has read a record without a lock; an expired record is still deleted, under the lock', async () => {
    const peer = await pool.create()
    const peerStore = peer.libp2p.peerStore as any
    const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const missing = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    await peerStore.save(other, { multiaddrs: [multiaddr('/ip4/127.0.0.1/tcp/4001')], protocols: ['/meshtown/test/1.0.0'] })
    let locks = 0
    const getReadLock = peerStore.store.getReadLock.bind(peerStore.store)
    peerStore.store.getReadLock = async (...args: any[]) => { locks++; return getReadLock(...args) }
    const stored = await peerStore.get(other)
    expect(stored.addresses.map((a: any) => a.multiaddr.toString())).to.deep.equal(['/ip4/127.0.0.1/tcp/4001'])
    expect(stored.protocols).to.deep.equal(['/meshtown/test/1.0.0'])
    expect(await peerStore.has(other)).to.equal(true)
    expect(await peerStore.has(missing)).to.equal(false)
    let error: any
    try { await peerStore.get(missing) } catch (err) { error = err }
    expect(error?.name).to.equal('NotFoundError')
    expect(locks, 'no read took a lock').to.equal(0)

    // a year later the record has expired: the read falls back to the locked path, which deletes it
    const now = Date.now
    Date.now = () => now() + 365 * 24 * 3600 * 1000
    try {
      error = undefined
      try { await peerStore.get(other) } catch (err) { error = err }
    } finally {
      Date.now = now
    }
    expect(error?.name).to.equal('NotFoundError')
    expect(locks, 'the expired record was read under the lock').to.equal(1)
    expect(await peerStore.has(other), 'and deleted').to.equal(false)
  })
})

// patches/@chainsafe+libp2p-yamux+*.patch: a receiver sends a window update once half its window is
// used (as go-yamux does), not one frame back for every data frame it reads
describe('patched @chainsafe/libp2p-yamux: window updates', () => {
  const pool = new PeerPool()
  let updates = 0
  let muxer: any
  let sendFrame: any
  before(async () => {
    // the module libp2p loads (exports do not name this file, so it is imported by its path)
    muxer = (await import(pathToFileURL(path.resolve('node_modules/@chainsafe/libp2p-yamux/dist/src/muxer.js')).href)).YamuxMuxer
    sendFrame = muxer.prototype.sendFrame
    muxer.prototype.sendFrame = function (header: { type: number, flag: number }, ...rest: any[]) {
      if (header.type === 1 && header.flag === 0) updates++ // a plain window update (no SYN, ACK, FIN, RST)
      return sendFrame.call(this, header, ...rest)
    }
  })
  after(async () => {
    muxer.prototype.sendFrame = sendFrame
    await pool.cleanup()
  })

  it('many small messages on a stream bring no window update per frame', async () => {
    const a = await pool.create()
    const b = await pool.create()
    let received = 0
    await b.libp2p.handle('/meshtown/test-sink/1.0.0', async (stream) => {
      for await (const chunk of stream) received += chunk.byteLength
    })
    const stream = await a.libp2p.dialProtocol(b.libp2p.getMultiaddrs()[0]!, '/meshtown/test-sink/1.0.0')
    updates = 0
    for (let i = 0; i < 200; i++) {
      stream.send(new Uint8Array(100).fill(i))
      await waitFor(() => received === (i + 1) * 100, 10_000, `message ${i} to arrive`, 1)
    }
    // 20 KB of a 256 KB window: the updates left are the window growing (it doubles while data flows
    // fast) and the peers' other streams; one per message read without the patch (over 200)
    expect(updates).to.be.lessThan(50)
    await stream.close()
  })
})
