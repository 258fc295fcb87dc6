/**
 * The baseline: the classic design Meshtown replaces, small and faithful. One
 * central HTTP time coordinator. Villagers register, POST their period's action;
 * time advances when every member has submitted; villagers learn it by polling
 * GET /time or by long-polling GET /wait. Trades are relayed through it: the
 * initiator POSTs a request, the counterparty learns it from its event feed
 * (long-poll), accepts, the initiator confirms, and the coordinator moves the
 * goods in one step. Every state change is appended to a journal and
 * fdatasync'ed before the answer (as durable as a Meshtown villager's write).
 *
 *   node --import tsx scripts/bench/baseline/coordinator.ts --journal FILE [--no-sync]
 */
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { randomBytes } from 'node:crypto'
import { emit, onCommands, parseArgs } from '../lib/child.js'

const args = parseArgs(process.argv.slice(2))
const durable = args['no-sync'] !== 'true'
const journal = openSync(args.journal!, 'a')
const START_INDEX = 3 // day 1 morning, as Meshtown counts (day * 3 + period)

interface Holdings { coins: number, seed: number }
interface Trade { id: string, from: string, to: string, side: 'buy' | 'sell', quantity: number, price: number, status: 'proposed' | 'accepted' | 'committed' | 'rejected' }
interface Feed { seq: number, events: Array<{ seq: number, [k: string]: unknown }>, waiters: Array<() => void> }

const members = new Map<string, Holdings>()
const pendingJoins = new Set<string>()
const submitted = new Set<string>()
let index = START_INDEX
let completed = 0
let timeWaiters: Array<() => void> = []
const trades = new Map<string, Trade>()
const feeds = new Map<string, Feed>()

function record (entry: unknown): void {
  writeSync(journal, JSON.stringify(entry) + '\n')
  if (durable) fdatasyncSync(journal)
}

function feed (name: string): Feed {
  let f = feeds.get(name)
  if (f == null) { f = { seq: 0, events: [], waiters: [] }; feeds.set(name, f) }
  return f
}

function push (name: string, event: Record<string, unknown>): void {
  const f = feed(name)
  f.events.push({ ...event, seq: ++f.seq })
  const w = f.waiters
  f.waiters = []
  for (const wake of w) wake()
}

function advance (): void {
  index++
  completed++
  submitted.clear()
  for (const j of pendingJoins) members.set(j, members.get(j) ?? { coins: 100, seed: 0 })
  pendingJoins.clear()
  const w = timeWaiters
  timeWaiters = []
  for (const wake of w) wake()
}

function time (): Record<string, unknown> {
  return { index, members: members.size, submitted: submitted.size }
}

async function body (req: IncomingMessage): Promise<any> {
  let data = ''
  for await (const chunk of req) data += chunk
  return data === '' ? {} : JSON.parse(data)
}

function send (res: ServerResponse, status: number, json: unknown): void {
  const payload = JSON.stringify(json)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) })
  res.end(payload)
}

const server = createServer((req, res) => {
  void handle(req, res).catch((err: any) => { send(res, 500, { error: String(err?.message ?? err) }) })
})
server.keepAliveTimeout = 60_000

async function handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://x')
  const route = `${req.method} ${url.pathname}`
  switch (route) {
    case 'POST /register': {
      const { name } = await body(req)
      if (members.has(name)) return send(res, 200, { ...time(), member: true })
      // while the town forms (nobody has acted yet) a newcomer is a founder; later it joins at the next boundary
      if (index === START_INDEX && submitted.size === 0 && completed === 0) members.set(name, { coins: 100, seed: 0 })
      else pendingJoins.add(name)
      record({ op: 'register', name })
      return send(res, 200, { ...time(), member: members.has(name) })
    }
    case 'GET /time':
      return send(res, 200, time())
    case 'GET /wait': {
      const after = Number(url.searchParams.get('after'))
      if (index > after) return send(res, 200, time())
      const timer = setTimeout(() => { timeWaiters = timeWaiters.filter(w => w !== wake); send(res, 200, time()) }, 25_000)
      const wake = (): void => { clearTimeout(timer); send(res, 200, time()) }
      timeWaiters.push(wake)
      req.on('close', () => { if (!res.writableEnded) { clearTimeout(timer); timeWaiters = timeWaiters.filter(w => w !== wake) } })
      return
    }
    case 'POST /action': {
      const { name, index: at, action } = await body(req)
      if (!members.has(name)) return send(res, 409, { error: 'NOT_A_MEMBER', ...time() })
      if (at !== index) return send(res, 409, { error: 'WRONG_PERIOD', ...time() })
      if (submitted.has(name)) return send(res, 409, { error: 'ALREADY_VOTED', ...time() })
      record({ op: 'action', name, index, action })
      submitted.add(name)
      if (submitted.size === members.size) advance()
      return send(res, 200, time())
    }
    case 'POST /endow': {
      const { name, coins, seed } = await body(req)
      const h = members.get(name)
      if (h == null) return send(res, 409, { error: 'NOT_A_MEMBER' })
      h.coins += coins ?? 0
      h.seed += seed ?? 0
      record({ op: 'endow', name, coins, seed })
      return send(res, 200, h)
    }
    case 'POST /trade/request': {
      const { from, to, side, quantity, price } = await body(req)
      if (!members.has(from) || !members.has(to) || from === to) return send(res, 422, { error: 'UNKNOWN_VILLAGER' })
      const t: Trade = { id: randomBytes(8).toString('base64url'), from, to, side, quantity, price, status: 'proposed' }
      trades.set(t.id, t)
      record({ op: 'trade', t })
      push(to, { type: 'proposed', id: t.id, from, side, quantity, price })
      return send(res, 200, { id: t.id, status: t.status })
    }
    case 'POST /trade/accept': {
      const { name, id } = await body(req)
      const t = trades.get(id)
      if (t == null || t.to !== name || t.status !== 'proposed') return send(res, 409, { error: 'WRONG_STATE' })
      t.status = 'accepted'
      record({ op: 'accept', id })
      push(t.from, { type: 'accepted', id })
      return send(res, 200, { id, status: t.status })
    }
    case 'POST /trade/confirm': {
      const { name, id } = await body(req)
      const t = trades.get(id)
      if (t == null || t.from !== name || t.status !== 'accepted') return send(res, 409, { error: 'WRONG_STATE' })
      // the buyer pays, the seller hands over the item: all or nothing, here
      const buyer = members.get(t.side === 'buy' ? t.from : t.to)!
      const seller = members.get(t.side === 'buy' ? t.to : t.from)!
      const cost = t.quantity * t.price
      if (buyer.coins < cost || seller.seed < t.quantity) {
        t.status = 'rejected'
        record({ op: 'reject', id })
        push(t.to, { type: 'rejected', id })
        return send(res, 200, { id, status: t.status })
      }
      buyer.coins -= cost; seller.coins += cost
      seller.seed -= t.quantity; buyer.seed += t.quantity
      t.status = 'committed'
      record({ op: 'commit', id })
      push(t.to, { type: 'committed', id })
      trades.delete(id)
      return send(res, 200, { id, status: t.status })
    }
    case 'GET /events': {
      const name = url.searchParams.get('name')!
      const after = Number(url.searchParams.get('after') ?? 0)
      const f = feed(name)
      f.events = f.events.filter(e => e.seq > after)
      if (f.events.length > 0) return send(res, 200, { events: f.events })
      const timer = setTimeout(() => { f.waiters = f.waiters.filter(w => w !== wake); send(res, 200, { events: [] }) }, 25_000)
      const wake = (): void => { clearTimeout(timer); send(res, 200, { events: f.events.filter(e => e.seq > after) }) }
      f.waiters.push(wake)
      req.on('close', () => { if (!res.writableEnded) { clearTimeout(timer); f.waiters = f.waiters.filter(w => w !== wake) } })
      return
    }
    default:
      return send(res, 404, { error: 'NOT_FOUND' })
  }
}

server.listen(0, '127.0.0.1', () => {
  const addr = server.address() as { port: number }
  emit({ ev: 'ready', url: `http://127.0.0.1:${addr.port}`, rss: process.memoryUsage().rss })
})

onCommands((cmd) => {
  if (cmd.cmd === 'report') emit({ ev: 'report', rss: process.memoryUsage().rss, cpu: process.cpuUsage(), index, completed, members: members.size })
}, () => { server.closeAllConnections(); server.close(); closeSync(journal) })
