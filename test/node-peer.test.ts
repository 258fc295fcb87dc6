import type { PeerId } from '@libp2p/interface'
import { expect } from 'chai'
import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { DataDirLockedError, InvalidMultiaddrError, UnreadableKeyError } from '../src/node/errors.js'
import type { MeshPeer } from '../src/node/peer.js'
import { chatTopic } from '../src/protocols/topics.js'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { DEFAULT_FAST_LOOKUPS, DEFAULT_MAX_QUERY_EVERY_ROUNDS, DEFAULT_QUERY_EVERY_ROUNDS, townKey } from '../src/protocols/town-directory/index.js'
import { PeerPool, waitFor } from './helpers/peers.js'

const TOWN = 'testville'
/** Member links that dial a missing link within a fraction of a second (by default they leave the first 10 s to the directory). */
const QUICK_LINKS = { checkInterval: 100, missingFor: 200, higherIdGrace: 500, minBackoff: 500 }

describe('peer runtime', function () {
  const pool = new PeerPool()
  afterEach(async () => { await pool.cleanup() })

  it('6 peers told only the bootstrap address find each other through the DHT and share the town\'s chat topic', async () => {
    const boot = await pool.create()
    const bootAddr = boot.addresses()[0]!
    const peers: MeshPeer[] = []
    for (let i = 0; i < 6; i++) {
      peers.push(await pool.create({ town: TOWN, bootstrap: [bootAddr] }))
    }
    const ids = peers.map(p => p.peerId.toString())
    await waitFor(() => peers.every(p => {
      const subs = new Set(p.pubsub.getSubscribers(chatTopic(TOWN)).map(String))
      const members = new Set(p.directory!.members().map(String))
      return ids.every(id => id === p.peerId.toString() || (subs.has(id) && members.has(id)))
    }), 30_000, 'every peer to find every other in the DHT and see it subscribed to the chat topic')
    for (const p of peers) {
      // the bootstrap peer is not a town member
      expect(p.directory!.members().map(String)).to.not.include(boot.peerId.toString())
      expect(p.pubsub.getSubscribers(chatTopic(TOWN)).map(String)).to.have.members(ids.filter(id => id !== p.peerId.toString()))
    }
  })

  it('the town directory queries the DHT less often while nothing changes, and soon again once a member is lost', async function () {
    this.timeout(60_000)
    const boot = await pool.create()
    const bootAddr = boot.addresses()[0]!
    const peers: MeshPeer[] = []
    for (let i = 0; i < 3; i++) peers.push(await pool.create({ town: TOWN, bootstrap: [bootAddr], lookupInterval: 20 }))
    const watched = peers[0]!.directory as any
    // the round in which each DHT query of the watched peer began (the real DHT answers it)
    const queryRounds: number[] = []
    const routing = watched.components.contentRouting
    const findProviders = routing.findProviders.bind(routing)
    routing.findProviders = (...args: any[]) => { queryRounds.push(watched.rounds); return findProviders(...args) }
    const gaps = (): number[] => queryRounds.slice(1).map((r, i) => r - queryRounds[i]!)
    await waitFor(() => watched.members().length === 2 && gaps().filter(g => g >= 96).length >= 2, 45_000,
      'the gap between queries of a settled town to grow to its bound')
    // doubling from 24 rounds up to the 120-round bound, never shrinking while nothing changes
    const settled = gaps().filter(g => g > 1)
    expect(settled.slice(0, 3)).to.deep.equal([DEFAULT_QUERY_EVERY_ROUNDS, 48, 96])
    expect(settled.slice(3).every(g => g === DEFAULT_MAX_QUERY_EVERY_ROUNDS)).to.equal(true)
    const before = queryRounds.length
    const lostAt = watched.rounds
    await pool.stop(peers[2]!)
    await waitFor(() => queryRounds.length > before, 20_000, 'a query after the member was lost')
    // the loss brings the gap back to 24 rounds (the bound was 120)
    expect(queryRounds[before]! - lostAt).to.be.at.most(DEFAULT_QUERY_EVERY_ROUNDS + 1)
  })

  it('a peer whose DHT dropped its only link (a failed first ping) still finds its town', async function () {
    this.timeout(60_000)
    const boot = await pool.create()
    const bootAddr = boot.addresses()[0]!
    // two members that found each other and are past their fast lookups: with a minute
    // between rounds they will not query the DHT again during this test
    const members = [await pool.create({ town: TOWN, bootstrap: [bootAddr], lookupInterval: 60_000 })]
    members.push(await pool.create({ town: TOWN, bootstrap: [bootAddr], lookupInterval: 60_000 }))
    await waitFor(() => members.every(m => m.directory!.members().length === 1 && (m.directory as any).rounds >= DEFAULT_FAST_LOOKUPS), 30_000, 'the members to settle')
    const member = members[0]!
    // the newcomer's DHT checks a new contact with one ping before adding it to its routing
    // table, and never again while that link lasts: fail its first pings, as on a loaded machine
    const newcomer = await pool.create({ town: TOWN, lookupInterval: 500 })
    const ping = (newcomer.libp2p.services as any).ping
    const realPing = ping.ping.bind(ping)
    let failed = 0
    ping.ping = async (...args: any[]) => {
      if (failed < 2) { failed++; throw new Error('ping timed out (test)') }
      return realPing(...args)
    }
    await newcomer.connectBootstrap([bootAddr])
    await waitFor(() => newcomer.libp2p.getConnections(member.peerId).length > 0 &&
      newcomer.directory!.members().map(String).includes(member.peerId.toString()), 40_000,
    'the newcomer to find the member through the DHT')
    expect(failed).to.be.greaterThan(0)
  })

  /** A bootstrap peer and a member whose rounds are a minute apart; `holds`: whether the bootstrap peer holds a peer's town record. */
  async function bootAndMember (): Promise<{ bootAddr: string, member: MeshPeer, holds: (peer: MeshPeer) => Promise<boolean> }> {
    const boot = await pool.create()
    const bootAddr = boot.addresses()[0]!
    const member = await pool.create({ town: TOWN, bootstrap: [bootAddr], lookupInterval: 60_000 })
    const key = await townKey(TOWN)
    const holds = async (peer: MeshPeer): Promise<boolean> => ((await (boot.libp2p.services.dht as any).providers.getProviders(key)) as PeerId[]).some(p => p.equals(peer.peerId))
    return { bootAddr, member, holds }
  }

  it('a member\'s town record reaches the DHT, though its first round ran before it had a link', async function () {
    this.timeout(60_000)
    const { member, holds } = await bootAndMember()
    // before, a round that announced to an empty routing table counted as done for 120 rounds (~10 min)
    await waitFor(async () => holds(member), 20_000, 'the bootstrap peer to hold the member\'s provider record')
  })

  it('a newcomer looks its town up as soon as its DHT has a peer, not at its next round', async function () {
    this.timeout(60_000)
    const { bootAddr, member, holds } = await bootAndMember()
    await waitFor(async () => holds(member), 20_000, 'the bootstrap peer to hold the member\'s record')
    // no round of its own would come during the test: its first ran at its start, with no link
    const newcomer = await pool.create({ town: TOWN, fastLookupInterval: 60_000, lookupInterval: 60_000 })
    const directory = newcomer.directory as any
    await waitFor(() => directory.rounds === 1 && directory.running == null, 10_000, 'the newcomer\'s first round, before any link')
    expect(directory.members()).to.have.length(0)
    await newcomer.connectBootstrap([bootAddr])
    await waitFor(() => directory.members().some((p: PeerId) => p.equals(member.peerId)), 20_000, 'the newcomer to find the member')
    expect(directory.rounds).to.equal(2)
  })

  it('a newcomer that found its town announces itself a few rounds later, not in the round that found it', async function () {
    this.timeout(60_000)
    const { bootAddr, member, holds } = await bootAndMember()
    await waitFor(async () => holds(member), 20_000, 'the bootstrap peer to hold the member\'s record')
    const newcomer = await pool.create({ town: TOWN, bootstrap: [bootAddr], fastLookupInterval: 50, lookupInterval: 60_000 })
    await waitFor(async () => holds(newcomer), 20_000, 'the bootstrap peer to hold the newcomer\'s record')
    const directory = newcomer.directory as any
    expect(directory.foundInRound).to.be.a('number')
    expect(directory.lastAnnounceRound - directory.foundInRound).to.be.at.least(4)
  })

  it('keeps its PeerId across a restart with the same data dir', async () => {
    const dir = await pool.dir()
    const first = await pool.create({ dataDir: dir })
    const id = first.peerId.toString()
    await pool.stop(first)
    const second = await pool.create({ dataDir: dir })
    expect(second.peerId.toString()).to.equal(id)
    const other = await pool.create()
    expect(other.peerId.toString()).to.not.equal(id)
  })

  it('refuses a second peer on a data dir that a running peer holds', async () => {
    const dir = await pool.dir()
    await pool.create({ dataDir: dir })
    const err = await pool.create({ dataDir: dir }).catch(e => e)
    expect(err).to.be.instanceOf(DataDirLockedError)
    expect(err.message).to.match(/in use by another running peer/)
  })

  it('refuses a data dir locked by another OS process', async () => {
    const dir = await pool.dir()
    const script = `import { Level } from 'level'; const db = new Level(${JSON.stringify(path.join(dir, 'datastore'))}); await db.open(); process.stdout.write('open\\n'); setTimeout(() => {}, 60000)`
    const child = execFile(process.execPath, ['--input-type=module', '-e', script], { cwd: process.cwd() })
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', d => { if (String(d).includes('open')) resolve() })
        child.on('exit', code => reject(new Error(`locker exited ${code}`)))
      })
      const err = await pool.create({ dataDir: dir }).catch(e => e)
      expect(err).to.be.instanceOf(DataDirLockedError)
    } finally {
      child.kill('SIGKILL')
    }
  })

  it('reports an unreadable key clearly', async () => {
    const dir = await pool.dir()
    const first = await pool.create({ dataDir: dir })
    await pool.stop(first)
    const err = await pool.create({ dataDir: dir, keyPass: 'a-different-passphrase-123' }).catch(e => e)
    expect(err).to.be.instanceOf(UnreadableKeyError)
    expect(err.message).to.match(/peer key .* cannot be read/)
  })

  it('refuses invalid multiaddrs with the offending text', async () => {
    for (const [opts, pattern] of [
      [{ listen: ['/ip4/127.0.0.1/tcp/notaport'] }, /invalid listen address "\/ip4\/127.0.0.1\/tcp\/notaport"/],
      [{ bootstrap: ['hello'] }, /invalid bootstrap address "hello"/],
      [{ bootstrap: ['/ip4/127.0.0.1/tcp/4001'] }, /has no \/p2p\/<PeerId> part/]
    ] as const) {
      const err = await pool.create(opts as any).catch(e => e)
      expect(err).to.be.instanceOf(InvalidMultiaddrError)
      expect(err.message).to.match(pattern)
    }
  })

  it('cuts two groups apart with the gater and heals', async () => {
    const boot = await pool.create()
    const bootAddr = boot.addresses()[0]!
    const peers: MeshPeer[] = []
    for (let i = 0; i < 4; i++) peers.push(await pool.create({ town: TOWN, bootstrap: [bootAddr], lookupInterval: 200 }))
    const topic = chatTopic(TOWN)
    await waitFor(() => peers.every(p => p.pubsub.getSubscribers(topic).length === 3), 30_000, 'full town')
    const received = peers.map(() => new Set<string>())
    peers.forEach((p, i) => p.pubsub.addEventListener('message', e => {
      if (e.detail.topic === topic) received[i]!.add(new TextDecoder().decode(e.detail.data))
    }))
    const [a, b] = [peers.slice(0, 2), peers.slice(2)]
    // also cut the bootstrap peer from group B so no path remains through it
    for (const x of a) for (const y of [...b]) { await x.block(y.peerId); await y.block(x.peerId) }
    await waitFor(() => a.every(x => b.every(y => x.libp2p.getConnections(y.peerId).length === 0)), 10_000, 'links cut')
    await a[0]!.pubsub.publish(topic, new TextEncoder().encode('during-split-from-a'))
    await b[0]!.pubsub.publish(topic, new TextEncoder().encode('during-split-from-b'))
    await waitFor(() => received[1]!.has('during-split-from-a') && received[3]!.has('during-split-from-b'), 10_000, 'delivery inside each group')
    // a later message inside each group proves the split ones had every chance to cross
    await a[1]!.pubsub.publish(topic, new TextEncoder().encode('marker-a'))
    await b[1]!.pubsub.publish(topic, new TextEncoder().encode('marker-b'))
    await waitFor(() => received[0]!.has('marker-a') && received[2]!.has('marker-b'), 10_000, 'markers')
    for (const i of [2, 3]) expect(received[i]!.has('during-split-from-a')).to.equal(false)
    for (const i of [0, 1]) expect(received[i]!.has('during-split-from-b')).to.equal(false)
    expect(a[0]!.gater.list()).to.have.length(2)

    for (const p of peers) p.heal()
    await waitFor(() => peers.every(p => p.pubsub.getSubscribers(topic).length === 3), 30_000, 'town whole again')
    let n = 0
    await waitFor(async () => {
      // meshes re-form on heartbeats: publish until one message crosses both ways
      await a[0]!.pubsub.publish(topic, new TextEncoder().encode(`after-heal-a-${n}`))
      await b[0]!.pubsub.publish(topic, new TextEncoder().encode(`after-heal-b-${n}`))
      n++
      return [...received[3]!].some(m => m.startsWith('after-heal-a')) && [...received[1]!].some(m => m.startsWith('after-heal-b'))
    }, 20_000, 'delivery across the healed link', 250)
  })
  it('member links: peers given each other as members link up, and link again when their links close', async function () {
    this.timeout(60_000)
    const boot = await pool.create()
    const bootAddr = boot.addresses()[0]!
    // no town directory anywhere: once the DHT's start-up queries are over, nothing
    // but member links dials the others
    const peers: MeshPeer[] = []
    for (let i = 0; i < 4; i++) peers.push(await pool.create({ bootstrap: [bootAddr], memberLinks: QUICK_LINKS }))
    const ids = peers.map(p => p.peerId.toString())
    const linked = (a: MeshPeer, b: string): boolean => a.libp2p.getConnections(peerIdFromString(b)).some(c => c.status === 'open')
    const allLinked = (): boolean => peers.every(p => ids.every(id => id === p.peerId.toString() || linked(p, id)))
    const counts = (): string => peers.map(p => ids.filter(id => linked(p, id)).length).join(',')
    for (const p of peers) p.memberLinks.keep(ids)
    await waitFor(allLinked, 30_000, () => `every peer linked to every other; have ${counts()}`)
    expect(peers.map(p => p.memberLinks.wanted)).to.deep.equal([3, 3, 3, 3])
    // close every link between members (as a restart or a dropped link would): each is opened again
    const before = new Set(peers.flatMap(p => p.libp2p.getConnections().map(c => c.id)))
    for (const p of peers) for (const id of ids) if (id !== p.peerId.toString()) await p.libp2p.hangUp(peerIdFromString(id))
    const relinked = (): boolean => peers.every(p => ids.every(id => id === p.peerId.toString() ||
      p.libp2p.getConnections(peerIdFromString(id)).some(c => c.status === 'open' && !before.has(c.id))))
    await waitFor(relinked, 30_000, () => `every link opened again; have ${counts()}`)
  })

  it('member links: a dial whose handshake never answers ends at the member links\' own deadline', async function () {
    // a member's address that takes the TCP connection and never says a word
    const held: Socket[] = []
    const silent = createServer(socket => { held.push(socket) })
    await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', resolve))
    try {
      const a = await pool.create({ memberLinks: { ...QUICK_LINKS, missingFor: 0, higherIdGrace: 0, dialTimeout: 500 } })
      const member = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
      await a.libp2p.peerStore.merge(member, { multiaddrs: [multiaddr(`/ip4/127.0.0.1/tcp/${(silent.address() as AddressInfo).port}`)] })
      a.memberLinks.keep([member.toString()])
      // libp2p alone would wait its 30 s per address (peer.ts): the member links' deadline ends it
      await waitFor(() => a.memberLinks.failures >= 1, 10_000, () => `a failed dial; dials ${a.memberLinks.dials}`)
      expect(held.length, 'the dial reached the silent address').to.be.at.least(1)
      expect(a.memberLinks.lastFailure).to.match(/abort|timeout/i)
    } finally {
      for (const socket of held) socket.destroy()
      await new Promise(resolve => silent.close(resolve))
    }
  })

  it('member links: eight members whose handshakes hang are all dialled at once, none waiting for another\'s deadline', async function () {
    // on a busy machine a dial mostly waits (5-25 s in a town of 50 processes on 2 cores):
    // two at a time, a newcomer linked a few members a minute
    const held: Socket[] = []
    const servers = await Promise.all(Array.from({ length: 8 }, async () => {
      const server = createServer(socket => { held.push(socket) })
      await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
      return server
    }))
    try {
      // no concurrency given: the default; a deadline no dial reaches within the test
      const a = await pool.create({ memberLinks: { ...QUICK_LINKS, missingFor: 0, higherIdGrace: 0, dialTimeout: 60_000 } })
      const members = []
      for (const server of servers) {
        const member = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
        await a.libp2p.peerStore.merge(member, { multiaddrs: [multiaddr(`/ip4/127.0.0.1/tcp/${(server.address() as AddressInfo).port}`)] })
        members.push(member.toString())
      }
      a.memberLinks.keep(members)
      await waitFor(() => held.length >= servers.length, 10_000, () => `a dial at each of the ${servers.length} members; ${held.length} so far`)
      expect(a.memberLinks.failures).to.equal(0)
    } finally {
      for (const socket of held) socket.destroy()
      await Promise.all(servers.map(async server => new Promise(resolve => server.close(resolve))))
    }
  })

  it('member links: a blocked member is tried again with backoff, and linked at once when the block is lifted', async function () {
    this.timeout(60_000)
    const boot = await pool.create()
    const bootAddr = boot.addresses()[0]!
    const [a, b] = [await pool.create({ bootstrap: [bootAddr], memberLinks: QUICK_LINKS }), await pool.create({ bootstrap: [bootAddr], memberLinks: QUICK_LINKS })]
    await a.block(b.peerId)
    a.memberLinks.keep([a.peerId.toString(), b.peerId.toString()])
    await waitFor(() => a.memberLinks.failures >= 1, 20_000, 'a failed dial of the blocked member')
    expect(a.libp2p.getConnections(b.peerId)).to.have.length(0)
    a.unblock(b.peerId)
    await waitFor(() => a.libp2p.getConnections(b.peerId).some(c => c.status === 'open'), 10_000, 'a link once unblocked')
    // a member dropped from the roster is not dialled again
    a.memberLinks.keep([])
    expect(a.memberLinks.wanted).to.equal(0)
  })
})
