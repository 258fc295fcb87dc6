import { expect } from 'chai'
import { TRADE_PROTOCOL } from '../src/protocols/trade/index.js'
import { RemoteError, WireError } from '../src/protocols/wire.js'
import { RpcClient } from '../src/protocols/rpc.js'
import { TradeReplySchema } from '../src/protocols/trade/schemas.js'
import { lpStream } from '@libp2p/utils'
import { waitFor } from './helpers/peers.js'
import { TestTown, type TestVillager } from './helpers/town.js'
import { Key } from 'interface-datastore'
import { openDatastore } from '../src/node/data-dir.js'

async function refusal (p: Promise<unknown>): Promise<{ code: string, message: string }> {
  const err: any = await p.then(() => { throw new Error('expected a refusal') }, e => e)
  if (err.code == null) throw err
  return err
}

function holdings (v: TestVillager): unknown {
  return structuredClone(v.service.villager)
}

describe('atomic trades between villagers (real peers)', function () {
  this.timeout(120_000)
  let town: TestTown
  let alice: TestVillager
  let bob: TestVillager

  beforeEach(async () => {
    town = await new TestTown().start({ merchant: true, villagers: [{ name: 'alice', occupation: 'farmer' }, { name: 'bob', occupation: 'chef' }] })
    await town.waitForMembers(['alice', 'bob'])
    alice = town.get('alice')
    bob = town.get('bob')
    await waitFor(async () => { try { await bob.service.trade('buy', 'seed', 10); return true } catch { return false } }, 20_000, 'bob buys seed from the merchant')
  })
  afterEach(async () => { await town.stop() })

  /**
   * Alice restarts as after a power cut that took her record of bob's accept (not synced on
   * its own): she holds the trade as proposed and delivered, and the accept may be what was lost.
   */
  async function restartLosingTheAccept (id: string): Promise<TestVillager> {
    const proposed = { ...alice.trades.find(id), status: 'proposed', delivered: true }
    const dataDir = alice.dataDir
    await town.stopVillager(alice)
    const ds = await openDatastore(dataDir)
    await ds.put(new Key(`/meshtown/trades/${proposed.initiator}/${proposed.id}`), new TextEncoder().encode(JSON.stringify(proposed)))
    await ds.close()
    return town.addVillager('alice', 'farmer', dataDir)
  }

  it('propose, accept, confirm: both sides commit, nothing created or lost', async () => {
    const before = { a: alice.service.villager!, b: bob.service.villager! }
    const t = await alice.trades.propose({ target: 'bob', side: 'buy', item: 'seed', quantity: 5, unitPrice: 4 })
    expect(t.status).to.equal('proposed')
    await waitFor(() => bob.trades.received().some(r => r.id === t.id), 10_000, 'bob receives the proposal')
    expect(bob.trades.received()[0]).to.include({ status: 'received', initiatorName: 'alice', quantity: 5, unitPrice: 4 })
    const accepted = await bob.trades.accept(t.id)
    expect(accepted.status).to.equal('accepted')
    expect(bob.service.villager!.items.seed, 'reserved').to.equal(5)
    await waitFor(() => alice.trades.find(t.id).status === 'accepted', 10_000, 'alice learns of the accept')
    const done = await alice.trades.confirm(t.id)
    expect(done.status).to.equal('committed')
    await waitFor(() => bob.trades.find(t.id).status === 'committed', 10_000, 'bob commits')
    expect(alice.service.villager!.items.seed).to.equal(before.a.items.seed + 5)
    expect(alice.service.villager!.coins).to.equal(before.a.coins - 20)
    expect(bob.service.villager!.items.seed).to.equal(before.b.items.seed - 5)
    expect(bob.service.villager!.coins).to.equal(before.b.coins + 20)
    expect(alice.trades.initiated().map(x => x.status)).to.deep.equal(['committed'])
    expect(bob.trades.received().map(x => x.status)).to.deep.equal(['committed'])
    // replays change nothing: a late confirm is answered with the decision already taken
    const again = await new RpcClient(alice.peer.libp2p, TRADE_PROTOCOL, { maxBytes: 4096 }).request(bob.peer.peerId, { op: 'confirm', id: t.id }, TradeReplySchema)
    expect(again.status).to.equal('committed')
    expect(bob.service.villager!.coins).to.equal(before.b.coins + 20)
    await refusal(alice.trades.confirm(t.id)).then(e => expect(e.code).to.equal('WRONG_STATE'))
  })

  it('a selling initiator; reject; cancel after accept releases the reservation', async () => {
    const sell = await bob.trades.propose({ target: 'alice', side: 'sell', item: 'seed', quantity: 2, unitPrice: 3 })
    await waitFor(() => alice.trades.received().length === 1, 10_000, 'alice receives')
    await alice.trades.reject(sell.id)
    await waitFor(() => bob.trades.find(sell.id).status === 'rejected', 10_000, 'bob learns of the reject')

    const t = await alice.trades.propose({ target: 'bob', side: 'buy', item: 'seed', quantity: 3, unitPrice: 2 })
    await waitFor(() => bob.trades.received().some(r => r.id === t.id), 10_000, 'bob receives')
    await bob.trades.accept(t.id)
    expect(bob.service.villager!.items.seed).to.equal(7)
    await waitFor(() => alice.trades.find(t.id).status === 'accepted', 10_000, 'accepted')
    await alice.trades.cancel(t.id)
    await waitFor(() => bob.trades.find(t.id).status === 'cancelled', 10_000, 'bob releases')
    expect(bob.service.villager!.items.seed).to.equal(10)
  })

  it('refuses bad trades with a clear reason and changes nothing', async () => {
    const a0 = holdings(alice)
    const b0 = holdings(bob)
    const cases: Array<[any, string]> = [
      [{ target: 'alice', side: 'buy', item: 'seed', quantity: 1, unitPrice: 1 }, 'SELF_TRADE'],
      [{ target: 'zed', side: 'buy', item: 'seed', quantity: 1, unitPrice: 1 }, 'UNKNOWN_VILLAGER'],
      [{ target: 'bob', side: 'buy', item: 'seed', quantity: 0, unitPrice: 1 }, 'INVALID_QUANTITY'],
      [{ target: 'bob', side: 'buy', item: 'seed', quantity: -2, unitPrice: 1 }, 'INVALID_QUANTITY'],
      [{ target: 'bob', side: 'buy', item: 'seed', quantity: 1.5, unitPrice: 1 }, 'INVALID_QUANTITY'],
      [{ target: 'bob', side: 'buy', item: 'seed', quantity: 1e12, unitPrice: 1 }, 'INVALID_QUANTITY'],
      [{ target: 'bob', side: 'buy', item: 'seed', quantity: 1, unitPrice: 0 }, 'INVALID_PRICE'],
      [{ target: 'bob', side: 'buy', item: 'seed', quantity: 1, unitPrice: 1e15 }, 'INVALID_PRICE'],
      [{ target: 'bob', side: 'buy', item: 'gold', quantity: 1, unitPrice: 1 }, 'INVALID_ITEM'],
      [{ target: 'bob', side: 'buy', item: 'seed', quantity: 1, unitPrice: 1, expiresInMs: 10 }, 'INVALID_EXPIRY'],
      [{ target: 'bob', side: 'buy', item: 'seed', quantity: 500, unitPrice: 1000 }, 'NOT_ENOUGH_COINS'],
      [{ target: 'bob', side: 'sell', item: 'wheat', quantity: 1, unitPrice: 1 }, 'NOT_ENOUGH_ITEMS']
    ]
    for (const [input, code] of cases) {
      const e = await refusal(alice.trades.propose(input))
      expect(e.code, JSON.stringify(input)).to.equal(code)
      expect(e.message).to.be.a('string').and.not.empty
    }
    expect(alice.trades.all()).to.deep.equal([])
    // bob cannot accept what he cannot give: the trade stays open, his goods untouched
    const big = await alice.trades.propose({ target: 'bob', side: 'buy', item: 'seed', quantity: 50, unitPrice: 1 })
    await waitFor(() => bob.trades.received().length === 1, 10_000, 'received')
    expect((await refusal(bob.trades.accept(big.id))).code).to.equal('NOT_ENOUGH_ITEMS')
    expect(bob.trades.find(big.id).status).to.equal('received')
    expect((await refusal(alice.trades.accept(big.id))).code).to.equal('NOT_YOURS')
    expect((await refusal(bob.trades.confirm(big.id))).code).to.equal('NOT_YOURS')
    expect((await refusal(alice.trades.confirm(big.id))).code).to.equal('WRONG_STATE')
    expect((await refusal(alice.trades.accept('nosuchtrade'))).code).to.equal('UNKNOWN_TRADE')
    expect(holdings(alice)).to.deep.equal(a0)
    expect(holdings(bob)).to.deep.equal(b0)
  })

  it('refuses wire messages from peers that never saw the trade, malformed and oversized ones', async () => {
    const mallory = await town.pool.create({ town: town.town, bootstrap: [town.bootstrapAddr] })
    await mallory.libp2p.dial(bob.peer.libp2p.getMultiaddrs()[0]!)
    const t = await alice.trades.propose({ target: 'bob', side: 'buy', item: 'seed', quantity: 1, unitPrice: 1 })
    await waitFor(() => bob.trades.received().length === 1, 10_000, 'received')
    const rpc = new RpcClient(mallory.libp2p, TRADE_PROTOCOL, { maxBytes: 8192 })
    const send = async (body: unknown): Promise<string> => {
      try {
        await rpc.request(bob.peer.peerId, body, TradeReplySchema)
        return 'ok'
      } catch (err) {
        if (err instanceof RemoteError || err instanceof WireError) return err.code
        throw err
      }
    }
    expect(await send({ op: 'confirm', id: t.id }), 'not mallory\'s trade').to.equal('UNKNOWN_TRADE')
    expect(await send({ op: 'cancel', id: t.id })).to.equal('UNKNOWN_TRADE')
    expect(await send({ op: 'accept', id: 'abcdefgh' })).to.equal('UNKNOWN_TRADE')
    expect(await send({ op: 'launder', id: t.id })).to.equal('INVALID_REQUEST')
    expect(await send({ op: 'propose', id: 'x' })).to.equal('INVALID_REQUEST')
    expect(await send({ op: 'propose', id: 'mallory01', side: 'buy', item: 'seed', quantity: 1, unitPrice: 1, expiresAt: Date.now() + 60_000, initiatorName: 'mallory', counterpartyName: 'carol' })).to.equal('WRONG_VILLAGER')
    expect(await send({ op: 'propose', id: 'mallory02', side: 'buy', item: 'seed', quantity: -1, unitPrice: 1, expiresAt: Date.now() + 60_000, initiatorName: 'mallory', counterpartyName: 'bob' })).to.equal('INVALID_QUANTITY')
    expect(await send({ op: 'propose', id: 'mallory03', side: 'buy', item: 'seed', quantity: 1, unitPrice: 1, expiresAt: Date.now() + 60_000, initiatorName: 'x'.repeat(5000), counterpartyName: 'bob' })).to.equal('MESSAGE_TOO_LARGE')
    // raw frames that are not JSON, or not a request frame: refused, and the stream stays usable
    const stream = await mallory.libp2p.dialProtocol(bob.peer.peerId, TRADE_PROTOCOL)
    const lp = lpStream(stream)
    const raw = async (text: string): Promise<any> => {
      await lp.write(new TextEncoder().encode(text))
      return JSON.parse(new TextDecoder().decode((await lp.read()).subarray()))
    }
    expect((await raw('{"id": 1, "body": {"op": confirm')).error.code).to.equal('MALFORMED')
    expect((await raw('{"op":"confirm","id":"x"}')).error.code).to.equal('INVALID_REQUEST')
    expect((await raw(JSON.stringify({ id: 7, body: { op: 'status', id: t.id } }))).error.code).to.equal('UNKNOWN_TRADE')
    // an oversized frame ends the stream after an error reply
    expect((await raw(JSON.stringify({ id: 8, body: 'x'.repeat(10_000) }))).error.code).to.equal('MESSAGE_TOO_LARGE')
    await stream.close().catch(() => {})
    // a reused id with other terms
    expect(await send({ op: 'propose', id: 'mallory04', side: 'buy', item: 'seed', quantity: 1, unitPrice: 1, expiresAt: Date.now() + 60_000, initiatorName: 'mallory', counterpartyName: 'bob' })).to.equal('ok')
    expect(await send({ op: 'propose', id: 'mallory04', side: 'buy', item: 'seed', quantity: 2, unitPrice: 1, expiresAt: Date.now() + 60_000, initiatorName: 'mallory', counterpartyName: 'bob' })).to.equal('TRADE_ID_REUSED')
    expect(bob.trades.find(t.id).status).to.equal('received')
    expect(bob.service.villager!.items.seed).to.equal(10)
  })

  it('expiry releases the reservation on both sides consistently', async () => {
    const t = await alice.trades.propose({ target: 'bob', side: 'buy', item: 'seed', quantity: 4, unitPrice: 2, expiresInMs: 1_500 })
    await waitFor(() => bob.trades.received().length === 1, 10_000, 'received')
    await bob.trades.accept(t.id)
    expect(bob.service.villager!.items.seed).to.equal(6)
    await waitFor(() => bob.trades.find(t.id).status === 'expired' && alice.trades.find(t.id).status === 'expired', 10_000, 'both expire')
    expect(bob.service.villager!.items.seed, JSON.stringify(bob.trades.find(t.id))).to.equal(10)
    expect((await refusal(alice.trades.confirm(t.id))).code).to.equal('WRONG_STATE')
  })

  it('a confirm during a partition stays pending with goods reserved, and settles when the link heals', async () => {
    const t = await alice.trades.propose({ target: 'bob', side: 'buy', item: 'seed', quantity: 2, unitPrice: 5 })
    await waitFor(() => bob.trades.received().length === 1, 10_000, 'received')
    await bob.trades.accept(t.id)
    await waitFor(() => alice.trades.find(t.id).status === 'accepted', 10_000, 'accepted')
    await alice.peer.block(bob.peer.peerId)
    await bob.peer.block(alice.peer.peerId)
    const pending = await alice.trades.confirm(t.id)
    expect(pending.status).to.equal('confirming')
    expect(alice.service.villager!.coins, 'alice\'s coins reserved').to.equal(90)
    expect(bob.trades.find(t.id).status).to.equal('accepted')
    alice.peer.heal()
    bob.peer.heal()
    await alice.peer.libp2p.dial(bob.peer.libp2p.getMultiaddrs()[0]!)
    await waitFor(() => alice.trades.find(t.id).status === 'committed' && bob.trades.find(t.id).status === 'committed', 20_000, 'settled after healing')
    expect(alice.service.villager!.items.seed).to.equal(2)
    expect(bob.service.villager!.coins).to.equal(100 - 30 + 10)
  })

  it('a proposal the initiator lost in a crash: the counterparty\'s accept is refused, and it releases what it reserved', async () => {
    // a proposal is sent while it is written: as if alice crashed before her write landed, bob holds
    // a proposal from her that her journal does not have
    const rpc = new RpcClient(alice.peer.libp2p, TRADE_PROTOCOL, { maxBytes: 4096 })
    const reply = await rpc.request(bob.peer.peerId, { op: 'propose', id: 'lostinacrash', side: 'buy', item: 'seed', quantity: 4, unitPrice: 2, expiresAt: Date.now() + 60_000, initiatorName: 'alice', counterpartyName: 'bob' }, TradeReplySchema)
    rpc.close()
    expect(reply.status).to.equal('received')
    const seen: Array<[string, number]> = []
    bob.trades.addEventListener('trade', (e) => { seen.push([e.detail.status, bob.service.villager!.items.seed]) })
    await bob.trades.accept('lostinacrash')
    await waitFor(() => bob.trades.find('lostinacrash').status === 'cancelled', 10_000, 'bob learns alice has no such trade')
    expect(seen, 'reserved on accept, released when alice answers she has no such trade').to.deep.equal([['accepted', 6], ['cancelled', 10]])
    expect(bob.trades.find('lostinacrash').reason).to.equal('unknown to the other side')
    expect(bob.service.villager!.items.seed, 'released').to.equal(10)
    expect(() => alice.trades.find('lostinacrash')).to.throw(/no trade/)
  })

  it('an accept that arrives while the proposal is still being written waits for the write', async () => {
    // a slow disk at alice: her proposal reaches bob, and bob accepts, before her own write is durable
    const db = alice.peer.datastore.db as any
    const batch = db.batch.bind(db)
    let slow = true
    db.batch = async (...args: any[]) => {
      const ops = args[0] as Array<{ key: string }>
      if (slow && ops.some(op => String(op.key).startsWith('/meshtown/trades/'))) { slow = false; await new Promise(resolve => setTimeout(resolve, 300)) }
      return batch(...args)
    }
    bob.trades.addEventListener('trade', (e) => { if (e.detail.status === 'received') void bob.trades.accept(e.detail.id) })
    try {
      const t = await alice.trades.propose({ target: 'bob', side: 'buy', item: 'seed', quantity: 2, unitPrice: 3 })
      expect(slow, 'the slow write was the proposal\'s').to.equal(false)
      await waitFor(() => alice.trades.find(t.id).status === 'accepted', 10_000, () => `alice sees the accept; alice: ${alice.trades.find(t.id).status}, bob: ${bob.trades.find(t.id).status}`)
      expect(bob.trades.find(t.id).status).to.equal('accepted')
      expect((await alice.trades.confirm(t.id)).status).to.equal('committed')
    } finally {
      db.batch = batch
    }
  })

  it('an initiator that lost the accept in a crash asks the counterparty when it restarts', async () => {
    const t = await alice.trades.propose({ target: 'bob', side: 'buy', item: 'seed', quantity: 3, unitPrice: 2 })
    await waitFor(() => bob.trades.received().length === 1, 10_000, 'received')
    await bob.trades.accept(t.id)
    await waitFor(() => alice.trades.find(t.id).status === 'accepted', 10_000, 'accepted')
    alice = await restartLosingTheAccept(t.id)
    await waitFor(() => alice.trades.find(t.id).status === 'accepted', 20_000, () => `alice asks bob: ${alice.trades.find(t.id).status}`)
    await town.waitForMembers(['alice', 'bob'])
    expect((await alice.trades.confirm(t.id)).status).to.equal('committed')
    expect(bob.trades.find(t.id).status).to.equal('committed')
  })

  it('an initiator restarted with a proposal out settles it by its own expiry while the counterparty is unreachable', async () => {
    const t = await alice.trades.propose({ target: 'bob', side: 'buy', item: 'seed', quantity: 2, unitPrice: 2, expiresInMs: 5_000 })
    await waitFor(() => bob.trades.received().length === 1 && alice.trades.find(t.id).delivered, 10_000, 'bob holds the proposal')
    await bob.trades.accept(t.id)
    await waitFor(() => alice.trades.find(t.id).status === 'accepted', 10_000, 'accepted')
    // bob shuts alice out before she restarts: her restart cannot ask him whether he accepted
    await bob.peer.block(alice.peer.peerId)
    alice = await restartLosingTheAccept(t.id)
    // once expired on her clock, she never confirms it, so nothing is left to learn from bob: settled without him
    await waitFor(() => alice.trades.find(t.id).status === 'expired' && alice.trades.find(t.id).delivered, 20_000,
      () => `alice settles the expired trade alone: ${JSON.stringify(alice.trades.find(t.id))}`)
    await waitFor(() => bob.trades.find(t.id).status === 'expired' && bob.trades.find(t.id).delivered, 20_000, 'bob expires his side')
    expect(bob.trades.find(t.id).escrow, 'bob\'s reservation released').to.equal(null)
    bob.peer.unblock(alice.peer.peerId)
  })

  it('an initiator that lost the counterparty\'s commit in a crash confirms again when it restarts', async () => {
    const t = await alice.trades.propose({ target: 'bob', side: 'buy', item: 'seed', quantity: 4, unitPrice: 2 })
    await waitFor(() => bob.trades.received().length === 1, 10_000, 'received')
    await bob.trades.accept(t.id)
    await waitFor(() => alice.trades.find(t.id).status === 'accepted', 10_000, 'accepted')
    const before = holdings(alice) as { coins: number, items: { seed: number } }
    // alice's writes as they go to LevelDB: the last durable one holding her confirm, and the commit's options
    const db = alice.peer.datastore.db as any
    const batch = db.batch.bind(db)
    const tradeKey = `/meshtown/trades/${t.initiator}/${t.id}`
    let confirming: Array<{ key: string, value: Uint8Array }> | undefined
    let commitSynced: boolean | undefined
    db.batch = async (ops: Array<{ key: string, value: Uint8Array }>, options: { sync?: boolean }) => {
      const mine = ops.find(op => String(op.key) === tradeKey)
      const status = mine == null ? undefined : JSON.parse(new TextDecoder().decode(mine.value)).status
      if (status === 'confirming') confirming = ops
      if (status === 'committed') commitSynced = options?.sync === true
      return batch(ops, options)
    }
    try {
      expect((await alice.trades.confirm(t.id)).status).to.equal('committed')
    } finally {
      db.batch = batch
    }
    expect(confirming, 'the confirm was written').to.not.equal(undefined)
    expect(commitSynced, 'the counterparty\'s answer is recorded without a sync of its own').to.equal(false)
    expect(bob.trades.find(t.id).status).to.equal('committed')
    // a power cut takes the unsynced write: on disk, alice is as she was when her confirm was durable
    const dataDir = alice.dataDir
    await town.stopVillager(alice)
    const ds = await openDatastore(dataDir)
    for (const op of confirming!) await ds.put(new Key(String(op.key)), op.value)
    await ds.close()
    alice = await town.addVillager('alice', 'farmer', dataDir)
    expect(alice.trades.find(t.id).status, 'restarted from the confirm').to.equal('confirming')
    expect(alice.service.villager!.coins, 'her share still reserved').to.equal(before.coins - 8)
    await waitFor(() => alice.trades.find(t.id).status === 'committed', 20_000, () => `alice confirms again: ${alice.trades.find(t.id).status}`)
    expect(alice.service.villager!.items.seed).to.equal(before.items.seed + 4)
    expect(alice.service.villager!.coins).to.equal(before.coins - 8)
    expect(bob.trades.find(t.id).status).to.equal('committed')
  })

  it('an accept leaves while it is written; lost to a failed write, the initiator waits in doubt, its share reserved, until the counterparty accepts again', async () => {
    const t = await alice.trades.propose({ target: 'bob', side: 'buy', item: 'seed', quantity: 3, unitPrice: 2 })
    await waitFor(() => bob.trades.received().length === 1, 10_000, 'received')
    const bobBefore = holdings(bob) as { coins: number, items: { seed: number } }
    const aliceBefore = holdings(alice) as { coins: number, items: { seed: number } }
    // bob's disk fails on the write of his accept, but only once alice holds that accept
    const db = bob.peer.datastore.db as any
    const batch = db.batch.bind(db)
    const tradeKey = `/meshtown/trades/${t.initiator}/${t.id}`
    let aliceHadIt: boolean | undefined
    db.batch = async (ops: Array<{ key: string, value: Uint8Array }>, options: unknown) => {
      const mine = ops.find(op => String(op.key) === tradeKey)
      if (aliceHadIt == null && mine != null && JSON.parse(new TextDecoder().decode(mine.value)).status === 'accepted') {
        aliceHadIt = await waitFor(() => alice.trades.find(t.id).status === 'accepted', 5_000, 'alice has the accept').then(() => true, () => false)
        throw new Error('disk failure')
      }
      return batch(ops, options)
    }
    try {
      expect((await refusal(bob.trades.accept(t.id))).code).to.equal('WRITE_FAILED')
    } finally {
      db.batch = batch
    }
    expect(aliceHadIt, 'the accept left before its write was durable').to.equal(true)
    expect(bob.trades.find(t.id).status, 'bob holds the trade as received').to.equal('received')
    expect(bob.service.villager!.items.seed, 'nothing reserved at bob').to.equal(bobBefore.items.seed)
    // alice confirms an accept bob no longer holds: refused, she stays in doubt with her share reserved,
    // asking again every settle round, and says so once (not once a round, for as long as the trade may last)
    const log = alice.peer.log as unknown as Record<'info' | 'debug', (...args: unknown[]) => void>
    const { info, debug } = log
    const said = { info: 0, debug: 0 }
    log.info = (...args: unknown[]) => { if (String(args[0]).includes('refused')) said.info++; info.apply(log, args) }
    log.debug = (...args: unknown[]) => { if (String(args[0]).includes('refused')) said.debug++; debug.apply(log, args) }
    try {
      expect((await alice.trades.confirm(t.id)).status).to.equal('confirming')
      expect(alice.service.villager!.coins).to.equal(aliceBefore.coins - 6)
      await waitFor(() => said.debug >= 2, 10_000, () => `alice asks again (refusals said: ${JSON.stringify(said)})`)
      expect(said.info, 'the refusal said once').to.equal(1)
    } finally {
      log.info = info
      log.debug = debug
    }
    expect(bob.trades.find(t.id).status).to.equal('received')
    await bob.trades.accept(t.id)
    await waitFor(() => alice.trades.find(t.id).status === 'committed' && bob.trades.find(t.id).status === 'committed', 20_000, () => `alice asks again: ${alice.trades.find(t.id).status}, bob: ${bob.trades.find(t.id).status}`)
    expect(alice.service.villager!.coins).to.equal(aliceBefore.coins - 6)
    expect(alice.service.villager!.items.seed).to.equal(aliceBefore.items.seed + 3)
    expect(bob.service.villager!.coins).to.equal(bobBefore.coins + 6)
    expect(bob.service.villager!.items.seed).to.equal(bobBefore.items.seed - 3)
  })

  it('a counterparty restarted after accepting keeps its reservation and commits', async () => {
    const t = await alice.trades.propose({ target: 'bob', side: 'buy', item: 'seed', quantity: 3, unitPrice: 1 })
    await waitFor(() => bob.trades.received().length === 1, 10_000, 'received')
    await bob.trades.accept(t.id)
    await waitFor(() => alice.trades.find(t.id).status === 'accepted', 10_000, 'accepted')
    bob = await town.restartVillager(bob)
    expect(bob.trades.find(t.id).status).to.equal('accepted')
    expect(bob.service.villager!.items.seed).to.equal(7)
    await town.waitForMembers(['alice', 'bob'])
    await alice.trades.confirm(t.id)
    await waitFor(() => bob.trades.find(t.id).status === 'committed' && alice.trades.find(t.id).status === 'committed', 20_000, 'committed after the restart')
    expect(bob.service.villager!.coins).to.equal(100 - 30 + 3)
  })
})
