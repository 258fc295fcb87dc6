/**
 * `npm run partition -- --villagers N --scenario NAME`: a town of villager
 * processes, a network partition applied to it, and the invariants checked:
 * the minority never moves time, the majority goes on after the eviction
 * timeout, everyone converges after healing, every trade settles the same way
 * on both sides, and coins and items are conserved. Writes a JSON report and an
 * SVG timeline (each peer's day and period over time, partitions shaded), and
 * exits non-zero when an invariant broke.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Command, Option } from 'commander'
import { positiveInt, seededRandom } from './lib/args.js'
import { api, checkConservation, LocalTown, randomTrade, stockUp, until, type LocalVillager } from './lib/local-town.js'
import { NetnsLab, netnsUnavailableReason } from './lib/netns.js'
import { renderTimeline, type Sample, type Window } from './lib/timeline.js'

export const SCENARIOS = ['isolate', 'majority', 'halves', 'flapping', 'kill-restart', 'heal'] as const
export type Scenario = (typeof SCENARIOS)[number]

interface Options {
  villagers: number
  scenario: Scenario
  cut: 'gater' | 'netns'
  evictAfter: number
  splitMs?: number
  periodMs: number
  seed: number
  out: string
  /** Seconds until the background trades expire (how long an abandoned one stays open). */
  tradeExpiry?: number
  verbose?: boolean
  /** Where progress lines go (tests silence them). */
  print?: (line: string) => void
}

const PERIODS = ['morning', 'noon', 'evening']
const index = (t: { day: number, period: string }): number => (t.day - 1) * 3 + PERIODS.indexOf(t.period)

export interface Check { name: string, ok: boolean, detail: string }

export async function runScenario (opts: Options): Promise<{ checks: Check[], report: any }> {
  const random = seededRandom(opts.seed)
  const print = opts.print ?? ((line: string) => { console.log(line) })
  const root = await mkdtemp(path.join(tmpdir(), 'meshtown-partition-'))
  let lab: NetnsLab | undefined
  if (opts.cut === 'netns') {
    lab = new NetnsLab(opts.villagers, `mt${process.pid % 10000}`)
    await lab.create()
  }
  const town = new LocalTown({
    town: 'split',
    root,
    villagers: opts.villagers,
    evictAfterMs: opts.evictAfter,
    hostIp: lab?.hostIp,
    placement: lab == null
      ? undefined
      : (v, i) => ({ listen: `/ip4/${lab!.ipOf(i)}/tcp/0`, apiSocket: path.join(root, `${v.name}.api.sock`), wrap: (argv) => lab!.wrap(i, argv) }),
    onLine: (name, line) => { if (opts.verbose === true) print(`[${name}] ${line}`) }
  })
  const t0 = Date.now()
  const samples: Sample[] = []
  const windows: Window[] = []
  const checks: Check[] = []
  const check = (name: string, ok: boolean, detail: string): void => {
    checks.push({ name, ok, detail })
    print(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${detail}`)
  }
  let running = true
  try {
    await town.start()
    const all = town.villagers
    print(`${all.length} villager processes up (cutting links with ${opts.cut}); waiting for the town to form`)
    await stockUp(town)
    if (!await town.waitForMembers(all.length)) throw new Error('the town did not form')
    const start = await town.holdings()
    const times = new Map<string, { day: number, period: string, member: boolean, digest: string | null, members: number }>()

    // sampler, the villagers' own pacing (each acts once it has seen its period for periodMs), and a trickle of trades
    const seenSince = new Map<string, { at: number, idx: number }>()
    // one loop per villager, so that a slow or cut-off one never delays the others' samples
    const sampleOne = async (v: LocalVillager): Promise<void> => {
      const t = await api(v, 'GET', '/time', undefined, 2_000)
      if (!t.synced) return
      times.set(v.name, { day: t.day, period: t.period, member: t.member, digest: t.viewDigest, members: t.members })
      const idx = index(t)
      samples.push({ t: Date.now() - t0, peer: v.name, index: idx, member: t.member })
      const seen = seenSince.get(v.name)
      if (seen == null || seen.idx !== idx) seenSince.set(v.name, { at: Date.now(), idx })
      else if (t.member && !t.voted && Date.now() - seen.at >= opts.periodMs) await api(v, 'POST', '/action/idle', undefined, 2_000).catch(() => {})
    }
    const sampler = Promise.all(town.villagers.map(async v => {
      while (running) {
        if (v.alive) await sampleOne(v).catch(() => { /* down, or slow: no sample this time */ })
        await new Promise(resolve => setTimeout(resolve, 100))
      }
    }))
    const trader = (async () => {
      while (running) {
        await randomTrade(town.alive(), random, opts.tradeExpiry ?? 8)
        await new Promise(resolve => setTimeout(resolve, 200))
      }
    })()

    const snapshot = (vs: LocalVillager[]): number[] => vs.map(v => { const t = times.get(v.name); return t == null ? -1 : index(t) })
    const settle = async (): Promise<void> => { await new Promise(resolve => setTimeout(resolve, 600)) }
    const splitMs = opts.splitMs ?? opts.evictAfter * 2 + 3_000
    // a split is judged against a whole town: on a loaded machine a slow villager may be
    // evicted and rejoining, and 2 of a town of 3 members are a majority that rightly moves
    const whole = (): boolean => all.every(v => { const t = times.get(v.name); return t != null && t.member && t.members === all.length })
    const warmup = async (): Promise<void> => { await until(() => Math.min(...snapshot(all)) >= 2 && whole(), 30_000) }
    const cut = async (a: LocalVillager[], b: LocalVillager[]): Promise<void> => {
      if (lab != null) await lab.cut(a.map(v => Number(v.name.slice(1)) - 1), b.map(v => Number(v.name.slice(1)) - 1))
      else await town.cut(a, b)
    }
    const heal = async (): Promise<void> => {
      if (lab != null) await lab.heal()
      await town.heal()
    }

    /** Split, hold, heal; check the minority (or both sides) stood still and the majority went on. */
    const splitScenario = async (minority: LocalVillager[], majority: LocalVillager[], majorityMoves: boolean): Promise<number> => {
      await warmup()
      const cutAt = Date.now()
      await cut(minority, majority)
      await settle()
      const minorityAt = snapshot(minority)
      const majorityAt = snapshot(majority)
      const wholeAtCut = whole()
      const stood = await watchStill(minority, minorityAt, splitMs - 600)
      windows.push({ start: cutAt - t0, end: Date.now() - t0, label: `${minority.map(v => v.name).join(',')} | ${majority.map(v => v.name).join(',')}` })
      check('minority never advanced', stood.ok, stood.ok ? `${minority.map(v => v.name).join(',')} stayed at period ${minorityAt.join(',')} for ${splitMs} ms` : stood.detail)
      if (majorityMoves) {
        // samples lag a little behind each peer: give each its moment to show the move
        const went = await until(() => snapshot(majority).every((x, i) => x > majorityAt[i]!), 3_000)
        check('majority went on after the eviction timeout', went, `${majority.map(v => v.name).join(',')} went from ${majorityAt.join(',')} to ${snapshot(majority).join(',')}`)
      } else {
        const majorityNow = snapshot(majority)
        const still = majorityNow.every((x, i) => x === majorityAt[i]!)
        check('neither half advanced', still || !wholeAtCut, `other half from ${majorityAt.join(',')} to ${majorityNow.join(',')}${wholeAtCut ? '' : ' (the town was not whole at the cut: a member had been evicted)'}`)
      }
      const healAt = Date.now()
      await heal()
      return healAt
    }
    const watchStill = async (vs: LocalVillager[], at: number[], ms: number): Promise<{ ok: boolean, detail: string }> => {
      const deadline = Date.now() + ms
      while (Date.now() < deadline) {
        const now = snapshot(vs)
        const moved = now.findIndex((x, i) => x !== at[i])
        if (moved >= 0) return { ok: false, detail: `${vs[moved]!.name} moved from period ${at[moved]} to ${now[moved]} while cut off` }
        await new Promise(resolve => setTimeout(resolve, 100))
      }
      return { ok: true, detail: '' }
    }

    let healAt: number | undefined
    const n = all.length
    switch (opts.scenario) {
      case 'isolate':
        healAt = await splitScenario([all[0]!], all.slice(1), true)
        break
      case 'majority': {
        const minoritySize = Math.floor((n - 1) / 2)
        healAt = await splitScenario(all.slice(0, minoritySize), all.slice(minoritySize), true)
        break
      }
      case 'halves': {
        if (n % 2 !== 0) throw new Error('the halves scenario needs an even number of villagers')
        healAt = await splitScenario(all.slice(0, n / 2), all.slice(n / 2), false)
        break
      }
      case 'heal': {
        // everyone alone: no side has a majority, nothing moves; then one heal
        await warmup()
        const cutAt = Date.now()
        for (let i = 0; i < n; i++) await cut([all[i]!], all.slice(i + 1))
        await settle()
        const at = snapshot(all)
        const stood = await watchStill(all, at, splitMs - 600)
        windows.push({ start: cutAt - t0, end: Date.now() - t0, label: 'every villager alone' })
        check('nobody advanced alone', stood.ok, stood.ok ? `all stayed at ${at.join(',')}` : stood.detail)
        healAt = Date.now()
        await heal()
        break
      }
      case 'flapping': {
        await warmup()
        const end = Date.now() + splitMs
        const before = snapshot(all)
        while (Date.now() < end) {
          const x = all[Math.floor(random() * n)]!
          const y = all.filter(v => v !== x)[Math.floor(random() * (n - 1))]!
          const at = Date.now()
          await cut([x], [y])
          await new Promise(resolve => setTimeout(resolve, 200 + random() * 500))
          if (lab != null) await lab.heal()
          await api(x, 'POST', '/net/heal').catch(() => {})
          await api(y, 'POST', '/net/unblock', { peer: x.peerId }).catch(() => {})
          windows.push({ start: at - t0, end: Date.now() - t0, label: `${x.name}-${y.name}` })
          await new Promise(resolve => setTimeout(resolve, 100 + random() * 300))
        }
        const after = snapshot(all)
        check('time kept moving while links flapped', after.every((x, i) => x > before[i]!), `from ${before.join(',')} to ${after.join(',')}`)
        healAt = Date.now()
        await heal()
        break
      }
      case 'kill-restart': {
        await warmup()
        const [a, b] = [all[0]!, all[1]!]
        // a busy machine may have had b evicted and rejoining: trade once a knows b as a member
        await until(async () => (await api(a, 'GET', '/status')).members.some((m: any) => m.name === b.name), 30_000)
        const t = await api(a, 'POST', '/trade/request', { target: b.name, item: 'seed', quantity: 2, price: 2, action: 'buy', expires_in: 120 })
        await until(async () => (await api(b, 'GET', '/trades')).some((x: any) => x.id === t.id), 10_000)
        await api(b, 'POST', '/trade/accept', { trade_id: t.id })
        await until(async () => (await api(a, 'GET', '/mytrades')).some((x: any) => x.id === t.id && x.status === 'accepted'), 10_000)
        const killedAt = Date.now()
        await town.kill(b)
        const confirming = await api(a, 'POST', '/trade/confirm', { trade_id: t.id })
        check('a confirm to a dead counterparty stays pending', confirming.status === 'confirming', `status ${confirming.status}`)
        await new Promise(resolve => setTimeout(resolve, 1_000))
        await town.launch(b)
        windows.push({ start: killedAt - t0, end: Date.now() - t0, label: `${b.name} killed` })
        const settled = await until(async () => (await api(a, 'GET', '/mytrades')).some((x: any) => x.id === t.id && x.status === 'committed') &&
          (await api(b, 'GET', '/trades')).some((x: any) => x.id === t.id && x.status === 'committed'), 30_000)
        check('the trade interrupted by the kill committed on both sides', settled, settled ? `trade ${t.id} committed` : `trade ${t.id} did not settle`)
        healAt = Date.now()
        break
      }
    }
    // convergence: one (day, period), one membership view with everyone in it
    const converged = await until(() => {
      const ts = all.map(v => times.get(v.name))
      return ts.every(t => t != null && t.member && t.members === n && t.digest === ts[0]!.digest && index(t) === index(ts[0]!))
    }, 60_000, 100)
    const convergeMs = Date.now() - healAt!
    const stateOf = (v: LocalVillager): string => {
      const t = times.get(v.name)
      return t == null ? `${v.name} unsynced` : `${v.name} period ${index(t)} ${t.member ? 'member' : 'not a member'} of ${t.members} view ${t.digest?.slice(0, 8) ?? 'none'}`
    }
    check('converged after healing', converged, converged ? `one (day, period) and one membership of ${n} after ${convergeMs} ms` : `no agreement within 60 s: ${all.map(stateOf).join('; ')}`)
    running = false
    await Promise.all([sampler, trader])
    const settledAll = await until(async () => town.allTradesSettled(), 60_000, 250)
    check('every trade settled', settledAll, settledAll ? 'no open trade in any journal' : 'some trades are still open')
    const journals = await town.journals()
    const problems = checkConservation(start, await town.holdings(), journals)
    check('coins and items conserved, both sides of every trade agree', problems.length === 0, problems.length === 0 ? `${journals.size} trades checked` : problems.slice(0, 5).join('; '))
    const report = {
      scenario: opts.scenario, villagers: n, cut: opts.cut, evictAfterMs: opts.evictAfter, seed: opts.seed,
      convergeMs: converged ? convergeMs : null, checks, windows, samples, trades: journals.size
    }
    return { checks, report }
  } finally {
    running = false
    await town.stop()
    await lab?.destroy()
    await rm(root, { recursive: true, force: true })
  }
}

async function main (): Promise<number> {
  const opts = new Command('npm run partition --')
    .option('--villagers <n>', 'villager processes', positiveInt, 5)
    .addOption(new Option('--scenario <name>', 'what to do to the network').choices(SCENARIOS as unknown as string[]).default('majority'))
    .addOption(new Option('--cut <how>', 'cut links with the peers\' gaters (anywhere) or network namespaces (root)').choices(['gater', 'netns']).default('gater'))
    .option('--evict-after <ms>', 'eviction timeout of the villagers', positiveInt, 3_000)
    .option('--split-ms <ms>', 'how long a partition lasts (default: twice the eviction timeout + 3 s)', positiveInt)
    .option('--period-ms <ms>', 'each villager acts once it has seen its period this long', positiveInt, 300)
    .option('--seed <n>', 'random seed', positiveInt, 1)
    .option('--out <dir>', 'where the JSON report and the SVG timeline go', 'partition-reports')
    .option('--verbose', 'show every peer log line')
    .parse(process.argv)
    .opts<Options>()
  if (opts.cut === 'netns') {
    const why = await netnsUnavailableReason()
    if (why != null) {
      console.log(`skipped: --cut netns needs ${why}; use --cut gater (works anywhere)`)
      return 0
    }
  }
  const { checks, report } = await runScenario(opts)
  await mkdir(opts.out, { recursive: true })
  const base = path.join(opts.out, `${opts.scenario}-${opts.cut}-${opts.villagers}`)
  await writeFile(`${base}.json`, JSON.stringify(report, null, 2))
  await writeFile(`${base}.svg`, renderTimeline(report.samples, report.windows, `${opts.scenario} (${opts.villagers} villagers, ${opts.cut})`))
  const failed = checks.filter(c => !c.ok)
  console.log(`\nreport: ${base}.json\ntimeline: ${base}.svg\n${failed.length === 0 ? 'all invariants held' : `${failed.length} invariant(s) broken`}`)
  return failed.length === 0 ? 0 : 1
}

if (process.argv[1] != null && import.meta.url.endsWith(path.basename(process.argv[1]))) process.exitCode = await main()
