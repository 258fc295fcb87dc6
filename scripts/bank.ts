/**
 * `npm run bank`: the long bank test. Every villager is its own OS process; random
 * trades run through their control APIs while villagers are killed with SIGKILL at
 * random moments (no chance to settle) and restarted from their data dirs. At the
 * end every trade must be settled the same way on both sides, and the coins and
 * items of all villagers must add up to what they started with.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Command, InvalidArgumentError } from 'commander'
import { Supervisor, type ManagedProcess } from './lib/supervisor.js'

function positiveInt (v: string): number {
  const n = Number(v)
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer')
  return n
}

const opts = new Command('npm run bank --')
  .option('--villagers <n>', 'villager processes', positiveInt, 6)
  .option('--trades <n>', 'trades to attempt', positiveInt, 600)
  .option('--concurrency <n>', 'trades in flight', positiveInt, 12)
  .option('--kill-every <ms>', 'SIGKILL a random villager this often', positiveInt, 2_000)
  .option('--seed <n>', 'random seed', positiveInt, 7)
  .option('--verbose', 'show every peer log line')
  .parse(process.argv)
  .opts<{ villagers: number, trades: number, concurrency: number, killEvery: number, seed: number, verbose?: boolean }>()

let state = opts.seed >>> 0
function random (): number {
  state = (state + 0x6D2B79F5) >>> 0
  let t = state
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]!

interface Villager { name: string, dataDir: string, port: number, url: string, proc?: ManagedProcess, alive: boolean }

async function api (v: Villager, method: string, route: string, body?: unknown): Promise<any> {
  const res = await fetch(v.url + route, {
    method,
    headers: body == null ? {} : { 'content-type': 'application/json' },
    body: body == null ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(5_000)
  })
  const json: any = await res.json()
  if (!res.ok) throw Object.assign(new Error(json.error?.message ?? res.statusText), { code: json.error?.code })
  return json
}

async function until (what: string, check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    try { if (await check()) return true } catch { /* down or refusing: try again */ }
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  void what
  return false
}

const root = await mkdtemp(path.join(tmpdir(), 'meshtown-bank-'))
const supervisor = new Supervisor((name, line, stream) => {
  if (opts.verbose === true || (stream === 'stderr' && /ERROR/.test(line))) console.log(`[${name}] ${line}`)
})
let failures = 0
const town = 'bank'
try {
  const boot = supervisor.start('bootstrap', ['bootstrap', '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', path.join(root, 'boot'), '--addrs-file', path.join(root, 'addrs')])
  const [bootAddr] = await boot.waitForLine(/^\/ip4\/127\.0\.0\.1\/.*$/)
  const merchant = supervisor.start('merchant', ['merchant', '--town', town, '--listen', '/ip4/127.0.0.1/tcp/0', '--bootstrap', bootAddr!, '--data-dir', path.join(root, 'merchant')])
  await merchant.waitForLine(/Prices/)
  const occupations = ['farmer', 'chef', 'carpenter']
  const villagers: Villager[] = Array.from({ length: opts.villagers }, (_, i) => ({ name: `v${i + 1}`, dataDir: path.join(root, `v${i + 1}`), port: 0, url: '', alive: false }))

  const launch = async (v: Villager, first: boolean): Promise<void> => {
    const args = ['villager', '--town', town, '--listen', '/ip4/127.0.0.1/tcp/0', '--bootstrap', bootAddr!, '--data-dir', v.dataDir, '--api-port', String(v.port), '--evict-after', '3600000']
    if (first) args.push('--name', v.name, '--occupation', occupations[villagers.indexOf(v) % 3]!)
    v.proc = supervisor.start(v.name, args)
    const [, url] = await v.proc.waitForLine(/control API: (http:\/\/\S+)/)
    v.url = url!
    v.port = Number(new URL(v.url).port)
    v.alive = true
  }
  for (const v of villagers) await launch(v, true)
  console.log(`${villagers.length} villager processes up; stocking up from the merchant`)
  for (const v of villagers) {
    await until('merchant', async () => { await api(v, 'POST', '/action/buy', { item: 'seed', quantity: 12 }); return true }, 30_000)
    await api(v, 'POST', '/action/buy', { item: 'wood', quantity: 8 })
  }
  await until('membership', async () => {
    for (const v of villagers) if ((await api(v, 'GET', '/status')).members.length !== villagers.length) return false
    return true
  }, 30_000)
  const sums = async (): Promise<Record<string, number>> => {
    const total: Record<string, number> = { coins: 0 }
    for (const v of villagers) {
      const s = await api(v, 'GET', '/villager')
      total.coins! += s.coins
      for (const [item, n] of Object.entries(s.items as Record<string, number>)) total[item] = (total[item] ?? 0) + n
    }
    return total
  }
  const start = await sums()
  console.log('start sums', JSON.stringify(start))

  let attempted = 0
  let kills = 0
  const oneTrade = async (): Promise<void> => {
    const alive = villagers.filter(v => v.alive)
    if (alive.length < 2) return
    const a = pick(alive)
    const b = pick(alive.filter(v => v !== a))
    let trade: any
    try {
      trade = await api(a, 'POST', '/trade/request', {
        target: b.name, item: pick(['seed', 'wood']), quantity: 1 + Math.floor(random() * 3), price: 1 + Math.floor(random() * 3),
        action: random() < 0.5 ? 'buy' : 'sell', expires_in: 6
      })
    } catch { return }
    const acceptIt = random() < 0.85
    const confirmIt = random() < 0.85
    if (!await until('received', async () => (await api(b, 'GET', '/trades')).some((t: any) => t.id === trade.id), 2_000)) return
    try { await api(b, 'POST', acceptIt ? '/trade/accept' : '/trade/reject', { trade_id: trade.id }) } catch { return }
    if (!acceptIt) return
    if (!await until('accepted', async () => (await api(a, 'GET', '/mytrades')).some((t: any) => t.id === trade.id && t.status === 'accepted'), 2_000)) return
    try { await api(a, 'POST', confirmIt ? '/trade/confirm' : '/trade/cancel', { trade_id: trade.id }) } catch { /* killed mid-step: the journals settle it */ }
  }
  let running = true
  const chaos = (async () => {
    while (running) {
      await new Promise(resolve => setTimeout(resolve, opts.killEvery * (0.5 + random())))
      if (!running) break
      const alive = villagers.filter(v => v.alive)
      if (alive.length <= 2) continue
      const victim = pick(alive)
      victim.alive = false
      victim.proc!.child.kill('SIGKILL')
      await victim.proc!.exited
      kills++
      await new Promise(resolve => setTimeout(resolve, 200 + random() * 800))
      await launch(victim, false)
    }
  })()
  await Promise.all(Array.from({ length: opts.concurrency }, async () => {
    while (attempted < opts.trades) {
      const n = ++attempted
      await oneTrade()
      if (n % 100 === 0) console.log(`${n} trades attempted, ${kills} villagers killed so far`)
    }
  }))
  running = false
  await chaos
  console.log('trading done; waiting for every trade to settle')
  const settled = await until('settled', async () => {
    for (const v of villagers) {
      const all = [...await api(v, 'GET', '/trades'), ...await api(v, 'GET', '/mytrades')]
      if (all.some((t: any) => ['proposed', 'received', 'accepted', 'confirming'].includes(t.status) || t.delivered !== true)) return false
    }
    return true
  }, 120_000)
  if (!settled) { console.log('FAIL: some trades never settled'); failures++ }
  const journal = new Map<string, Record<string, string>>()
  let committed = 0
  for (const v of villagers) {
    for (const t of [...await api(v, 'GET', '/trades'), ...await api(v, 'GET', '/mytrades')]) {
      const key = `${t.initiator}/${t.id}`
      journal.set(key, { ...journal.get(key), [t.role]: t.status })
    }
  }
  for (const [key, sides] of journal) {
    if (sides.initiator === 'committed') committed++
    if (sides.counterparty != null && (sides.initiator === 'committed') !== (sides.counterparty === 'committed')) {
      console.log(`FAIL: trade ${key} settled differently: ${JSON.stringify(sides)}`)
      failures++
    }
  }
  const end = await sums()
  console.log('end sums  ', JSON.stringify(end))
  for (const key of Object.keys(start)) {
    if (start[key] !== end[key]) { console.log(`FAIL: ${key} not conserved: ${start[key]} -> ${end[key]}`); failures++ }
  }
  console.log(`\n${attempted} trades attempted, ${journal.size} recorded, ${committed} committed, ${kills} villagers SIGKILLed and restarted`)
  console.log(failures === 0 ? 'every trade settled on both sides alike; coins and items conserved' : `${failures} invariant(s) broken`)
} finally {
  await supervisor.stopAll()
  await rm(root, { recursive: true, force: true })
}
process.exitCode = failures === 0 ? 0 : 1
