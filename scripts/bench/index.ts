/**
 * `npm run bench`: Meshtown against the classic central-coordinator design, side
 * by side in one run, on this machine. Writes BENCHMARKS.md and a JSON file.
 *
 *   npm run bench                        every benchmark, full sizes and the town of 100 (about 1-1.5 hours on 2 cores)
 *   npm run bench -- --quick             smaller sizes, fewer runs, shorter windows (about 8-12 min)
 *   npm run bench -- --only barrier,trades --sizes 5,10 --runs 2
 *   npm run bench -- --profile           also write CPU profiles (benchmarks/profiles/) and summarize them
 *
 * Every figure is a median over repeated runs with min and max; comparisons are
 * ratios of figures measured in the same run. See scripts/bench/README.md.
 */
import { readdirSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { benchAvailability, type AvailabilityResult } from './availability.js'
import { benchBarrier, type VariantResult } from './barrier.js'
import { joinAttempts, joinCount, joinFigure, joinMet, type JoinResult } from './lib/joins.js'
import { prepareBundles, ROOT } from './lib/child.js'
import { LoadSampler, machine, otherLoad } from './lib/machine.js'
import { flushDisk } from './lib/towns.js'
import { fmt, fmtSpread, spread, type Spread } from './lib/stats.js'
import { benchMemory, type MemoryResult } from './memory.js'
import { formatSummary, summarize } from './profile-summary.js'
import { formatPerfSummary, perfProblem } from './perf-summary.js'
import { benchRooms, type RoomResult } from './rooms.js'
import { benchTrades, type TradeResult } from './trades.js'

const BENCHES = ['barrier', 'trades', 'rooms', 'availability', 'memory'] as const
type Bench = typeof BENCHES[number]
/** The town's agents' think time per period while joiners come in, in the target's setting (the town must move for a join to be admitted). */
const JOIN_PACE_MS = 200

const HELP = `npm run bench [-- options]

  --quick                  smaller sizes, fewer runs, shorter windows
  --only LIST              comma-separated: ${BENCHES.join(',')} (default: all)
  --sizes LIST             barrier town sizes (default 5,10,25,50; quick 5,10; none: only the --large towns)
  --periods N              periods per barrier run (default 30; quick 15)
  --warmup S               seconds each barrier town runs periods, unmeasured, before its runs (default 20; quick 5)
  --poll-periods N         periods per run for the 1 s polling baseline (default 10; quick 5)
  --runs N                 repeated runs per figure (default 3; quick 2)
  --patch LIST             Meshtown barrier variants measured at every size, from scripts/bench/lib/patches.ts;
                           (d1, d2, d6, noidw, lazy1, quietdir, nostatus, links2); "a+b" combines (default none)
  --patch-small LIST       more variants, measured at N <= 10 only (default none)
  --packed LIST            N:K pairs: the town of N also run with K villager peers per process (default 10:5,50:10;
                           quick none); measured when N is among --sizes
  --large LIST             N:K pairs: a town larger than --sizes, run only with K villager peers per process, against
                           the long-poll baseline at the same N (default 100:20; quick none)
  --large-evict-after S    those towns' villagers' --evict-after (default 0: the villager's own, 30 s)
  --trade-patch LIST       Meshtown trade variants: nostatus (default none)
  --joins N                joiners measured per town (default 2; 0 = skip), into the town moving with its agents
                           thinking ${JOIN_PACE_MS} ms per period
  --join-think MS          the joins measured again with the town's agents thinking this long (default 1000; 0 = skip)
  --trade-villagers LIST   villagers trading in pairs (default 2,10)
  --trade-concurrency LIST trades in flight per initiator (default 1,16,64; quick 1,16)
  --trade-seconds S        seconds per trade run (default 10; quick 4)
  --room-agents N          agents in the room (default 10)
  --room-burst N           messages each agent sends (default 100; quick 40)
  --avail-n N              villagers in the availability towns (default 10; quick 5)
  --avail-window S         seconds counted after the kill (default 60; quick 20)
  --avail-evict-after S    Meshtown --evict-after for that run (default 30; quick 5)
  --multi K                villager peers in one process for the memory figure (default 20; quick 10)
  --multi-periods N        barrier periods run on that town (default 3)
  --profile                CPU-profile Meshtown during the largest barrier run, trades and rooms
  --perf                   also record the whole machine with Linux perf (root, linux-perf) during the last run of
                           each Meshtown town of the largest size: every process, thread and the kernel, on-CPU
                           samples only; towns of that size run with V8's perf-map flags (10-20 % more CPU a period)
  --merge FILE             keep the benchmarks not run now from an earlier results JSON (barrier: the sizes
                           not run now, so --only barrier --sizes 50 adds N=50 to a full run)
  --report-only [FILE]     only write the report from a results JSON (default benchmarks/results.json)
  --out FILE               JSON results (default benchmarks/results.json)
  --md FILE                report (default BENCHMARKS.md)
  --help
`

function parse (argv: string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`)
    const next = argv[i + 1]
    if (next == null || next.startsWith('--')) out[a.slice(2)] = 'true'
    else { out[a.slice(2)] = next; i++ }
  }
  return out
}

/** N:K pairs (a town of N, K villager peers per process), e.g. "10:5,50:10"; "none" for none. */
const pairs = (flag: string, s: string): Array<[number, number]> => s.split(',').filter(p => p !== '' && p !== 'none').map(p => {
  const [n, k] = p.split(':').map(Number)
  if (!Number.isInteger(n) || !Number.isInteger(k) || n! < 2 || k! < 2) throw new Error(`--${flag} takes N:K pairs (a town of N, K peers per process), got "${p}"`)
  return [n!, k!]
})

const list = (s: string, flag: string): number[] => s.split(',').map(part => {
  const n = Number(part)
  if (part.trim() === '' || !Number.isInteger(n) || n <= 0) throw new Error(`--${flag} takes whole numbers > 0, comma-separated, got "${s}"`)
  return n
})

async function main (): Promise<void> {
  const major = Number(process.versions.node.split('.')[0])
  if (major < 22) throw new Error(`Node ${process.version}: libp2p needs >= 22; run through npm (npm run bench) to use the project's Node`)
  const args = parse(process.argv.slice(2))
  if (args.help != null) { process.stdout.write(HELP); return }
  if (args['report-only'] != null) {
    // BENCHMARKS.md again from a results JSON (after editing analysis.md, say), without running anything
    const from = path.resolve(ROOT, args['report-only'] === 'true' ? 'benchmarks/results.json' : args['report-only'])
    const md = path.resolve(ROOT, args.md ?? 'BENCHMARKS.md')
    await writeFile(md, await report(JSON.parse(await readFile(from, 'utf8')) as Results))
    process.stdout.write(`wrote ${path.relative(ROOT, md)} from ${path.relative(ROOT, from)}\n`)
    return
  }
  const quick = args.quick === 'true'
  const only = new Set<Bench>((args.only ?? BENCHES.join(',')).split(',').map(s => s.trim()) as Bench[])
  for (const b of only) if (!BENCHES.includes(b)) throw new Error(`unknown benchmark ${b} (one of ${BENCHES.join(', ')})`)
  // each option has its own floor: 0 skips warm-up or joins, but 0 runs or periods would write a report with no figures
  const num = (k: string, full: number, q: number, min: number, whole = true): number => {
    if (args[k] == null) return quick ? q : full
    const v = Number(args[k])
    if (args[k] === '' || !Number.isFinite(v) || v < min || (whole && !Number.isInteger(v))) {
      throw new Error(`--${k} takes ${whole ? 'a whole number' : 'a number'} >= ${min}, got "${args[k]}"`)
    }
    return v
  }
  const o = {
    // "none": only the --large towns
    sizes: args.sizes === 'none' ? [] : list(args.sizes ?? (quick ? '5,10' : '5,10,25,50'), 'sizes'),
    periods: num('periods', 30, 15, 1),
    warmMs: num('warmup', 20, 5, 0, false) * 1000,
    pollPeriods: num('poll-periods', 10, 5, 1),
    runs: num('runs', 3, 2, 1),
    patches: (args.patch ?? 'none').split(',').filter(p => p !== '' && p !== 'none').map(p => p.replaceAll('+', ',')),
    smallPatches: (args['patch-small'] ?? 'none').split(',').filter(p => p !== '' && p !== 'none').map(p => p.replaceAll('+', ',')),
    joins: num('joins', 2, 2, 0),
    joinThinkMs: num('join-think', 1000, 1000, 0),
    // N:K, e.g. 50:10 (a town of 50 in five processes of ten peers); measured when N is among the sizes
    packed: pairs('packed', args.packed ?? (quick ? 'none' : '10:5,50:10')),
    // a town larger than every size, too large for one process per villager on this machine
    large: pairs('large', args.large ?? (quick ? 'none' : '100:20')),
    // 0: the villager's own default (30 s); a longer one spaces heartbeats out (a quarter of it), a lighter idle town
    largeEvictAfterMs: num('large-evict-after', 0, 0, 0) * 1000 || undefined,
    tradeVillagers: list(args['trade-villagers'] ?? '2,10', 'trade-villagers'),
    tradeConcurrency: list(args['trade-concurrency'] ?? (quick ? '1,16' : '1,16,64'), 'trade-concurrency'),
    tradeSeconds: num('trade-seconds', 10, 4, 1, false),
    tradePatches: (args['trade-patch'] ?? 'none').split(',').filter(p => p !== '' && p !== 'none'),
    roomAgents: num('room-agents', 10, 10, 2),
    roomBurst: num('room-burst', 100, 40, 1),
    availN: num('avail-n', 10, 5, 3),
    availWindow: num('avail-window', 60, 20, 1, false),
    availEvict: num('avail-evict-after', 30, 5, 1),
    multi: num('multi', 20, 10, 2),
    multiPeriods: num('multi-periods', 3, 3, 1),
    profile: args.profile === 'true',
    perf: args.perf === 'true',
    out: path.resolve(ROOT, args.out ?? 'benchmarks/results.json'),
    md: path.resolve(ROOT, args.md ?? 'BENCHMARKS.md')
  }
  if (args.perf != null && args.perf !== 'true') throw new Error(`--perf takes no value, got "${args.perf}"`)
  if (o.perf) {
    const problem = await perfProblem()
    if (problem != null) throw new Error(`--perf needs Linux perf recording every CPU: ${problem}`)
    // names kept and each module marked in the bundles, so that perf's JS frames name their code
    process.env.MESHTOWN_READABLE_BUNDLE = '1'
  }
  const command = `npm run bench${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`
  const m = machine()
  await prepareBundles()
  const profileDir = o.profile ? path.join(ROOT, 'benchmarks', 'profiles') : undefined
  if (profileDir != null) {
    await mkdir(profileDir, { recursive: true })
    process.env.BENCH_FROM_SOURCE = '1'
  }
  const loads = new LoadSampler()
  loads.start()
  const log = (line: string): void => { process.stdout.write(`[${new Date().toISOString().slice(11, 19)} load ${loadNow()}] ${line}\n`) }
  log(`Meshtown benchmarks: ${command}`)
  log(`machine: ${m.nproc} cores, ${m.memoryGB.toFixed(1)} GB, ${m.cpuModel}, Node ${m.node}; load ${m.loadAtStart.map(x => x.toFixed(2)).join(' ')}`)
  const others = otherLoad(new Set([process.pid]))
  if (others.length > 0) log(`other busy processes: ${others.join(' | ')}`)

  const code = await fingerprint(['src', 'patches', 'scripts/node-flags.mjs'])
  log(`code measured: ${measured(code)} ${code.files} files, sha256 ${code.sha256.slice(0, 16)}, newest file ${code.newest}`)
  const results: Results = { machine: m, command, code, options: o, started: new Date().toISOString(), load: loads.samples, others, durations: {} }
  // --merge FILE: keep the benchmarks not run now from an earlier run's JSON (its command is kept beside ours)
  const earlier: Partial<Results> | undefined = args.merge != null ? JSON.parse(await readFile(path.resolve(ROOT, args.merge), 'utf8')) : undefined
  const timed = async <T>(name: Bench, fn: () => Promise<T>): Promise<T> => {
    loads.label = name
    log(`${name}: disk flushed in ${(await flushDisk()).toFixed(0)} ms`)
    const t0 = Date.now()
    try { return await fn() } finally { results.durations[name] = (Date.now() - t0) / 1000; loads.label = '' }
  }
  if (only.has('barrier')) {
    results.barrier = await timed('barrier', async () => benchBarrier({
      sizes: o.sizes, periods: o.periods, pollPeriods: o.pollPeriods, runs: o.runs, patches: o.patches, smallPatches: o.smallPatches, joins: o.joins, joinThinkMs: o.joinThinkMs, packed: o.packed, large: o.large, largeEvictAfterMs: o.largeEvictAfterMs,
      joinPaceMs: JOIN_PACE_MS, idleMs: quick ? 5_000 : 10_000, warmMs: o.warmMs, profileDir: profileDir == null ? undefined : path.join(profileDir, 'barrier'),
      perfDir: o.perf ? path.join(ROOT, 'benchmarks', 'profiles', 'perf') : undefined, log
    }))
  }
  if (only.has('trades')) {
    results.trades = await timed('trades', async () => benchTrades({
      villagers: o.tradeVillagers, concurrency: o.tradeConcurrency, durationMs: o.tradeSeconds * 1000, runs: o.runs, patches: o.tradePatches, profileDir, log
    }))
  }
  if (only.has('rooms')) {
    results.rooms = await timed('rooms', async () => benchRooms({ agents: o.roomAgents, burst: o.roomBurst, runs: o.runs, clockSizes: [10, 100], profileDir, log }))
  }
  if (only.has('availability')) {
    results.availability = await timed('availability', async () => benchAvailability({
      n: o.availN, windowMs: o.availWindow * 1000, warmupMs: quick ? 5_000 : 10_000, evictAfterMs: o.availEvict * 1000, log
    }))
  }
  if (only.has('memory')) {
    results.memory = await timed('memory', async () => benchMemory({ perProcess: o.multi, periods: o.multiPeriods, log }))
  }
  loads.stop()
  results.finished = new Date().toISOString()
  if (earlier != null) {
    for (const b of BENCHES) {
      if (only.has(b) || earlier[b] == null) continue
      ;(results as any)[b] = earlier[b]
      results.durations[b] = earlier.durations?.[b] ?? NaN
    }
    // a barrier run at other sizes adds to the earlier one (e.g. --only barrier --sizes 50 after a full run)
    if (only.has('barrier') && earlier.barrier != null && results.barrier != null) {
      const now = new Set(results.barrier.map(r => `${r.variant}@${r.n}`))
      results.barrier = [...earlier.barrier.filter(r => !now.has(`${r.variant}@${r.n}`)), ...results.barrier].sort((a, b) => a.n - b.n)
      results.durations.barrier = (earlier.durations?.barrier ?? 0) + (results.durations.barrier ?? 0)
    }
    results.load = [...(earlier.load ?? []), ...results.load]
    // the figures kept from the earlier run were measured on its machine: a merge from another one says so
    if (earlier.machine != null && earlier.machine.cpuModel !== results.machine.cpuModel) {
      const cpuModel = earlier.machine.cpuModel.endsWith(`then ${results.machine.cpuModel}`) ? earlier.machine.cpuModel : `${earlier.machine.cpuModel} until ${results.started}, then ${results.machine.cpuModel}`
      results.machine = { ...results.machine, cpuModel }
    }
    // each command with its own start: a merged run's command has its stamps already
    const before = (earlier.command ?? '?').includes(', then ') ? earlier.command : `${earlier.command ?? '?'} (${earlier.started ?? '?'})`
    results.command = `${before}, then ${command} (${results.started})`
    results.started = earlier.started ?? results.started
    results.options = { ...(earlier.options ?? {}), ...Object.fromEntries(Object.entries(o).filter(([k]) => k.startsWith('room') || k === 'runs')) }
  }
  if (profileDir != null) {
    results.profiles = {}
    for (const [name, dir] of [['barrier', path.join(profileDir, 'barrier')], ['trades', profileDir], ['rooms', profileDir]] as const) {
      try {
        const files = readdirSync(dir).filter(f => f.endsWith('.cpuprofile') && (name === 'barrier' || f.startsWith(name))).map(f => path.join(dir, f))
        const sub = readdirSync(dir, { withFileTypes: true }).filter(d => d.isDirectory() && name === 'barrier').map(d => path.join(dir, d.name))
        for (const input of [...sub.map(s => [s, path.basename(s)] as const), ...(files.length > 0 && name !== 'barrier' ? [[files, name] as const] : [])]) {
          const [inp, label] = input
          const s = await summarize(Array.isArray(inp) ? inp as string[] : [inp as string], 40)
          results.profiles[`${name === 'barrier' ? 'barrier ' : ''}${label}`] = s
        }
      } catch {}
    }
  }
  await mkdir(path.dirname(o.out), { recursive: true })
  await writeFile(o.out, JSON.stringify(results, (_k, v) => typeof v === 'number' && !Number.isFinite(v) ? null : v, 1))
  await writeFile(o.md, await report(results))
  log(`wrote ${path.relative(ROOT, o.md)} and ${path.relative(ROOT, o.out)}`)
}

function loadNow (): string {
  return os.loadavg()[0]!.toFixed(1)
}

/**
 * Which code was measured: our sources, the patches to dependencies and the node flags processes start with
 * (they change under other engineers' hands while this runs). `paths` are files or directories under ROOT.
 */
async function fingerprint (paths: string[]): Promise<{ files: number, sha256: string, newest: string, paths: string[] }> {
  const { createHash } = await import('node:crypto')
  const { readdir, stat } = await import('node:fs/promises')
  const files = (await Promise.all(paths.map(p => path.join(ROOT, p)).map(async p => (await stat(p).catch(() => undefined))?.isFile() === true
    ? [p]
    : (await readdir(p, { recursive: true, withFileTypes: true }).catch(() => [])).filter(d => d.isFile()).map(d => path.join(d.parentPath, d.name))))).flat().sort()
  const h = createHash('sha256')
  let newest = 0
  let newestName = ''
  for (const f of files) {
    h.update(path.relative(ROOT, f)).update(await readFile(f))
    const t = (await stat(f)).mtimeMs
    if (t > newest) { newest = t; newestName = path.relative(ROOT, f) }
  }
  return { files: files.length, sha256: h.digest('hex'), newest: `${newestName} (${new Date(newest).toISOString()})`, paths }
}

/** What a fingerprint covers, in words (results of older runs name no paths: src/ and patches/). */
function measured (code: { paths?: string[] }): string {
  const names = (code.paths ?? ['src', 'patches']).map(p => p.includes('.') ? p : `${p}/`)
  return names.length === 1 ? names[0]! : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]!}`
}

interface Results {
  machine: ReturnType<typeof machine>
  command: string
  code: { files: number, sha256: string, newest: string, paths?: string[] }
  options: Record<string, unknown>
  started: string
  finished?: string
  load: Array<{ t: string, label: string, load1: number }>
  others: string[]
  durations: Record<string, number>
  barrier?: VariantResult[]
  trades?: TradeResult[]
  rooms?: RoomResult
  availability?: AvailabilityResult
  memory?: MemoryResult
  profiles?: Record<string, ReturnType<typeof summarize> extends Promise<infer S> ? S : never>
}

// ---------------------------------------------------------------------------------------
// the report

const ms = (s: Spread): string => fmtSpread(s, 'ms')
const ratio = (a: number, b: number): string => Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : 'n/a'
const verdict = (ok: boolean | undefined): string => ok == null ? 'not measured' : ok ? '**met**' : '**missed**'

async function report (r: Results): Promise<string> {
  const L: string[] = []
  const m = r.machine
  const loadAll = r.load.map(s => s.load1)
  const ls = spread(loadAll)
  L.push('# Meshtown benchmarks', '')
  L.push('Meshtown (peer-to-peer: gossipsub votes, direct trade streams, causal room inboxes) against the',
    'classic design it replaces: one central HTTP coordinator (villagers POST their action, time advances',
    'when all have submitted; villagers learn it by polling every second or by long-polling; trades are',
    'relayed through it and journalled with fdatasync). Same machine, same N, same actions, every villager',
    'its own OS process, both sides measured in the same run. Harness: `scripts/bench/` (see its README).', '')
  L.push('## Machine and run', '')
  L.push('| | |', '| --- | --- |')
  L.push(`| nproc | ${m.nproc} |`)
  L.push(`| memory | ${m.memoryGB.toFixed(1)} GB |`)
  L.push(`| CPU | ${m.cpuModel} |`)
  L.push(`| node | ${m.node} (${m.platform}) |`)
  L.push(`| date | ${r.started} → ${r.finished ?? '?'} |`)
  L.push(`| command | \`${r.command}\` |`)
  L.push(`| code measured | ${measured(r.code)}: ${r.code.files} files, sha256 \`${r.code.sha256.slice(0, 16)}\`, newest ${r.code.newest} |`)
  L.push(`| load (1-min average, sampled every 10 s) | median ${fmt(ls.median)}, min ${fmt(ls.min)}, max ${fmt(ls.max)} (at start: ${m.loadAtStart.map(x => x.toFixed(2)).join(', ')}) |`)
  L.push(`| other busy processes at start | ${r.others.length === 0 ? 'none' : r.others.map(x => `\`${x.replace(/\|/g, '/')}\``).join('<br>')} |`)
  L.push(`| time per benchmark | ${Object.entries(r.durations).map(([k, v]) => `${k} ${v.toFixed(0)} s`).join(', ')} |`)
  L.push('', `Load during each benchmark: ${Object.keys(r.durations).map(k => { const s = spread(r.load.filter(x => x.label === k).map(x => x.load1)); return `${k} ${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})` }).join('; ')}.`,
    'A load above 2 means processes waited for one of the 2 cores. Most of it is the benchmark\'s own towns (a',
    'Meshtown town of N keeps more processes busy per period than the baseline; see the reading below); other',
    'busy processes at the start are listed above.', '')
  L.push('Figures are `median (min–max)` over the repeated runs; latencies are per-run p50/p99 over the periods (or trades) of that run.', '')

  // targets
  const b = r.barrier ?? []
  const get = (variant: string, n: number): VariantResult | undefined => b.find(x => x.variant === variant && x.n === n)
  const rows: string[][] = []
  for (const n of [10, 50]) {
    const mesh = get('meshtown', n); const lp = get('baseline long-poll', n)
    if (mesh?.error != null) rows.push([`Barrier p50 within 2× of long-poll, N=${n}`, `not measured: ${mesh.error}`, '**missed**'])
    else if (mesh != null && lp != null) rows.push([`Barrier p50 within 2× of long-poll, N=${n}`, `${fmt(mesh.p50.median)} ms vs ${fmt(lp.p50.median)} ms = ${ratio(mesh.p50.median, lp.p50.median)}`, verdict(mesh.p50.median <= 2 * lp.p50.median)])
    for (const p of [...(r.options.smallPatches as string[]), ...(r.options.patches as string[])]) {
      const v = get(`meshtown+${p.replaceAll(",", "+")}`, n)
      if (v != null && lp != null) rows.push([`  … with patch \`${p.replaceAll(",", "+")}\``, `${fmt(v.p50.median)} ms = ${ratio(v.p50.median, lp.p50.median)}`, verdict(v.p50.median <= 2 * lp.p50.median)])
    }
    // not the target's setting (every villager its own process), shown beside it
    for (const v of b.filter(x => x.n === n && /^meshtown, \d+ per process$/.test(x.variant) && x.error == null)) {
      if (lp != null) rows.push([`  … ${v.variant.replace(/^meshtown, /, '')} (not the target's setting)`, `${fmt(v.p50.median)} ms = ${ratio(v.p50.median, lp.p50.median)}`, verdict(v.p50.median <= 2 * lp.p50.median)])
    }
  }
  const m50 = get('meshtown', 50)
  if (m50?.error != null) rows.push(['Barrier p99 < 300 ms at N=50', 'not measured (above)', '**missed**'])
  else if (m50 != null) rows.push(['Barrier p99 < 300 ms at N=50', `${fmt(m50.p99.median)} ms`, verdict(m50.p99.median < 300)])
  for (const p of (r.options.patches as string[])) { const v = get(`meshtown+${p.replaceAll(",", "+")}`, 50); if (v != null) rows.push([`  … with patch \`${p.replaceAll(",", "+")}\``, `${fmt(v.p99.median)} ms`, verdict(v.p99.median < 300)]) }
  if (r.availability != null) {
    const a = r.availability
    // the baseline may still finish the one period its villagers had already been told of when the coordinator died
    rows.push([`Availability: periods in the ${a.windowMs / 1000} s after the kill`, `Meshtown ${a.meshtown.after}, baseline ${a.baseline.after}`, verdict(a.error == null ? a.meshtown.after > 1 && a.baseline.after <= 1 : undefined)])
  }
  const t2 = (r.trades ?? []).filter(t => t.variant === 'meshtown' && t.villagers === 2)
  if (t2.length > 0) {
    const best = t2.reduce((x, y) => (y.perSec.median > x.perSec.median ? y : x))
    const seq = t2.find(t => t.concurrency === 1) ?? t2[0]!
    rows.push(['Trades ≥ 1,000/s between two villagers (durable)', `${fmt(best.perSec.median)}/s (${best.concurrency} in flight)`, verdict(best.perSec.median >= 1000)])
    rows.push(['Trade p50 < 5 ms', `${fmt(seq.p50.median)} ms (1 in flight)`, verdict(seq.p50.median < 5)])
  }
  if (r.rooms != null) rows.push([`Rooms ≥ 1,000 msg/s at each of ${r.rooms.agents} agents`, `slowest agent ${fmt(r.rooms.minPerSec.median)} msg/s`, verdict(r.rooms.minPerSec.n > 0 ? r.rooms.minPerSec.median >= 1000 : undefined)])
  // a town whose joiners never voted is shown as such, not left out of the row
  const joins = b.filter(x => x.kind === 'meshtown' && x.variant === 'meshtown' && x.join != null && joinAttempts(x.join) > 0)
  if (joins.length > 0) {
    rows.push(['Join < 2 s (process start → first vote)', joins.map(j => `N=${j.n}: ${joinFigure(j.join!)}`).join(', '), verdict(joins.every(j => joinMet(j.join!)))])
    const thinking = joins.filter(j => j.joinThinking != null && joinAttempts(j.joinThinking) > 0)
    if (thinking.length > 0) {
      rows.push([`  … the town's agents thinking ${fmt(thinking[0]!.joinThinking!.townPaceMs! / 1000)} s per period (not the target's setting)`, thinking.map(j => `N=${j.n}: ${joinFigure(j.joinThinking!)}`).join(', '), verdict(thinking.every(j => joinMet(j.joinThinking!)))])
    }
  }
  const rss = b.filter(x => x.kind === 'meshtown' && x.variant === 'meshtown' && x.rssMB.n > 0)
  if (rss.length > 0) rows.push(['RSS < 100 MB per villager process', rss.map(x => `N=${x.n}: ${fmt(x.rssMB.median)} MB`).join(', '), verdict(rss.every(x => x.rssMB.median < 100))])
  L.push('## Targets', '', '| target | measured | |', '| --- | --- | --- |', ...rows.map(x => `| ${x.join(' | ')} |`), '')
  if (rows.some(x => x[2] === '**missed**')) L.push('Why each missed target is missed: [in short](#in-short-why-each-missed-target-is-missed), at the head of "Reading the figures" below.', '')

  if (b.length > 0) {
    L.push('## Barrier', '')
    L.push('Every villager acts (`idle`) the instant its period starts. Latency: from the last vote of a period (the moment',
      'its villager acted; Meshtown includes the voter\'s synced LevelDB write, the baseline the coordinator\'s fdatasync)',
      'to the moment every villager has advanced. "net p50" counts from the last vote\'s hand-over to the network',
      '(Meshtown: `submitVote`, after the durable write). Runs are consecutive batches of periods in the same town.',
      '"meshtown, K per process": the same town with K villager peers in each OS process (RSS is per process).',
      ...(b.some(x => x.kind === 'meshtown' && !b.some(y => y.n === x.n && y.variant === 'meshtown'))
        ? ['A town of a size with no row for "meshtown" alone (`--large`) is run only so, against the long-poll baseline:',
            'that many villager processes are past what this machine holds (see N = 50).']
        : []),
      '"+ start-up settled": after the town formed, how long its start-up work (DHT, identify, catch-up) took to end, measured',
      'as its CPU falling below half the machine\'s cores or no longer falling; the warm-up, the idle figure and the runs come after it.',
      '"idle town": CPU while nobody acts, measured after the warm-up, in a period nobody has acted in yet (reports before',
      'the one of heartbeats only where needed measured it right after the start-up settled: a town still forming, whose founders heartbeat throughout).', '')
    L.push('| N | design | p50 | p99 | net p50 | periods/s | p50 vs long-poll | RSS/process | CPU ms/period (all processes) | idle town, CPU cores | formed in (+ start-up settled) |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |')
    for (const x of b) {
      const lp = get('baseline long-poll', x.n)
      L.push(`| ${x.n} | ${x.variant}${x.error != null ? ` (failed: ${x.error.length > 240 ? `${x.error.slice(0, 240)}…` : x.error})` : ''} | ${ms(x.p50)} | ${ms(x.p99)} | ${ms(x.networkP50)} | ${fmtSpread(x.periodsPerSec)} | ${lp != null ? ratio(x.p50.median, lp.p50.median) : ''} | ${fmtSpread(x.rssMB, 'MB')} | ${x.cpuMsPerPeriod != null ? fmt(x.cpuMsPerPeriod) : 'n/a'} | ${x.idleCores != null ? fmt(x.idleCores) : 'n/a'} | ${x.formMs == null || !Number.isFinite(x.formMs) ? 'n/a' : fmt(x.formMs / 1000, 's')}${x.settleMs != null ? ` (+${fmt(x.settleMs / 1000, 's')})` : ''} |`)
    }
    L.push('')
    const withJoin = b.filter(x => x.join != null && joinAttempts(x.join) > 0)
    if (withJoin.length > 0) {
      L.push('### Joining', '', `A new villager process started into a running town, whose agents think a while each period (${JOIN_PACE_MS} ms in the`,
        'target\'s setting, so that the town moves and reaches a boundary where the join can be admitted; then the same town',
        'with its agents thinking longer, as agents that ask a model do); from the spawn to its first accepted vote. The joiner',
        'acts the moment it may (results before 2026-11-27 counted its own 200 ms of thinking too).', '')
      L.push('| N | design | town\'s agents think | spawn → first vote | phases (median) |', '| --- | --- | --- | --- | --- |')
      for (const x of withJoin) {
        for (const j of [x.join!, x.joinThinking].filter((j): j is JoinResult => j != null && joinAttempts(j) > 0)) {
          const total = j.samples > 0 ? `${ms(j.total)} (${joinCount(j)})` : joinFigure(j)
          L.push(`| ${x.n} | ${x.variant} | ${fmt(j.townPaceMs ?? JOIN_PACE_MS)} ms | ${total} | ${Object.entries(j.phases).map(([k, v]) => `${k}: ${fmt(v.median)} ms`).join('; ')} |`)
        }
      }
      L.push('')
    }
  }
  if (r.trades != null) {
    L.push('## Trades', '', 'Committed atomic trades (propose → accept → confirm → committed), measured at the initiator, villagers',
      'in pairs, every step durable (Meshtown: LevelDB `sync: true` on both sides; baseline: the coordinator\'s',
      'fdatasync\'ed journal, events to the villagers by long-poll).', '')
    L.push('| villagers | in flight per initiator | design | trades/s | p50 | p99 | ÷ baseline (trades/s) | synced writes per trade (both sides), p50 each |', '| --- | --- | --- | --- | --- | --- | --- | --- |')
    for (const t of r.trades) {
      const other = r.trades.find(x => x.villagers === t.villagers && x.concurrency === t.concurrency && x.kind !== 'meshtown')
      L.push(`| ${t.villagers} | ${t.concurrency} | ${t.variant}${t.error != null ? ' (failed)' : ''} | ${fmtSpread(t.perSec)} | ${ms(t.p50)} | ${ms(t.p99)} | ${t.kind === 'meshtown' && other != null ? ratio(t.perSec.median, other.perSec.median) : ''} | ${t.savesPerTrade != null ? `${fmt(t.savesPerTrade.median)}, ${fmt(t.saveP50!.median, 'ms')}` : ''} |`)
    }
    L.push('')
  }
  if (r.rooms != null) {
    const x = r.rooms
    L.push('## Rooms', '', `${x.agents} agents in concurrent mode, one process (\`LocalRoom\`, as \`meshtown room run\`), each agent its own`,
      `peer; ${x.messages} public messages in all (each agent sends its share as fast as its runtime lets it).`,
      'Rate at an agent: public messages its causal inbox delivered ÷ time from the opening message to its last delivery.', '')
    L.push('| figure | value |', '| --- | --- |')
    L.push(`| slowest agent, msg/s | ${fmtSpread(x.minPerSec)} |`)
    L.push(`| median agent, msg/s | ${fmtSpread(x.medianPerSec)} |`)
    L.push(`| share delivered (slowest agent) | ${fmtSpread(x.delivered)} |`)
    L.push(`| share that came by gossip (rest: catch-up after a gap) | ${fmtSpread(x.gossipShare)} |`)
    L.push(`| vector clock bytes per message on the wire, ${x.agents} agents | ${fmtSpread(x.wireClockBytes)} |`)
    L.push(`| whole message bytes (JSON, signature included) | ${fmtSpread(x.wireMessageBytes)} |`)
    for (const c of x.clockBytes) L.push(`| vector clock bytes per message, ${c.agents} agents (computed, ${c.entries} entries) | ${fmt(c.bytesPerMessage)} |`)
    L.push(`| RSS of the room process | ${fmtSpread(x.rssMB, 'MB')} |`)
    if (x.errors.length > 0) L.push(`| errors | ${x.errors.join('; ')} |`)
    L.push('')
  }
  if (r.availability != null) {
    const a = r.availability
    L.push('## Availability', '', `A Meshtown town and a baseline town of ${a.n} villagers each, running at the same time, agents acting`,
      `instantly. At one moment the baseline's coordinator and one Meshtown villager are SIGKILLed. Meshtown runs with`,
      `\`--evict-after ${a.evictAfterMs / 1000} s\`${a.evictAfterMs === 30_000 ? ' (its default)' : ''}.`, '')
    L.push('| | Meshtown | baseline (long-poll) |', '| --- | --- | --- |')
    L.push(`| periods before the kill (warm-up) | ${a.meshtown.before} | ${a.baseline.before} |`)
    L.push(`| periods in the ${a.windowMs / 1000} s after the kill | ${a.meshtown.after} | ${a.baseline.after} |`)
    L.push(`| first period after the kill | ${a.meshtown.resumedAfterMs == null ? 'never' : fmt(a.meshtown.resumedAfterMs / 1000, 's')} | ${a.baseline.resumedAfterMs == null ? 'never' : fmt(a.baseline.resumedAfterMs / 1000, 's')} |`)
    L.push(`| members afterwards | ${a.meshtown.members ?? 'n/a'} | (no coordinator) |`)
    if (a.error != null) L.push(`| error | ${a.error} | |`)
    L.push('')
  }
  if (r.memory != null) {
    const x = r.memory
    L.push('## Memory', '', 'RSS per villager process is in the barrier table. Many peers per process: one town of 1 + K villagers,',
      'one process holding one villager and another holding K, run for a few periods; a peer\'s marginal cost is the',
      'difference of the two RSS over K − 1.', '')
    L.push('| figure | value |', '| --- | --- |')
    L.push(`| RSS, 1 villager in a process | ${fmt(x.rssSingleMB, 'MB')} |`)
    L.push(`| RSS, ${x.perProcess} villagers in a process | ${fmt(x.rssManyMB, 'MB')} |`)
    if (x.usage != null) {
      for (const [i, u] of x.usage.entries()) {
        const who = i === 0 ? '1 villager' : `${x.perProcess} villagers`
        L.push(`| ${who}: heap used / heap total / external / array buffers | ${['heapUsed', 'heapTotal', 'external', 'arrayBuffers'].map(k => fmt(u[k] ?? NaN, 'MB')).join(' / ')} |`)
        if (u.shared != null && Number.isFinite(u.shared)) L.push(`| ${who}: RSS shared with other processes (node's code) / the process's own | ${fmt(u.shared, 'MB')} / ${fmt(u.private ?? NaN, 'MB')} |`)
      }
    }
    L.push(`| marginal RSS per peer | ${fmt(x.marginalMBPerPeer, 'MB')} |`)
    L.push(`| peers per GB (marginal) | ${fmt(x.peersPerGB)} |`)
    if (x.barrier != null) L.push(`| barrier at N=${x.perProcess + 1} (${x.perProcess} peers in one process) | p50 ${fmt(x.barrier.p50)} ms, p99 ${fmt(x.barrier.p99)} ms, ${fmt(x.barrier.periodsPerSec)} periods/s |`)
    if (x.error != null) L.push(`| error | ${x.error} |`)
    L.push('')
  }
  if (r.profiles != null && Object.keys(r.profiles).length > 0) {
    L.push('## CPU profiles (this run)', '', 'Self time by package and top functions, sampled with the V8 profiler inside the Meshtown processes during',
      'the measurement only (files in `benchmarks/profiles/`, open them in Chrome DevTools).', '')
    for (const [name, s] of Object.entries(r.profiles)) L.push(`### ${name}`, '', formatSummary(s, 15), '')
  }
  const perfs = (r.barrier ?? []).filter(v => v.perf != null)
  if (perfs.length > 0) {
    L.push('## CPU by perf (this run)', '', 'The whole machine recorded with Linux perf over the last run of each town below (`--perf`): on-CPU samples',
      'of every process, thread and the kernel, so a wait for a core is nobody\'s time; the towns ran with V8\'s perf-map',
      'flags, which cost 10-20 % more CPU per period (the recordings are in `benchmarks/profiles/perf/`; V8\'s maps of JS',
      'code are removed once summarized, so `perf report -i` names native and kernel frames only).', '')
    for (const v of perfs) L.push(`### ${v.variant}, N=${v.n}`, '', formatPerfSummary(v.perf!.summary, v.perf!.periods, 15), '')
  }
  try {
    L.push((await readFile(path.join(ROOT, 'scripts', 'bench', 'analysis.md'), 'utf8')).trim(), '')
  } catch {}
  return L.join('\n')
}

main().catch((err) => {
  process.stderr.write(`bench: ${err?.stack ?? err}\n`)
  process.exit(1)
})
