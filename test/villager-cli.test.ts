import { expect } from 'chai'
import { networkInterfaces } from 'node:os'
import path from 'node:path'
import { startControlApi, isLoopback } from '../src/town/control-api.js'
import { CliProcess } from './helpers/cli.js'
import { PeerPool, waitFor } from './helpers/peers.js'

interface Api { url: string }

async function call (api: Api, method: string, route: string, body?: unknown): Promise<{ status: number, json: any }> {
  const res = await fetch(api.url + route, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
  })
  return { status: res.status, json: await res.json() }
}

describe('meshtown villager and its control API (real processes)', function () {
  this.timeout(120_000)
  const pool = new PeerPool()
  const procs: CliProcess[] = []
  const start = (args: string[]): CliProcess => { const p = new CliProcess(args); procs.push(p); return p }
  afterEach(async () => {
    await Promise.all(procs.splice(0).map(async p => { p.kill(); await p.exited }))
    await pool.cleanup()
  })

  async function villager (dir: string, boot: string, ...args: string[]): Promise<{ proc: CliProcess, api: Api }> {
    const proc = start(['villager', '--town', 'apitown', '--listen', '/ip4/127.0.0.1/tcp/0', '--bootstrap', boot, '--data-dir', dir, ...args])
    const [, url] = await proc.waitForOutput(/control API: (http:\/\/127\.0\.0\.1:\d+)/)
    return { proc, api: { url: url! } }
  }

  it('plays a period through the API with the older REST shapes, survives a restart, and refuses bad requests', async () => {
    const root = await pool.dir()
    const boot = start(['bootstrap', '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', path.join(root, 'boot'), '--addrs-file', path.join(root, 'addrs')])
    const [bootAddr] = await boot.waitForOutput(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\S+$/m)
    const merchant = start(['merchant', '--town', 'apitown', '--listen', '/ip4/127.0.0.1/tcp/0', '--bootstrap', bootAddr!, '--data-dir', path.join(root, 'merchant')])
    await merchant.waitForOutput(/Prices/)

    // alice is created from flags; bob through POST /villager like the older REST API
    const alice = await villager(path.join(root, 'alice'), bootAddr!, '--name', 'alice', '--occupation', 'farmer')
    // bob floods his votes himself (--no-vote-relay): a town of two has no relay anyway, and the flag reaches the clock
    const bob = await villager(path.join(root, 'bob'), bootAddr!, '--no-vote-relay')
    expect((await call(bob.api, 'GET', '/villager')).status).to.equal(404)
    const created = await call(bob.api, 'POST', '/villager', { name: 'Bob', occupation: 'chef', gender: 'male', personality: 'hardworking' })
    expect(created.status).to.equal(201)
    expect(created.json).to.include({ name: 'Bob', occupation: 'chef', coins: 100, stamina: 100 })
    expect((await call(bob.api, 'POST', '/villager', { name: 'Bob2', occupation: 'chef' })).json.error.code).to.equal('ALREADY_CREATED')

    // bob founded alone and acts first only after alice is a member too
    await waitFor(async () => (await call(alice.api, 'GET', '/status')).json.members?.length === 2 && (await call(bob.api, 'GET', '/status')).json.members?.length === 2, 30_000, 'both members')
    await waitFor(async () => (await call(alice.api, 'GET', '/prices')).status === 200, 30_000, 'merchant reachable')
    const prices = (await call(alice.api, 'GET', '/prices')).json
    expect(prices.sells.seed).to.be.a('number')

    // the older design's merchant endpoint, then the period's action
    const bought = await call(alice.api, 'POST', '/action/trade', { target: 'merchant', item: 'seed', quantity: 10 })
    expect(bought.status, JSON.stringify(bought.json)).to.equal(200)
    expect(bought.json.villager.items.seed).to.equal(10)
    expect(bought.json.villager.coins).to.equal(100 - 10 * prices.sells.seed)
    const sold = await call(bob.api, 'POST', '/action/trade', { target: 'merchant', item: 'wheat', quantity: 1, action: 'sell' })
    expect(sold.json.error.code).to.equal('NOT_ENOUGH_ITEMS')
    const produced = await call(alice.api, 'POST', '/action/produce')
    expect(produced.status).to.equal(200)
    expect(produced.json.villager.items.wheat).to.equal(5)
    const twice = await call(alice.api, 'POST', '/action/produce')
    expect(twice.status).to.equal(409)
    expect(twice.json.error.code).to.equal('ALREADY_VOTED')
    expect(twice.json.error.message).to.match(/waiting for Bob/)
    const status = (await call(alice.api, 'GET', '/status')).json
    expect(status.awaiting).to.deep.equal(['Bob'])
    expect(status.relay).to.deep.equal({ enabled: true, member: null, held: 0, handed: 0, fallbacks: 0, timeouts: 0 })
    expect((await call(bob.api, 'GET', '/status')).json.relay).to.include({ enabled: false, member: null })
    expect(status.members.find((m: any) => m.name === 'alice').voted).to.equal(true)
    const noInputs = await call(bob.api, 'POST', '/action/produce')
    expect(noInputs.status).to.equal(422)
    expect(noInputs.json.error.code).to.equal('MISSING_INPUTS')
    expect((await call(bob.api, 'POST', '/action/idle')).status).to.equal(200)
    await waitFor(async () => (await call(alice.api, 'GET', '/time')).json.period === 'noon', 10_000, 'noon')
    expect((await call(bob.api, 'GET', '/time')).json).to.include({ day: 1, period: 'noon', member: true, voted: false })

    // bad requests: each a clear error, nothing changed
    let before = (await call(alice.api, 'GET', '/villager')).json
    const bad: Array<[string, string, unknown, number, string]> = [
      ['POST', '/action/buy', '{not json', 400, 'INVALID_JSON'],
      ['POST', '/action/buy', { item: 'gold', quantity: 1 }, 400, 'INVALID_REQUEST'],
      ['POST', '/action/buy', { item: 'seed', quantity: -3 }, 400, 'INVALID_REQUEST'],
      ['POST', '/action/buy', { item: 'seed', quantity: 1e9 }, 400, 'INVALID_REQUEST'],
      ['POST', '/action/sell', { item: 'seed', quantity: 1 }, 422, 'NOT_BOUGHT'],
      ['POST', '/action/buy', { item: 'wood', quantity: 1000 }, 422, 'NOT_ENOUGH_COINS'],
      ['POST', '/action/eat', { quantity: 1 }, 422, 'NOTHING_TO_EAT'],
      ['POST', '/action/trade', { target: 'bob', item: 'seed', quantity: 1 }, 400, 'INVALID_REQUEST'],
      ['GET', '/nowhere', undefined, 404, 'NOT_FOUND'],
      ['GET', '/action/produce', undefined, 405, 'METHOD_NOT_ALLOWED'],
      ['POST', '/villager', 'x'.repeat(70_000), 413, 'BODY_TOO_LARGE']
    ]
    for (const [method, route, body, code, errorCode] of bad) {
      const r = await call(alice.api, method, route, body)
      expect(r.status, `${method} ${route}`).to.equal(code)
      expect(r.json.error.code, `${method} ${route}`).to.equal(errorCode)
      expect(r.json.error.message).to.be.a('string').and.not.empty
    }
    expect((await call(alice.api, 'GET', '/villager')).json).to.deep.equal(before)

    // a trade between villagers through both APIs, in the older request shape
    const req = await call(alice.api, 'POST', '/trade/request', { target: 'Bob', item: 'seed', quantity: 2, price: 4, action: 'sell' })
    expect(req.status, JSON.stringify(req.json)).to.equal(200)
    const tradeId = req.json.id
    await waitFor(async () => (await call(bob.api, 'GET', '/trades')).json.some((t: any) => t.id === tradeId), 10_000, 'bob sees the request')
    expect((await call(bob.api, 'POST', '/trade/accept', { trade_id: tradeId })).json.status).to.equal('accepted')
    await waitFor(async () => (await call(alice.api, 'GET', '/mytrades')).json[0].status === 'accepted', 10_000, 'alice sees the accept')
    expect((await call(alice.api, 'POST', '/trade/confirm', { trade_id: tradeId })).json.status).to.equal('committed')
    await waitFor(async () => (await call(bob.api, 'GET', '/trades')).json[0].status === 'committed', 10_000, 'bob commits')
    expect((await call(bob.api, 'GET', '/villager')).json.items.seed).to.equal(2)
    expect((await call(alice.api, 'POST', '/trade/request', { target: 'alice', item: 'seed', quantity: 1, price: 1 })).json.error.code).to.equal('SELF_TRADE')
    expect((await call(alice.api, 'POST', '/trade/request', { target: 'nobody', item: 'seed', quantity: 1, price: 1 })).json.error.code).to.equal('UNKNOWN_VILLAGER')
    expect((await call(alice.api, 'POST', '/trade/accept', {})).json.error.code).to.equal('INVALID_REQUEST')
    expect((await call(alice.api, 'POST', '/trade/confirm', { trade_id: 'nope' })).status).to.equal(404)
    // messages
    expect((await call(alice.api, 'POST', '/messages/send', { target: 'Bob', message: 'thanks for the coins' })).status).to.equal(200)
    const bobInbox = (await call(bob.api, 'GET', '/messages')).json
    expect(bobInbox[0]).to.include({ kind: 'private', fromName: 'alice', text: 'thanks for the coins' })

    // restart alice from her data dir: same villager, same belongings, still a member
    before = (await call(alice.api, 'GET', '/villager')).json
    expect(await alice.proc.interrupt()).to.equal(0)
    const again = await villager(path.join(root, 'alice'), bootAddr!)
    expect((await call(again.api, 'GET', '/villager')).json).to.deep.equal(before)
    await waitFor(async () => (await call(again.api, 'GET', '/time')).json.period === 'noon', 20_000, 'alice back at noon')
    // a data dir holds one villager: another name is refused clearly
    await again.proc.interrupt()
    const wrong = start(['villager', '--town', 'apitown', '--listen', '/ip4/127.0.0.1/tcp/0', '--bootstrap', bootAddr!, '--data-dir', path.join(root, 'alice'), '--name', 'zed', '--occupation', 'chef'])
    expect(await wrong.waitForExit()).to.equal(2)
    expect(wrong.stderr).to.match(/holds villager alice, not zed/)
  })

  it('refuses bad villager flags with one line', async () => {
    const root = await pool.dir()
    const cases: Array<[string[], RegExp]> = [
      [['--name', 'x'], /--name needs --occupation/],
      [['--name', 'x', '--occupation', 'wizard'], /argument 'wizard' is invalid/],
      [['--name', 'bad name!', '--occupation', 'chef'], /name/],
      [['--name', 'x', '--occupation', 'chef', '--api-port', '99999'], /port number/],
      [['--no-data-dir'], /give --name/]
    ]
    for (const [args, pattern] of cases) {
      const dataDir = args[0] === '--no-data-dir' ? [] : ['--data-dir', path.join(root, String(procs.length))]
      const p = start(['villager', '--town', 't', '--bootstrap', '/ip4/127.0.0.1/tcp/1/p2p/12D3KooWCrP8r4aRvDhXEq1UMpvJVsmXgkjvWcD9Qh1mmXm6TexV', ...dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--bootstrap-retries', '0', ...args.filter(a => a !== '--no-data-dir')])
      expect(await p.waitForExit(), args.join(' ')).to.equal(2)
      expect(p.stderr, args.join(' ')).to.match(pattern)
    }
  })

  it('the control API answers only loopback', async function () {
    expect(isLoopback('127.0.0.1')).to.equal(true)
    expect(isLoopback('::1')).to.equal(true)
    expect(isLoopback('::ffff:127.0.0.1')).to.equal(true)
    expect(isLoopback('10.0.0.5')).to.equal(false)
    expect(isLoopback('::ffff:192.168.1.2')).to.equal(false)
    const external = Object.values(networkInterfaces()).flat().find(i => i != null && i.family === 'IPv4' && !i.internal)
    if (external == null) this.skip()
    // bound on every interface on purpose, to show the refusal does not depend on the bind address
    const api = await startControlApi({ 'GET /health': () => ({ ok: true }) }, 0, '0.0.0.0')
    try {
      const viaLoopback = await fetch(`http://127.0.0.1:${api.port}/health`)
      expect(viaLoopback.status).to.equal(200)
      const viaLan = await fetch(`http://${external!.address}:${api.port}/health`)
      expect(viaLan.status).to.equal(403)
      expect(((await viaLan.json()) as any).error.code).to.equal('NOT_LOOPBACK')
    } finally {
      await api.close()
    }
  })
})
