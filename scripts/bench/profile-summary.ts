/**
 * Where the CPU goes, from .cpuprofile files written by `node --cpu-prof`: self
 * time by package (node_modules/<pkg>, src/<file>, node internals, GC, idle) and
 * the top functions. Used by the harness after a --profile run, or by hand:
 *
 * A sample weighs the wall-clock time since the one before it, as V8 records it. That
 * reads true for a process with a core to itself (a room, a trade pair); where many
 * processes share the cores, a wait for a core is booked to whatever ran before it,
 * and perf-summary.ts (on-CPU samples of every process and the kernel) is the one to read.
 *
 *   node --import tsx scripts/bench/profile-summary.ts DIR_OR_FILES... [--top 25]
 */
import { existsSync, readFileSync } from 'node:fs'
import { readdir, readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

interface Node { id: number, callFrame: { functionName: string, url: string, lineNumber: number }, hitCount?: number, children?: number[] }
interface Profile { nodes: Node[], startTime: number, endTime: number, samples: number[], timeDeltas: number[] }

export interface ProfileSummary {
  /** Self time by what the code was doing, from the innermost frame that names an activity. */
  byActivity: Array<{ name: string, ms: number, pct: number }>
  files: number
  totalMs: number
  /** Busy (not idle) ms. */
  busyMs: number
  byPackage: Array<{ name: string, ms: number, pct: number }>
  byFunction: Array<{ name: string, where: string, ms: number, pct: number }>
}

/**
 * A readable bundle (MESHTOWN_READABLE_BUNDLE=1) keeps esbuild's `// path` comment
 * before each module: a frame's line in it names the module, which then stands in
 * for the bundle's url, so that packages and activities read as from the sources.
 */
const bundleModules = new Map<string, Array<[number, string]>>()

/** The first line of each module in a bundle (none for a file without module comments). */
function modulesOf (url: string): Array<[number, string]> {
  let marks = bundleModules.get(url)
  if (marks == null) {
    const file = url.startsWith('file://') ? fileURLToPath(url) : url
    marks = []
    if (existsSync(file)) {
      readFileSync(file, 'utf8').split('\n').forEach((l, i) => {
        const m = /^\/\/ (\S+\.(?:js|ts|mjs|cjs|json))$/.exec(l)
        if (m != null) marks!.push([i, m[1]!])
      })
    }
    bundleModules.set(url, marks)
  }
  return marks
}

export function moduleUrl (url: string, line: number): string {
  if (!url.endsWith('.mjs')) return url
  const marks = modulesOf(url)
  let lo = 0
  let hi = marks.length - 1
  let at: string | undefined
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    if (marks[mid]![0] <= line) { at = marks[mid]![1]; lo = mid + 1 } else hi = mid - 1
  }
  return at == null ? url : `/bundle/${at}`
}

export function packageOf (url: string, fn: string): string {
  if (url === '') {
    if (fn === '(idle)' || fn === '(program)' || fn === '(garbage collector)') return fn
    return '(native)'
  }
  const u = url.startsWith('file://') ? fileURLToPath(url) : url
  const nm = u.lastIndexOf('node_modules/')
  if (nm >= 0) {
    const rest = u.slice(nm + 'node_modules/'.length).split('/')
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!
  }
  const src = u.indexOf('/src/')
  if (src >= 0) return 'meshtown ' + u.slice(src + 1)
  const scripts = u.indexOf('/scripts/')
  if (scripts >= 0) return 'bench ' + u.slice(scripts + 1)
  if (u.startsWith('node:')) return 'node:' + u.slice(5).split('/')[0]
  return u
}

export interface Frame { functionName: string, url: string }

/** The activity a stack (innermost first) belongs to. */
export function activityOf (stack: Frame[]): string {
  const has = (f: Frame, s: string): boolean => s === '/src/' ? f.url.includes('/src/') && !f.url.includes('node_modules') : f.url.includes(s)
  const leaf = stack[0]!
  if (leaf.functionName === '(garbage collector)') return 'garbage collection'
  if (leaf.functionName === '(program)') return '(program: V8/native outside JS)'
  for (let i = 0; i < stack.length; i++) {
    const f = stack[i]!
    if (/^(verifyOneShot|signOneShot|hashAndVerify|hashAndSign)$/.test(f.functionName) || f.functionName === 'createPublicKey' || f.functionName === 'getKeyObjectSlots') {
      const above = stack.slice(i).find(g => has(g, '/src/') || has(g, 'gossipsub') || has(g, 'libp2p-noise') || has(g, 'peer-record') || has(g, 'envelope'))
      if (above == null) return 'Ed25519 sign/verify (other)'
      if (has(above, 'gossipsub')) return 'Ed25519: gossipsub message signatures'
      if (has(above, 'libp2p-noise')) return 'Ed25519: noise handshakes'
      if (has(above, '/src/')) return 'Ed25519: Meshtown statement/message signatures'
      return 'Ed25519: signed peer records'
    }
    if (has(f, 'as-chacha20poly1305') || has(f, 'libp2p-noise') || has(f, '/src/node/noise-crypto') || f.url.startsWith('wasm://')) return 'noise transport encryption'
    if (/^(writeBuffer|writev|writeGeneric|handleWriteReq|onStreamRead|writeUtf8String)$/.test(f.functionName) || has(f, 'node:net') || has(f, 'internal/stream_base_commons')) return 'socket I/O'
    if (has(f, 'libp2p-yamux')) return 'yamux stream muxing'
    if (has(f, 'classic-level') || has(f, 'abstract-level') || has(f, 'datastore-level') || has(f, 'level-transcoder')) return 'LevelDB (datastore)'
    if (has(f, '@libp2p/peer-store')) return 'libp2p peer store'
    if (has(f, 'kad-dht')) return 'kad-dht'
    if (has(f, '/zod/') || f.functionName === 'parse' && f.url === '' || f.functionName === 'stringify' && f.url === '') return 'JSON + zod schemas'
    if (has(f, 'gossipsub')) return 'gossipsub (protocol, ids, dedupe, forwarding)'
    if (has(f, '/src/rooms/') || has(f, '/src/protocols/room')) return 'Meshtown rooms (inbox, transcript)'
    if (has(f, '/src/')) return 'Meshtown src (clock, trades, status, ...)'
    if (has(f, 'node:inspector')) return '(profiler)'
  }
  if (stack.some(f => has(f, '@libp2p/utils') || has(f, 'uint8arraylist') || has(f, 'it-') || has(f, 'protons'))) return 'libp2p streams and protobuf'
  if (stack.some(f => has(f, 'libp2p'))) return 'libp2p (other)'
  if (stack.some(f => has(f, 'tsx') || f.functionName === 'compileSourceTextModule')) return 'module loading (tsx)'
  return 'other'
}

export async function summarize (inputs: string[], top = 25): Promise<ProfileSummary> {
  const files: string[] = []
  for (const i of inputs) {
    const s = await stat(i)
    if (s.isDirectory()) for (const f of await readdir(i)) { if (f.endsWith('.cpuprofile')) files.push(path.join(i, f)) }
    else files.push(i)
  }
  const pkg = new Map<string, number>()
  const act = new Map<string, number>()
  const fns = new Map<string, { name: string, where: string, ms: number }>()
  let total = 0
  for (const f of files) {
    const p = JSON.parse(await readFile(f, 'utf8')) as Profile
    for (const n of p.nodes) n.callFrame.url = moduleUrl(n.callFrame.url, n.callFrame.lineNumber)
    const byId = new Map(p.nodes.map(n => [n.id, n]))
    const parent = new Map<number, number>()
    for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
    const self = new Map<number, number>()
    for (let i = 0; i < p.samples.length; i++) {
      const dt = (p.timeDeltas[i] ?? 0) / 1000
      self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + dt)
    }
    for (const [id, ms] of self) {
      const n = byId.get(id)!
      const { functionName, url, lineNumber } = n.callFrame
      if (functionName !== '(idle)') {
        const stack: Frame[] = []
        for (let cur: number | undefined = id; cur != null; cur = parent.get(cur)) stack.push(byId.get(cur)!.callFrame)
        const a = activityOf(stack)
        act.set(a, (act.get(a) ?? 0) + ms)
      }
      const name = packageOf(url, functionName)
      pkg.set(name, (pkg.get(name) ?? 0) + ms)
      const key = `${functionName}|${url}|${lineNumber}`
      const entry = fns.get(key) ?? { name: functionName || '(anonymous)', where: `${name}:${lineNumber + 1}`, ms: 0 }
      entry.ms += ms
      fns.set(key, entry)
      total += ms
    }
  }
  const idle = (pkg.get('(idle)') ?? 0) + (pkg.get('node:inspector') ?? 0)
  const busy = total - idle
  const pct = (ms: number): number => busy > 0 ? 100 * ms / busy : 0
  return {
    files: files.length,
    totalMs: total,
    busyMs: busy,
    byActivity: [...act].filter(([n]) => n !== '(profiler)').map(([name, ms]) => ({ name, ms, pct: pct(ms) })).sort((a, b) => b.ms - a.ms),
    byPackage: [...pkg].filter(([n]) => n !== '(idle)' && n !== 'node:inspector').map(([name, ms]) => ({ name, ms, pct: pct(ms) })).sort((a, b) => b.ms - a.ms).slice(0, top),
    byFunction: [...fns.values()].filter(f => f.name !== '(idle)' && !f.where.startsWith('node:inspector')).map(f => ({ ...f, pct: pct(f.ms) })).sort((a, b) => b.ms - a.ms).slice(0, top)
  }
}

export function formatSummary (s: ProfileSummary, top = 15): string {
  const lines = [`${s.files} profile(s), ${(s.busyMs / 1000).toFixed(1)} s busy of ${(s.totalMs / 1000).toFixed(1)} s sampled`, '', '| where the CPU goes (self time by activity) | ms | % of busy |', '| --- | --- | --- |']
  for (const a of s.byActivity) lines.push(`| ${a.name} | ${a.ms.toFixed(0)} | ${a.pct.toFixed(1)} |`)
  lines.push('', '| self time by package | ms | % of busy |', '| --- | --- | --- |')
  for (const p of s.byPackage.slice(0, top)) lines.push(`| ${p.name} | ${p.ms.toFixed(0)} | ${p.pct.toFixed(1)} |`)
  lines.push('', '| top functions (self) | where | ms | % |', '| --- | --- | --- | --- |')
  for (const f of s.byFunction.slice(0, top)) lines.push(`| ${f.name} | ${f.where} | ${f.ms.toFixed(0)} | ${f.pct.toFixed(1)} |`)
  return lines.join('\n')
}

if (process.argv[1] != null && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const args = process.argv.slice(2)
  const ti = args.indexOf('--top')
  const top = ti >= 0 ? Number(args[ti + 1]) : 25
  const inputs = args.filter((a, i) => a !== '--top' && (ti < 0 || i !== ti + 1))
  console.log(formatSummary(await summarize(inputs, top), top))
}
