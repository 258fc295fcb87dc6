/**
 * The live town dashboard, end to end, in a real headless browser: a town of
 * real peers (bootstrap, merchant, three villagers publishing their status), a
 * werewolf room, and `meshtown observe` as its own process serving the page.
 * The page must follow, pushed and without a reload: the period changing, a
 * trade and its states, a partition and its healing, a newcomer, and the
 * room's public messages (never a private one). Screenshots are kept in
 * test-artifacts/.
 *
 * Needs Debian's chromium (/usr/bin/chromium) and the playwright-core package,
 * which drives it without downloading a browser of its own; without them the
 * test skips and says why.
 */
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { expect } from 'chai'
import { createRoomDecider } from '../src/agents/room-agents.js'
import type { MeshPeer } from '../src/node/peer.js'
import { OBSERVER_GOSSIPSUB_OPTIONS } from '../src/observer/index.js'
import { newRoomId } from '../src/protocols/room/index.js'
import { startPeerStatus, startVillagerStatus, type TownStatusPublisher } from '../src/protocols/town-status/index.js'
import type { RoomDecider } from '../src/rooms/actions.js'
import { readRoomConfigFile } from '../src/rooms/config.js'
import { LocalRoom } from '../src/rooms/local-room.js'
import { CliProcess } from './helpers/cli.js'
import { PeerPool, waitFor } from './helpers/peers.js'
import { TestTown, type TestVillager } from './helpers/town.js'

/** Debian's chromium; $MESHTOWN_CHROMIUM names another binary. */
const CHROMIUM = process.env.MESHTOWN_CHROMIUM ?? '/usr/bin/chromium'
const ARTIFACTS = path.resolve('test-artifacts')
const STATUS_EVERY_MS = 500

type Page = import('playwright-core').Page
type BrowserContext = import('playwright-core').BrowserContext

describe('dashboard: `meshtown observe` in a real headless browser', function () {
  this.timeout(180_000)
  let playwright: typeof import('playwright-core') | undefined
  const pool = new PeerPool()
  let town: TestTown | undefined
  let room: LocalRoom | undefined
  let observer: CliProcess | undefined
  let context: BrowserContext | undefined
  const publishers: TownStatusPublisher[] = []

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      console.log(`      skipped: ${CHROMIUM} is not installed (apt-get install -y chromium)`)
      this.skip()
    }
    try {
      playwright = await import('playwright-core')
    } catch {
      console.log('      skipped: the playwright-core package is not installed (npm install)')
      this.skip()
    }
  })

  afterEach(async function () {
    // a failure leaves the page as it was and what the server held, to look at
    if (this.currentTest?.state !== 'failed' || context == null) return
    const page = context.pages()[0]
    await mkdir(ARTIFACTS, { recursive: true })
    await page?.screenshot({ path: path.join(ARTIFACTS, 'dashboard-failure.png'), fullPage: true }).catch(() => {})
    const state = await page?.evaluate(async () => await (await fetch('/api/state')).text()).catch(() => undefined)
    if (state != null) await writeFile(path.join(ARTIFACTS, 'dashboard-failure.json'), state)
    if (observer != null) await writeFile(path.join(ARTIFACTS, 'dashboard-failure-observer.log'), `${observer.stdout}\n--- stderr\n${observer.stderr}`)
  })

  after(async () => {
    await context?.close().catch(() => {})
    if (observer != null) { await observer.interrupt().catch(() => {}); observer.kill() }
    for (const p of publishers) await p.stop()
    await room?.stop()
    await town?.stop()
    await pool.cleanup()
  })

  /**
   * Every peer here runs on 127.0.0.1, and the observer links the town's DHT with
   * the room's, so a villager ends up with more than 10 connections from one
   * address: past that, gossipsub's IP-colocation score graylists all of them
   * (the clock stops too). createPeer does not exempt loopback yet; these peers do.
   */
  function exemptLoopback (p: PeerPool): PeerPool {
    const create = p.create.bind(p)
    p.create = async (o = {}) => await create({ ...o, gossipsub: { ...o.gossipsub, ...OBSERVER_GOSSIPSUB_OPTIONS } })
    return p
  }
  exemptLoopback(pool)

  /** The villager's status publisher, unless startVillagerNode already runs one. */
  async function publishStatus (v: TestVillager): Promise<void> {
    if ((v.node as any).status != null) return
    publishers.push(await startVillagerStatus(v.peer, { villager: v.service, trades: v.trades, intervalMs: STATUS_EVERY_MS }))
  }

  it('shows the period change, a trade and its states, a partition, a newcomer and a room, pushed live', async () => {
    // ---- a town: bootstrap, merchant, three villagers, all publishing their status
    town = new TestTown()
    exemptLoopback(town.pool)
    await town.start({
      town: 'dashtown',
      merchant: true,
      villagers: [{ name: 'alice', occupation: 'farmer' }, { name: 'bob', occupation: 'chef' }, { name: 'carol', occupation: 'carpenter' }]
    })
    await town.waitForMembers(['alice', 'bob', 'carol'])
    const [alice, bob, carol] = [town.get('alice'), town.get('bob'), town.get('carol')]
    for (const v of town.villagers) await publishStatus(v)
    publishers.push(await startPeerStatus(town.merchant!.peer, { town: town.town, role: 'merchant', intervalMs: STATUS_EVERY_MS }))

    // ---- a werewolf room whose agents wait until the observer is watching
    let openGate!: () => void
    const gate = { promise: new Promise<void>(resolve => { openGate = resolve }), resolve: () => { openGate() } }
    const base = await readRoomConfigFile(path.join(import.meta.dirname, '..', 'examples', 'werewolf.yaml'))
    const config = { ...base, limits: { ...base.limits, turn_timeout_ms: 30_000 } }
    const roomId = newRoomId()
    room = await LocalRoom.start({
      config,
      roomId,
      baseDir: await pool.dir(),
      createPeer: async o => await pool.create(o),
      decider: (name): RoomDecider => {
        const inner = createRoomDecider(config, name)
        return { label: inner.label, decide: async (view, options) => { await gate.promise; return await inner.decide(view, options) } }
      }
    })

    // ---- the observer: its own process, as a person would start it
    observer = new CliProcess(['observe', '--town', town.town, '--bootstrap', town.bootstrapAddr, '--bootstrap', room.bootstrap.addresses()[0]!,
      '--room', roomId, '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', await pool.dir(), '--http-port', '0', '--log-level', process.env.DASHBOARD_LOG_LEVEL ?? 'warn'])
    const [, url] = await observer.waitForOutput(/dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/, 30_000)
    const [, observerId] = await observer.waitForOutput(/^PeerId: (\S+)/m)

    // ---- the browser: Debian's chromium, a fresh profile
    const userDataDir = await pool.dir()
    context = await playwright!.chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1400, height: 1100 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync']
    })
    const page: Page = context.pages()[0] ?? await context.newPage()
    const problems: string[] = []
    page.on('console', m => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`) })
    page.on('pageerror', e => { problems.push(`page error: ${e.message}`) })
    let loads = 0
    page.on('load', () => { loads++ })
    await page.goto(url!)

    const text = async (selector: string): Promise<string> => (await page.locator(selector).allInnerTexts()).join('\n')
    const waitPage = async (what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> => {
      await waitFor(async () => { try { return await check() } catch { return false } }, ms, () => `the page to show ${what}`, 100)
    }
    const row = (name: string): ReturnType<Page['locator']> => page.locator(`#villagers tr[data-name="${name}"]`)

    // the town as it is: day 1 morning, three villagers with their occupations, everyone awaited
    await waitPage('day 1 morning', async () => (await text('#time-label')).includes('Day 1 · morning'))
    await waitPage('three villagers', async () => await page.locator('#villagers tr[data-name]').count() === 3)
    expect(await text('#villagers')).to.match(/alice\s*farmer/).and.match(/bob\s*chef/).and.match(/carol\s*carpenter/)
    await waitPage('everyone awaited', async () => (await text('[data-testid=awaiting]')).includes('Waiting for alice, bob, carol'))
    await waitPage('the live link', async () => (await text('#link')) === 'live')

    // ---- a villager's state changes: alice buys seed from the merchant
    await waitFor(async () => { try { await alice.service.trade('buy', 'seed', 5); return true } catch { return false } }, 20_000, 'alice buys seed')
    await waitPage('alice with 85 coins and 5 seed', async () =>
      (await row('alice').locator('[data-field=coins]').innerText()) === '85' && (await row('alice').locator('[data-field=items]').innerText()) === '5 seed')

    // ---- the period: alice acts, the page says whom it waits for; then the others act and time moves
    await alice.service.act('produce')
    await waitPage('alice voted, bob and carol awaited', async () => (await text('[data-testid=awaiting]')).includes('Waiting for bob, carol') &&
      await page.locator('#votes .chip.voted[data-name=alice]').count() === 1)
    await waitPage('alice\'s harvest', async () => (await row('alice').locator('[data-field=items]').innerText()) === '4 seed, 5 wheat')
    await bob.service.act('idle')
    await carol.service.act('idle')
    await waitPage('day 1 noon', async () => (await text('#time-label')).includes('Day 1 · noon'))
    await waitPage('everyone awaited again', async () => (await text('[data-testid=awaiting]')).includes('Waiting for alice, bob, carol'))

    // ---- a trade between two villagers, step by step
    const trade = await alice.trades.propose({ target: 'bob', side: 'sell', item: 'wheat', quantity: 5, unitPrice: 4 })
    const tradeRow = page.locator(`#trades li[data-trade="${trade.id}"]`)
    await waitPage('the proposed trade', async () => await tradeRow.count() === 1)
    expect(await tradeRow.innerText()).to.include('alice sells 5 wheat to bob at 4 (20 coins)')
    await waitFor(() => bob.trades.received().some(t => t.id === trade.id), 10_000, 'bob receives the proposal')
    await bob.trades.accept(trade.id)
    await waitPage('the trade accepted', async () => (await tradeRow.getAttribute('data-state')) === 'accepted')
    await waitFor(() => alice.trades.initiated().some(t => t.id === trade.id && t.status === 'accepted'), 10_000, 'alice hears the acceptance')
    await alice.trades.confirm(trade.id)
    await waitPage('the trade committed on both sides', async () => (await tradeRow.getAttribute('data-state')) === 'committed' &&
      (await tradeRow.locator('.sides').innerText()).startsWith('alice: committed · bob: committed'))
    await waitPage('bob with the wheat and 20 coins less', async () =>
      (await row('bob').locator('[data-field=coins]').innerText()) === '80' && (await row('bob').locator('[data-field=items]').innerText()) === '5 wheat')

    // ---- the town chat: a broadcast shows, a private message never does
    await alice.messaging.broadcast('Fresh wheat at the farm, ask alice')
    await bob.messaging.send('alice', 'psst: a secret between bob and alice')
    await waitPage('the broadcast', async () => (await text('#chat')).includes('alice: Fresh wheat at the farm, ask alice'))

    // ---- the room: public messages appear once the observer watches; private ones never
    await waitPage('the room found, every agent connected', async () => {
      const r = page.locator(`#rooms .room[data-room="${roomId}"]`)
      return await r.locator('.agent').count() === config.agents.length && await r.locator('.agent:not(.connected)').count() === 0
    }, 30_000)
    gate.resolve()
    await waitPage('public room messages', async () => await page.locator(`#rooms .room[data-room="${roomId}"] li.msg`).count() >= 4, 30_000)
    const shownIds = await page.locator(`#rooms .room[data-room="${roomId}"] li.msg`).evaluateAll(els => els.map(e => (e as any).dataset.id as string))
    const privateIds = new Set([...room.agents.values()].flatMap(a => a.agent.visibleMessages().filter(m => m.visibility === 'private').map(m => m.id)))
    const publicIds = new Set([...room.agents.values()].flatMap(a => a.agent.visibleMessages().filter(m => m.visibility === 'public').map(m => m.id)))
    for (const id of shownIds) {
      expect(privateIds.has(id), `private message ${id} on the page`).to.equal(false)
      expect(publicIds.has(id), `message ${id} on the page is a public message of the room`).to.equal(true)
    }
    const state = await (await page.request.get(`${url!}api/state`)).json()
    expect(JSON.stringify(state)).not.to.match(/privateKey|"visibility":"private"|a secret between/)
    expect(await page.locator('body').innerText()).not.to.include('a secret between')

    await mkdir(ARTIFACTS, { recursive: true })
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true })

    // ---- a partition: carol is cut off from everyone; the page shows her unheard and the missing links
    const others: MeshPeer[] = [alice.peer, bob.peer, town.merchant!.peer, town.pool.peers[0]!]
    for (const p of others) { await carol.peer.block(p.peerId); await p.block(carol.peer.peerId) }
    await carol.peer.block(observerId!)
    await waitPage('the partition', async () => (await text('#partition')) === 'partitioned' && (await text('#groups')).includes('side 2: carol'), 20_000)
    await waitPage('carol not heard', async () => (await row('carol').getAttribute('class'))?.includes('silent') === true)
    const net = (await (await page.request.get(`${url!}api/state`)).json()).network
    const missing = net.edges.filter((e: any) => e.kind === 'missing').map((e: any) => [e.source, e.target].sort().join('-'))
    expect(missing).to.include([alice.peer.peerId.toString(), carol.peer.peerId.toString()].sort().join('-'))
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-partition.png'), fullPage: true })

    // ---- healed: carol is heard again, one piece
    for (const p of [carol.peer, ...others]) p.heal()
    await waitPage('the town in one piece', async () => (await text('#partition')) === 'one piece', 30_000)
    await waitPage('carol heard again', async () => (await row('carol').getAttribute('class'))?.includes('silent') === false)

    // ---- a newcomer: dave appears, joins at the next boundary, and time moves on with him
    const dave = await town.addVillager('dave', 'farmer')
    await publishStatus(dave)
    await waitPage('dave on the page', async () => await row('dave').count() === 1, 20_000)
    for (const v of [alice, bob, carol]) await v.service.act('idle')
    await waitPage('day 1 evening with dave a member', async () => (await text('#time-label')).includes('Day 1 · evening') &&
      await page.locator('#votes .chip[data-name=dave]').count() === 1, 30_000)
    await alice.service.act('produce')
    await waitPage('alice\'s evening vote', async () => await page.locator('#votes .chip.voted[data-name=alice]').count() === 1 &&
      (await text('[data-testid=awaiting]')).includes('Waiting for bob, carol, dave'))
    await waitPage('dave in the graph', async () => (await (await page.request.get(`${url!}api/state`)).json()).network.nodes.some((n: any) => n.label === 'dave'))

    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true })
    expect(loads, 'the page was never reloaded').to.equal(1)
    expect(problems, 'no console errors or page errors (CSP included)').to.deep.equal([])
  })
})
