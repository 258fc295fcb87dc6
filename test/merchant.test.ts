import type { PeerId } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'chai'
import path from 'node:path'
import { z } from 'zod'
import type { MeshPeer } from '../src/node/peer.js'
import {
  createMerchant, findMerchant, MAX_MERCHANT_MESSAGE_BYTES, MERCHANT_PROTOCOL, merchantClient, waitForMerchant,
  type MerchantService, type MerchantStats
} from '../src/protocols/merchant/index.js'
import { RemoteError, request, WireError } from '../src/protocols/wire.js'
import { MERCHANT_PRICES } from '../src/town/constants.js'
import { CliProcess } from './helpers/cli.js'
import { PeerPool, waitFor } from './helpers/peers.js'
import { TestTown } from './helpers/town.js'

/** What a refused request rejects with: its code, or the error itself if it was not a refusal. */
async function refusalCode (promise: Promise<unknown>): Promise<string> {
  try {
    await promise
  } catch (err) {
    if (err instanceof RemoteError) return err.code
    throw err
  }
  throw new Error('expected a refusal, got a result')
}

describe('merchant', function () {
  const pool = new PeerPool()
  const merchants: MerchantService[] = []
  const procs: CliProcess[] = []

  afterEach(async () => {
    await Promise.all(procs.splice(0).map(async p => { p.kill(); await p.exited }))
    // merchants first: they write into their peers' datastores
    await Promise.all(merchants.splice(0).map(async m => m.stop()))
    await pool.cleanup()
  })

  async function openMerchant (dataDir?: string): Promise<{ peer: MeshPeer, merchant: MerchantService }> {
    const peer = await pool.create({ dataDir: dataDir ?? await pool.dir() })
    const merchant = createMerchant(peer)
    merchants.push(merchant)
    await merchant.start()
    return { peer, merchant }
  }

  async function stopMerchant (peer: MeshPeer, merchant: MerchantService): Promise<void> {
    await merchant.stop()
    merchants.splice(merchants.indexOf(merchant), 1)
    await pool.stop(peer)
  }

  /** A villager peer connected to `to`, so that requests can name it by PeerId. */
  async function villagerOf (to: MeshPeer): Promise<MeshPeer> {
    const villager = await pool.create()
    await villager.libp2p.dial(to.libp2p.getMultiaddrs()[0]!)
    return villager
  }

  /** Any JSON body, straight through wire.ts: for requests the typed client cannot make. */
  async function send (from: MeshPeer, to: PeerId, body: unknown): Promise<unknown> {
    return request(from.libp2p, to, MERCHANT_PROTOCOL, body, z.unknown(), { maxBytes: MAX_MERCHANT_MESSAGE_BYTES })
  }

  /** One raw length-prefixed frame and the decoded reply: for bytes wire.ts would never send. */
  async function sendFrame (from: MeshPeer, to: PeerId, frame: Uint8Array): Promise<any> {
    const signal = AbortSignal.timeout(5_000)
    const stream = await from.libp2p.dialProtocol(to, MERCHANT_PROTOCOL, { signal })
    const lp = lpStream(stream, { maxDataLength: 64 * 1024 })
    await lp.write(frame, { signal })
    const reply = await lp.read({ signal })
    await stream.close({ signal }).catch(() => {})
    return JSON.parse(new TextDecoder().decode(reply.subarray()))
  }

  it('publishes its prices', async () => {
    const { peer } = await openMerchant()
    const villager = await villagerOf(peer)
    const prices = await merchantClient(villager.libp2p).prices(peer.peerId)
    expect(prices).to.deep.equal(MERCHANT_PRICES)
  })

  it('sells and buys at its prices and keeps the totals', async () => {
    const { peer, merchant } = await openMerchant()
    const villager = await villagerOf(peer)
    const client = merchantClient(villager.libp2p)
    expect(await client.buy(peer.peerId, 'order-0001', 'seed', 3)).to.deep.equal({ requestId: 'order-0001', op: 'buy', item: 'seed', quantity: 3, unitPrice: 3, total: 9 })
    expect(await client.buy(peer.peerId, 'order-0002', 'bread', 2)).to.deep.equal({ requestId: 'order-0002', op: 'buy', item: 'bread', quantity: 2, unitPrice: 18, total: 36 })
    expect(await client.buy(peer.peerId, 'order-0003', 'temp_room', 1000)).to.include({ unitPrice: 10, total: 10_000 })
    expect(await client.sell(peer.peerId, 'order-0004', 'house', 1)).to.deep.equal({ requestId: 'order-0004', op: 'sell', item: 'house', quantity: 1, unitPrice: 80, total: 80 })
    expect(await client.sell(peer.peerId, 'order-0005', 'wheat', 5)).to.include({ unitPrice: 4, total: 20 })
    expect(await client.sell(peer.peerId, 'order-0006', 'bread', 1)).to.include({ unitPrice: 14, total: 14 })
    const stats = merchant.stats()
    expect(stats).to.deep.include({ sales: 6, coinsIn: 9 + 36 + 10_000, coinsOut: 80 + 20 + 14 })
    expect(stats.sold).to.deep.equal({ seed: 3, wheat: 0, bread: 2, wood: 0, house: 0, temp_room: 1000 })
    expect(stats.bought).to.deep.equal({ seed: 0, wheat: 5, bread: 1, wood: 0, house: 1, temp_room: 0 })
  })

  it('refuses every bad request with its code and changes nothing', async () => {
    const { peer, merchant } = await openMerchant()
    const villager = await villagerOf(peer)
    const client = merchantClient(villager.libp2p)
    const id = peer.peerId
    const order = { op: 'buy', requestId: 'refused-01', item: 'seed', quantity: 1 }
    const before = merchant.stats()

    expect(await refusalCode(client.buy(id, 'refused-01', 'house', 1))).to.equal('NOT_FOR_SALE')
    expect(await refusalCode(client.sell(id, 'refused-01', 'seed', 1))).to.equal('NOT_BOUGHT')
    for (const quantity of [0, -1, 1001, 1.5, 2 ** 53, 1e20, Number.MAX_VALUE]) {
      expect(await refusalCode(client.buy(id, 'refused-01', 'seed', quantity)), `quantity ${quantity}`).to.equal('INVALID_QUANTITY')
      expect(await refusalCode(client.sell(id, 'refused-01', 'wheat', quantity)), `quantity ${quantity}`).to.equal('INVALID_QUANTITY')
    }
    const wrongSchema: unknown[] = [
      { ...order, item: 'gold' },
      { ...order, item: 'SEED' },
      { ...order, op: 'steal' },
      { ...order, quantity: '5' },
      { ...order, quantity: null },
      { ...order, requestId: 'short' },
      { ...order, requestId: 'has spaces in it' },
      { ...order, requestId: 'x'.repeat(65) },
      { op: 'buy', item: 'seed', quantity: 1 },
      { op: 'buy', requestId: 'refused-01', item: 'seed' },
      { ...order, price: 0 },
      { op: 'prices', extra: true },
      {},
      [],
      'prices',
      null
    ]
    for (const body of wrongSchema) {
      expect(await refusalCode(send(villager, id, body)), JSON.stringify(body)).to.equal('INVALID_REQUEST')
    }
    const encoder = new TextEncoder()
    for (const bytes of [encoder.encode('{"op":"prices"'), encoder.encode('prices'), new Uint8Array([0xff, 0xfe, 0x7b, 0x7d]), new Uint8Array(0)]) {
      const reply = await sendFrame(villager, id, bytes)
      expect(reply, `frame ${Buffer.from(bytes).toString('hex')}`).to.deep.include({ ok: false })
      expect(reply.error.code).to.equal('MALFORMED')
    }
    const oversized = encoder.encode(JSON.stringify({ ...order, padding: 'x'.repeat(MAX_MERCHANT_MESSAGE_BYTES) }))
    const tooLarge = await sendFrame(villager, id, oversized)
    expect(tooLarge.error.code).to.equal('MESSAGE_TOO_LARGE')

    expect(merchant.stats()).to.deep.equal(before)
    // a refused order burns nothing: its requestId is still free for a good order
    expect(await client.buy(id, 'refused-01', 'seed', 1)).to.include({ total: 3 })
    expect(merchant.stats().sales).to.equal(before.sales + 1)
  })

  it('settles a repeated order once and refuses a requestId reused for another order', async () => {
    const { peer, merchant } = await openMerchant()
    const villager = await villagerOf(peer)
    const client = merchantClient(villager.libp2p)
    const first = await client.buy(peer.peerId, 'retry-me-1', 'wood', 10)
    const again = await client.buy(peer.peerId, 'retry-me-1', 'wood', 10)
    expect(again).to.deep.equal(first)
    expect(merchant.stats()).to.deep.include({ sales: 1, coinsIn: 50 })

    // retries racing each other: the ledger queue settles the order once
    const racing = await Promise.all(Array.from({ length: 8 }, async () => client.sell(peer.peerId, 'race-0001', 'bread', 3)))
    for (const result of racing) expect(result).to.deep.equal(racing[0])
    expect(merchant.stats()).to.deep.include({ sales: 2, coinsOut: 42 })
    expect(merchant.stats().bought.bread).to.equal(3)

    const settled = merchant.stats()
    for (const reused of [
      client.buy(peer.peerId, 'retry-me-1', 'wood', 11),
      client.buy(peer.peerId, 'retry-me-1', 'seed', 10),
      client.sell(peer.peerId, 'retry-me-1', 'wheat', 10),
      // even where the reused order would itself be refused: the id is taken
      client.buy(peer.peerId, 'retry-me-1', 'house', 10)
    ]) {
      expect(await refusalCode(reused)).to.equal('REQUEST_ID_REUSED')
    }
    expect(merchant.stats()).to.deep.equal(settled)

    // requestIds are per villager: another villager's order with the same id is its own
    const neighbour = await villagerOf(peer)
    expect(await merchantClient(neighbour.libp2p).buy(peer.peerId, 'retry-me-1', 'seed', 2)).to.include({ item: 'seed', total: 6 })
    expect(merchant.stats()).to.deep.include({ sales: 3, coinsIn: 56 })
  })

  it('keeps its ledger and totals across a restart with the same data dir', async () => {
    const dir = await pool.dir()
    const first = await openMerchant(dir)
    const villager = await villagerOf(first.peer)
    const client = merchantClient(villager.libp2p)
    const bought = await client.buy(first.peer.peerId, 'before-restart-1', 'seed', 7)
    await client.sell(first.peer.peerId, 'before-restart-2', 'house', 2)
    const stats: MerchantStats = first.merchant.stats()
    await stopMerchant(first.peer, first.merchant)

    const second = await openMerchant(dir)
    expect(second.peer.peerId.toString()).to.equal(first.peer.peerId.toString())
    expect(second.merchant.stats()).to.deep.equal(stats)
    await villager.libp2p.dial(second.peer.libp2p.getMultiaddrs()[0]!)
    // the villager retries an order whose reply it lost in the crash: same result, not charged again
    expect(await client.buy(second.peer.peerId, 'before-restart-1', 'seed', 7)).to.deep.equal(bought)
    expect(await refusalCode(client.buy(second.peer.peerId, 'before-restart-2', 'house', 2))).to.equal('REQUEST_ID_REUSED')
    expect(second.merchant.stats()).to.deep.equal(stats)
    await client.buy(second.peer.peerId, 'after-restart-1', 'seed', 1)
    expect(second.merchant.stats()).to.deep.include({ sales: stats.sales + 1, coinsIn: stats.coinsIn + 3 })
  })

  it('is found among the connected peers by its protocol', async () => {
    const { peer } = await openMerchant()
    const plain = await pool.create()
    const villager = await villagerOf(plain)

    expect(await findMerchant(villager.libp2p)).to.equal(undefined)
    const timedOut = await waitForMerchant(villager.libp2p, { timeoutMs: 300 }).catch(e => e)
    expect(timedOut).to.be.instanceOf(WireError)
    expect(timedOut.code).to.equal('TIMEOUT')
    const aborted = new AbortController()
    const waiting = waitForMerchant(villager.libp2p, { signal: aborted.signal }).catch(e => e)
    aborted.abort(new Error('gave up'))
    expect((await waiting).message).to.equal('gave up')

    const found = waitForMerchant(villager.libp2p, { timeoutMs: 10_000 })
    await villager.libp2p.dial(peer.libp2p.getMultiaddrs()[0]!)
    expect((await found).toString()).to.equal(peer.peerId.toString())
    expect((await findMerchant(villager.libp2p))?.toString()).to.equal(peer.peerId.toString())
  })

  it('runs as `meshtown merchant`: prints its PeerId and prices, sells, and stops on SIGINT', async () => {
    const boot = await pool.create()
    const dir = await pool.dir()
    const dataDir = path.join(dir, 'merchant')
    const proc = new CliProcess(['merchant', '--town', 'merchanttown', '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', dataDir, '--bootstrap', boot.addresses()[0]!])
    procs.push(proc)
    const [, peerId] = await proc.waitForOutput(/PeerId: (\S+)\n/)
    const [addr] = await proc.waitForOutput(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\S+$/m)
    expect(addr).to.contain(`/p2p/${peerId}`)
    await proc.waitForOutput(/^Prices \(coins per unit\):\nitem\s+sells at\s+buys at\n/m)
    expect(proc.stdout).to.match(/^seed\s+3\s+-$/m)
    expect(proc.stdout).to.match(/^bread\s+18\s+14$/m)
    expect(proc.stdout).to.match(/^house\s+-\s+80$/m)
    await proc.waitForOutput(/merchant of town merchanttown open/, 20_000, 'stderr')

    const villager = await pool.create()
    const result = await merchantClient(villager.libp2p).buy(multiaddr(addr!), 'cli-order-1', 'wood', 4)
    expect(result).to.include({ unitPrice: 5, total: 20 })
    await proc.waitForOutput(/sold 4 wood at 5 = 20 coins to \S+ \(request cli-order-1\)/, 10_000, 'stderr')

    expect(await proc.interrupt()).to.equal(0)
    // what the process recorded is in its data dir
    const reopened = await openMerchant(dataDir)
    expect(reopened.peer.peerId.toString()).to.equal(peerId)
    expect(reopened.merchant.stats()).to.deep.include({ sales: 1, coinsIn: 20 })
  })
})

describe('a villager in a town without a merchant (real peers)', function () {
  this.timeout(60_000)
  let town: TestTown | undefined
  let merchant: MerchantService | undefined
  afterEach(async () => {
    await merchant?.stop()
    await town?.stop()
  })

  it('waits once for a merchant, then says so at once; a merchant that comes is found', async () => {
    town = await new TestTown().start({ villagers: [{ name: 'alice', occupation: 'farmer' }] })
    const alice = town.get('alice')
    const code = async (p: Promise<unknown>): Promise<string> => p.then(() => 'ok', (err) => err.code)
    const before = structuredClone(alice.service.villager)
    // two callers at once (an agent's look at the prices, a buy) share one wait
    expect(await Promise.all([code(alice.service.prices()), code(alice.service.trade('buy', 'seed', 1))])).to.deep.equal(['NO_MERCHANT', 'NO_MERCHANT'])
    expect(alice.service.merchantWaits).to.equal(1)
    // once it ran out, the next callers are told without another wait
    expect(await code(alice.service.prices())).to.equal('NO_MERCHANT')
    expect(await code(alice.service.trade('sell', 'seed', 1))).to.equal('NO_MERCHANT')
    expect(alice.service.merchantWaits).to.equal(1)
    expect(alice.service.villager).to.deep.equal(before)

    const peer = await town.pool.create({ town: town.town, bootstrap: [town.bootstrapAddr] })
    merchant = createMerchant(peer)
    await merchant.start()
    await alice.peer.libp2p.dial(peer.libp2p.getMultiaddrs()[0]!)
    await waitFor(async () => alice.service.prices().then(() => true, () => false), 20_000, 'alice finds the merchant')
    expect((await alice.service.trade('buy', 'seed', 1)).villager.items.seed).to.equal((before!.items.seed ?? 0) + 1)
    expect(alice.service.merchantWaits).to.equal(1)
  })

  it('a newcomer to a town under way does not wait for a merchant in its first moments (its turn, and the town, would wait with it)', async () => {
    town = await new TestTown().start({ villagers: [{ name: 'alice', occupation: 'farmer' }], merchantWaitMs: 30_000 })
    const alice = town.get('alice')
    await alice.service.act('idle')
    await waitFor(() => alice.service.clock?.state?.prev != null, 10_000, 'alice\'s town to complete a period')
    const ben = await town.addVillager('ben', 'chef')
    await waitFor(() => ben.service.clock?.state?.prev != null && town!.members(ben).includes('alice'), 20_000, 'ben to take up alice\'s town')
    const refused = await ben.service.prices().then(() => 'ok', (err) => err.code)
    expect(refused).to.equal('NO_MERCHANT')
    expect(ben.service.merchantWaits).to.equal(0)
  })

  it('past its first moments never waits for a merchant (an agent reads the prices every turn), and finds one that comes', async () => {
    // no first moments at all: what a villager that has run a while sees
    town = await new TestTown().start({ villagers: [{ name: 'alice', occupation: 'farmer' }], merchantWaitMs: 0 })
    const alice = town.get('alice')
    const code = async (p: Promise<unknown>): Promise<string> => p.then(() => 'ok', (err) => err.code)
    for (let i = 0; i < 3; i++) {
      expect(await Promise.all([code(alice.service.prices()), code(alice.service.trade('buy', 'seed', 1))])).to.deep.equal(['NO_MERCHANT', 'NO_MERCHANT'])
    }
    expect(alice.service.merchantWaits).to.equal(0)

    const peer = await town.pool.create({ town: town.town, bootstrap: [town.bootstrapAddr] })
    merchant = createMerchant(peer)
    await merchant.start()
    await alice.peer.libp2p.dial(peer.libp2p.getMultiaddrs()[0]!)
    await waitFor(async () => alice.service.prices().then(() => true, () => false), 20_000, 'alice finds the merchant')
    expect(alice.service.merchantWaits).to.equal(0)
  })
})
