/**
 * The dashboard's data: status notices (schema, bounds, "a notice speaks only for
 * its signer"), the TownModel that folds what the observer hears into the page's
 * state (trade feed, partitions, rooms, chat), and real peers publishing and
 * refusing notices on the status topic.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Message } from '@libp2p/gossipsub'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { expect } from 'chai'
import { TownObserver } from '../src/observer/observer.js'
import { MODEL_LIMITS, TownModel } from '../src/observer/town-model.js'
import { encodeJson } from '../src/protocols/wire.js'
import {
  checkStatusMessage, MAX_STATUS_BYTES, MAX_STATUS_TRADES, startVillagerStatus, statusTopic, tradeNotices,
  type StatusNotice, type TownStatusPublisher, type TradeNotice
} from '../src/protocols/town-status/index.js'
import { genesis, type ClockState } from '../src/town/clock.js'
import type { Trade } from '../src/town/trades.js'
import { PeerPool, waitFor } from './helpers/peers.js'
import { TestTown } from './helpers/town.js'

async function newId (): Promise<string> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
}

function notice (over: Partial<StatusNotice> = {}): StatusNotice {
  return {
    v: 1,
    town: 'oak',
    role: 'villager',
    name: 'alice',
    at: 1_000,
    seq: 0,
    every: 500,
    time: { day: 1, period: 'morning', digest: '0123456789abcdef' },
    villager: { occupation: 'farmer', stamina: 90, coins: 100, items: { seed: 1, wheat: 0, bread: 0, wood: 0, house: 0, temp_room: 0 } },
    peers: [],
    peerCount: 0,
    trades: [],
    ...over
  }
}

function tradeNotice (initiator: string, counterparty: string, over: Partial<TradeNotice> = {}): TradeNotice {
  return {
    id: 'trade00001',
    initiator,
    initiatorName: 'alice',
    counterparty,
    counterpartyName: 'bob',
    side: 'sell',
    item: 'wheat',
    quantity: 5,
    unitPrice: 4,
    role: 'initiator',
    status: 'proposed',
    createdAt: 1_000,
    updatedAt: 1_000,
    expiresAt: 100_000,
    ...over
  }
}

async function message (data: Uint8Array | StatusNotice, from?: string, type: 'signed' | 'unsigned' = 'signed'): Promise<Message> {
  const key = await generateKeyPair('Ed25519')
  const id = from != null ? (await import('@libp2p/peer-id')).peerIdFromString(from) : peerIdFromPrivateKey(key)
  const bytes = data instanceof Uint8Array ? data : encodeJson(data)
  return (type === 'signed'
    ? { type, from: id, topic: statusTopic('oak'), data: bytes, sequenceNumber: 1n, signature: new Uint8Array(64), key: id.publicKey }
    : { type, topic: statusTopic('oak'), data: bytes }) as unknown as Message
}

describe('dashboard: status notices and the town model', function () {
  describe('a status notice off the wire', () => {
    let alice: string
    let bob: string
    before(async () => { alice = await newId(); bob = await newId() })

    it('passes when it is shaped, bounded and speaks for its signer', async () => {
      const r = checkStatusMessage(await message(notice({ peers: [bob], peerCount: 3, trades: [tradeNotice(alice, bob)] }), alice), 'oak')
      expect(r.ok).to.equal(true)
    })

    it('is refused when it lists a trade its signer is not the stated side of', async () => {
      const carol = await newId()
      const r = checkStatusMessage(await message(notice({ trades: [tradeNotice(carol, bob)] }), alice), 'oak')
      expect(r).to.include({ ok: false, code: 'INVALID' })
    })

    it('is refused when the trade names its signer otherwise', async () => {
      const r = checkStatusMessage(await message(notice({ trades: [tradeNotice(alice, bob, { initiatorName: 'mallory' })] }), alice), 'oak')
      expect(r).to.include({ ok: false, code: 'INVALID' })
    })

    it('is refused when unsigned, oversized, malformed, for another town, or claiming odd links', async () => {
      expect(checkStatusMessage(await message(notice(), undefined, 'unsigned'), 'oak')).to.include({ code: 'UNSIGNED' })
      expect(checkStatusMessage(await message(new Uint8Array(MAX_STATUS_BYTES + 1), alice), 'oak')).to.include({ code: 'TOO_LARGE' })
      expect(checkStatusMessage(await message(new TextEncoder().encode('{"v":1'), alice), 'oak')).to.include({ code: 'MALFORMED' })
      expect(checkStatusMessage(await message({ ...notice(), privateKey: 'x' } as any, alice), 'oak')).to.include({ code: 'MALFORMED' })
      expect(checkStatusMessage(await message(notice({ villager: { ...notice().villager!, stamina: 101 } }), alice), 'oak')).to.include({ code: 'MALFORMED' })
      expect(checkStatusMessage(await message(notice({ trades: Array.from({ length: MAX_STATUS_TRADES + 1 }, (_, i) => tradeNotice(alice, bob, { id: `trade0000${i}x` })) }), alice), 'oak')).to.include({ code: 'MALFORMED' })
      expect(checkStatusMessage(await message(notice({ town: 'elm' }), alice), 'oak')).to.include({ code: 'INVALID' })
      expect(checkStatusMessage(await message(notice({ peers: [alice], peerCount: 1 }), alice), 'oak')).to.include({ code: 'INVALID' })
      expect(checkStatusMessage(await message(notice({ peers: [bob, bob], peerCount: 2 }), alice), 'oak')).to.include({ code: 'INVALID' })
      expect(checkStatusMessage(await message(notice({ role: 'merchant' }), alice), 'oak')).to.include({ code: 'INVALID' })
    })

    it('lists open trades first, then the latest settled ones, and leaves out what would spoil the notice', async () => {
      const base = (id: string, status: Trade['status'], updatedAt: number, over: Partial<Trade> = {}): Trade => ({
        ...tradeNotice(alice, bob, { id, status, updatedAt }), escrow: null, delivered: true, ...over
      } as Trade)
      const trades = [
        base('settled-old', 'committed', 10), base('settled-new', 'rejected', 50), base('open-old', 'accepted', 5), base('open-new', 'proposed', 40),
        base('odd-name00', 'proposed', 60, { role: 'counterparty', counterparty: alice, initiator: bob, initiatorName: 'a name with spaces', counterpartyName: 'alice' })
      ]
      expect(tradeNotices(trades).map(t => t.id)).to.deep.equal(['open-new', 'open-old', 'settled-new', 'settled-old'])
      expect(tradeNotices(trades, 3).map(t => t.id)).to.deep.equal(['open-new', 'open-old', 'settled-new'])
    })
  })

  describe('the town model', () => {
    let alice: string
    let bob: string
    let carol: string
    let clock: ClockState
    before(async () => {
      [alice, bob, carol] = [await newId(), await newId(), await newId()]
      const join = (voter: string, name: string) => ({ kind: 'join' as const, town: 'oak', day: 1, period: 'morning' as const, voter, name, occupation: 'farmer' as const, sig: 'x'.repeat(20) })
      clock = genesis(join(alice, 'alice'))
      clock = { ...clock, view: { [alice]: { name: 'alice', occupation: 'farmer' }, [bob]: { name: 'bob', occupation: 'chef' }, [carol]: { name: 'carol', occupation: 'carpenter' } } }
    })

    it('keeps the newest notice of each villager and shows who is awaited', () => {
      const model = new TownModel('oak')
      model.setClock(clock)
      expect(model.status(alice, notice({ at: 2_000, villager: { ...notice().villager!, coins: 80 } }), 2_000)).to.equal(true)
      expect(model.status(alice, notice({ at: 1_500, villager: { ...notice().villager!, coins: 999 } }), 2_100)).to.equal(false)
      const s = model.snapshot(2_200)
      expect(s.villagers.map(v => v.name)).to.deep.equal(['alice', 'bob', 'carol'])
      expect(s.villagers[0]).to.include({ coins: 80, silent: false, member: true })
      expect(s.villagers[1]).to.include({ coins: null, silent: true })
      expect(s.time.awaiting).to.deep.equal(['alice', 'bob', 'carol'])
      // silent after three missed heartbeats (plus a second of slack)
      expect(model.snapshot(2_000 + 3 * 500 + 1_001).villagers[0]!.silent).to.equal(true)
    })

    it('folds both sides of a trade into one feed entry, and a late old copy changes nothing', () => {
      const model = new TownModel('oak')
      model.setClock(clock)
      const t = (role: 'initiator' | 'counterparty', status: TradeNotice['status'], updatedAt: number): TradeNotice => tradeNotice(alice, bob, { role, status, updatedAt })
      model.status(alice, notice({ at: 1, trades: [t('initiator', 'proposed', 1)] }), 1)
      expect(model.snapshot(1).trades[0]).to.include({ state: 'proposed', settling: false })
      model.status(bob, notice({ name: 'bob', at: 2, trades: [{ ...t('counterparty', 'received', 2), counterpartyName: 'bob' }] }), 2)
      expect(model.snapshot(2).trades[0]).to.include({ state: 'received', settling: false })
      model.status(bob, notice({ name: 'bob', at: 5, trades: [{ ...t('counterparty', 'committed', 5), counterpartyName: 'bob' }] }), 5)
      model.status(alice, notice({ at: 4, trades: [t('initiator', 'confirming', 4)] }), 5)
      const settling = model.snapshot(6).trades[0]!
      expect(settling).to.include({ state: 'committed', settling: true })
      expect(settling.initiator).to.include({ name: 'alice', status: 'confirming' })
      expect(settling.counterparty).to.include({ name: 'bob', status: 'committed' })
      model.status(alice, notice({ at: 7, trades: [t('initiator', 'committed', 7)] }), 7)
      model.status(alice, notice({ at: 8, trades: [t('initiator', 'accepted', 3)] }), 8)
      expect(model.snapshot(9).trades).to.have.length(1)
      expect(model.snapshot(9).trades[0]).to.include({ state: 'committed', settling: false })
    })

    it('draws missing links between villagers and names the sides of a partition', () => {
      const model = new TownModel('oak')
      model.setClock(clock)
      model.setSelf('observer-id')
      model.status(alice, notice({ at: 10, peers: [bob], peerCount: 1 }), 10)
      model.status(bob, notice({ name: 'bob', at: 10, peers: [alice], peerCount: 1 }), 10)
      model.status(carol, notice({ name: 'carol', at: 10, peers: [], peerCount: 0 }), 10)
      let net = model.snapshot(20).network
      expect(net.partitioned).to.equal(true)
      expect(net.groups).to.deep.equal([['alice', 'bob'], ['carol']])
      const missing = net.edges.filter(e => e.kind === 'missing').map(e => [e.source, e.target].sort().join('|'))
      expect(missing).to.have.members([[alice, carol].sort().join('|'), [bob, carol].sort().join('|')])
      model.status(carol, notice({ name: 'carol', at: 30, peers: [alice, bob], peerCount: 2 }), 30)
      net = model.snapshot(40).network
      expect(net.partitioned).to.equal(false)
      expect(net.edges.filter(e => e.kind === 'missing')).to.deep.equal([])
    })

    it('shows only public room messages, each once, and bounds what it keeps', () => {
      const model = new TownModel('oak')
      model.watchRoom('ABCDEFGHIJKLMNOP')
      const msg = (id: string, visibility: string) => ({ id, sender: 'Alice', receivers: [], visibility, content: `text ${id}` })
      expect(model.roomMessage('ABCDEFGHIJKLMNOP', msg('Alice.1', 'private'))).to.equal(false)
      expect(model.roomMessage('ABCDEFGHIJKLMNOP', msg('Alice.2', 'public'))).to.equal(true)
      expect(model.roomMessage('ABCDEFGHIJKLMNOP', msg('Alice.2', 'public'))).to.equal(false)
      expect(model.roomMessage('ZZZZZZZZZZZZZZZZ', msg('Alice.3', 'public'))).to.equal(false)
      for (let i = 10; i < 10 + MODEL_LIMITS.roomMessages + 5; i++) model.roomMessage('ABCDEFGHIJKLMNOP', msg(`Alice.${i}`, 'public'))
      const room = model.snapshot().rooms[0]!
      expect(room.messages).to.have.length(MODEL_LIMITS.roomMessages)
      expect(room.messages.some(m => m.id === 'Alice.1')).to.equal(false)
      for (let i = 0; i < MODEL_LIMITS.chat + 3; i++) model.chatMessage({ id: `c${i}`, from: alice, fromName: 'alice', text: `hello ${i}`, at: i })
      expect(model.snapshot().chat).to.have.length(MODEL_LIMITS.chat)
    })
  })

  describe('on real peers', function () {
    this.timeout(60_000)
    const pool = new PeerPool()
    let town: TestTown | undefined
    let observer: TownObserver | undefined
    const publishers: TownStatusPublisher[] = []
    after(async () => {
      await observer?.stop()
      for (const p of publishers) await p.stop()
      await town?.stop()
      await pool.cleanup()
    })

    it('villagers\' notices reach an observer; forged and malformed ones are refused and counted', async () => {
      town = await new TestTown().start({ town: 'statustown', villagers: [{ name: 'alice', occupation: 'farmer' }, { name: 'bob', occupation: 'chef' }] })
      await town.waitForMembers(['alice', 'bob'])
      for (const v of town.villagers) {
        if ((v.node as any).status == null) publishers.push(await startVillagerStatus(v.peer, { villager: v.service, trades: v.trades, intervalMs: 300 }))
      }
      const peer = await pool.create({ town: 'statustown', bootstrap: [town.bootstrapAddr] })
      observer = new TownObserver(peer, { town: 'statustown' })
      await observer.start()
      await waitFor(() => observer!.snapshot().villagers.filter(v => !v.silent && v.coins === 100).length === 2, 20_000, 'both villagers heard')
      // villagers publish to observers without taking each other's notices (nobody but an observer reads them)
      for (const v of town.villagers) expect(v.peer.pubsub.getTopics()).to.not.include(statusTopic('statustown'))
      expect(peer.pubsub.getTopics()).to.include(statusTopic('statustown'))

      // a rogue peer speaks for alice, and sends garbage
      const rogue = await pool.create({ town: 'statustown', bootstrap: [town.bootstrapAddr] })
      rogue.pubsub.subscribe(statusTopic('statustown'))
      await rogue.libp2p.dial(peer.libp2p.getMultiaddrs()[0]!)
      const alice = town.get('alice').peer.peerId.toString()
      const bob = town.get('bob').peer.peerId.toString()
      const forged = notice({ town: 'statustown', name: 'mallory', at: Date.now(), trades: [tradeNotice(alice, bob, { id: 'forged0001' })] })
      await waitFor(async () => {
        await rogue.pubsub.publish(statusTopic('statustown'), encodeJson({ ...forged, at: Date.now() })).catch(() => {})
        await rogue.pubsub.publish(statusTopic('statustown'), new TextEncoder().encode('not json')).catch(() => {})
        return (observer!.rejections['status:INVALID'] ?? 0) > 0 && (observer!.rejections['status:MALFORMED'] ?? 0) > 0
      }, 20_000, 'the forged and malformed notices refused')
      const s = observer.snapshot()
      expect(s.trades.some(t => t.id === 'forged0001')).to.equal(false)
      expect(s.villagers.some(v => v.name === 'mallory')).to.equal(false)
      expect(s.observer.refused).to.include.keys('status:INVALID', 'status:MALFORMED')
    })
  })
})
