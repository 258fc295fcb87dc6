/**
 * A baseline villager: its own process, talking only to the central coordinator.
 * It acts the moment the period starts (like Meshtown's bench villagers) and
 * learns that time moved by polling GET /time every --poll-ms (a waiting CLI)
 * or, the strongest version, by long-polling GET /wait. It reports its timings
 * in the same shape as scripts/bench/mesh-node.ts.
 *
 *   node --import tsx scripts/bench/baseline/villager.ts --url URL --name v3 --mode poll|longpoll [--poll-ms 1000]
 */
import { emit, onCommands, parseArgs, sleep } from '../lib/child.js'
import { closedLoop } from '../lib/closed-loop.js'
import { nowMs } from '../lib/stats.js'
import { call, HttpError } from './http.js'

const processStart = performance.timeOrigin
const mainAt = nowMs()
const args = parseArgs(process.argv.slice(2))
const url = args.url!
const name = args.name!
const mode = args.mode ?? 'longpoll'
const pollMs = Number(args['poll-ms'] ?? 1_000)

const t: Record<string, number> = { processStart, main: mainAt, imported: mainAt }
const votes: Array<[number, number, number]> = []
const adv: Array<[number, number, number]> = []
let acting = false
let stopAt = 0
let pace = 0
let loop: Promise<void> | undefined
let index = 0
let member = false

async function register (): Promise<void> {
  for (let i = 0; i < 60; i++) {
    try {
      const r = await call(url, 'POST', '/register', { name })
      index = r.index
      member = r.member
      t.connected = nowMs()
      if (member) t.member = nowMs()
      emit({ ev: 'peer', name, member, index })
      return
    } catch { await sleep(500) }
  }
  throw new Error('coordinator unreachable')
}

/** Until the coordinator says time is past `at`. */
async function learnAfter (at: number): Promise<number> {
  while (acting) {
    try {
      if (mode === 'longpoll') {
        const r = await call(url, 'GET', `/wait?after=${at}`)
        if (r.index > at) return r.index
      } else {
        await sleep(pollMs)
        const r = await call(url, 'GET', '/time')
        if (r.index > at) return r.index
      }
    } catch {
      await sleep(1_000) // the coordinator is down: a CLI retries every second
    }
  }
  return at
}

async function run (): Promise<void> {
  while (acting) {
    if (index >= stopAt) { emit({ ev: 'reached', t: nowMs() }); break }
    if (pace > 0) await sleep(pace)
    const at = index
    const tAct = nowMs()
    let r: any
    try {
      r = await call(url, 'POST', '/action', { name, index: at, action: 'idle' })
      if (!member) { member = true; t.member ??= tAct }
      votes.push([at, tAct, tAct])
      if (t.firstVote == null) { t.firstVote = tAct; emit({ ev: 'first-vote', name, t: tAct }) }
    } catch (err) {
      if (err instanceof HttpError && err.status === 409) {
        // not a member yet, or the period moved on: wait for the next one
        r = err.body
        if (r.error === 'ALREADY_VOTED') r = { index: at }
        else if (r.index > at) { adv.push([at, r.index, nowMs()]); index = r.index; continue }
      } else {
        await sleep(1_000)
        continue
      }
    }
    // the last voter learns at once from its own answer; the others wait
    const next = r.index > at ? r.index : await learnAfter(at)
    if (next > at) adv.push([at, next, nowMs()])
    index = next
  }
}

// ---------------------------------------------------------------------------------------
// trades, relayed through the coordinator

const waiting = new Map<string, (ok: boolean) => void>()
let eventsLoop = false

async function events (): Promise<void> {
  if (eventsLoop) return
  eventsLoop = true
  let after = 0
  while (eventsLoop) {
    let r: any
    try { r = await call(url, 'GET', `/events?name=${name}&after=${after}`) } catch { await sleep(1_000); continue }
    for (const e of r.events) {
      after = Math.max(after, e.seq)
      if (e.type === 'proposed') {
        void call(url, 'POST', '/trade/accept', { name, id: e.id }).catch(() => {})
      } else if (e.type === 'accepted') {
        void call(url, 'POST', '/trade/confirm', { name, id: e.id }).then((c: any) => {
          waiting.get(e.id)?.(c.status === 'committed')
          waiting.delete(e.id)
        }, () => { waiting.get(e.id)?.(false); waiting.delete(e.id) })
      }
    }
  }
}

async function runTrades (cmd: any): Promise<void> {
  const r = await closedLoop(cmd, async (i) => {
    // settled by the events loop above, once our confirm is answered
    let resolveThis!: (v: boolean) => void
    const done = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 10_000)
      resolveThis = (v) => { clearTimeout(timer); resolve(v) }
    })
    const req = await call(url, 'POST', '/trade/request', { from: name, to: cmd.target, side: (i % 2 === 0) ? 'buy' : 'sell', quantity: 1, price: 1 })
    waiting.set(req.id, resolveThis)
    return await done
  })
  emit({ ev: 'trades-done', name, ...r })
}

onCommands(async (cmd) => {
  switch (cmd.cmd) {
    case 'go':
      stopAt = Number(cmd.stopAt ?? Number.MAX_SAFE_INTEGER)
      pace = Number(cmd.pace ?? 0)
      acting = true
      if (loop == null) loop = run().finally(() => { loop = undefined })
      break
    case 'halt':
      acting = false
      await loop
      emit({ ev: 'halted' })
      break
    case 'status': {
      const r = await call(url, 'GET', '/time').catch(() => ({ index: -1 }))
      emit({ ev: 'status', peers: [{ name, view: r.members, member, at: r.index }] })
      break
    }
    case 'endow':
      await call(url, 'POST', '/endow', { name, coins: cmd.coins, seed: cmd.seed })
      emit({ ev: 'endowed' })
      break
    case 'events':
      void events()
      emit({ ev: 'listening' })
      break
    case 'trade':
      await runTrades(cmd)
      break
    case 'mem':
      emit({ ev: 'mem', rss: process.memoryUsage().rss, cpu: process.cpuUsage() })
      break
    case 'report':
      emit({ ev: 'report', rss: process.memoryUsage().rss, cpu: process.cpuUsage(), peers: [{ name, t, votes, adv }] })
      break
  }
}, () => { acting = false; eventsLoop = false })

await register()
emit({ ev: 'started', names: [name], t: nowMs(), rss: process.memoryUsage().rss })
