/**
 * Where a whole town's CPU goes, from Linux perf: on-CPU samples (`cpu-clock`) of
 * every thread of every process and of the kernel, with call stacks.
 *
 * V8's profiler (profile-summary.ts) sees one process's main thread only, and
 * on a machine where ten to fifty processes share two cores it weighs each
 * sample by the wall-clock gap before it, so the time a process waited for a
 * core is booked to whatever it ran when it was pushed off (an Ed25519 check
 * read as ~240 us there, ~45 us on the CPU). perf counts a sample only when a
 * thread is on a core, and sees the kernel's part too (TCP over loopback,
 * scheduling, fsync), which no JS profiler can.
 *
 * JS frames get names from `/tmp/perf-PID.map`: run the node processes with
 * `--perf-basic-prof --interpreted-frames-native-stack` (run-probe.ts: PERF=1).
 * By hand: perf record -a -g -F 997 -e cpu-clock -o F -- sleep 10, then
 *   node --import tsx scripts/bench/perf-summary.ts F [--top 30]
 */
import { spawn, execFile } from 'node:child_process'
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { once } from 'node:events'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { activityOf, moduleUrl, packageOf, type Frame } from './profile-summary.js'

/** Samples per second per core (a prime, so that sampling does not beat with timers). */
export const PERF_FREQUENCY = 997

/** Node flags that let perf name JS frames (V8 writes /tmp/perf-PID.map), interpreted ones included. */
export const PERF_NODE_ARGS = ['--perf-basic-prof', '--interpreted-frames-native-stack']

/** Why perf cannot record every CPU here (not installed, not allowed), or undefined when it can. */
export async function perfProblem (): Promise<string | undefined> {
  const dir = await mkdtemp(path.join(tmpdir(), 'meshtown-perf-'))
  try {
    await promisify(execFile)('perf', ['record', '-a', '-e', 'cpu-clock', '-o', path.join(dir, 'probe.data'), '--', 'true'], { timeout: 30_000 })
    return undefined
  } catch (err: any) {
    if (err.code === 'ENOENT') return 'no perf command (apt-get install linux-perf)'
    const said = String(err.stderr ?? '').split('\n').map((l: string) => l.trim()).find((l: string) => l !== '')
    return `perf record -a failed${said != null ? `: ${said}` : ''} (it needs root, or kernel.perf_event_paranoid <= -1)`
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

export interface PerfSummary {
  /** CPU ms of the processes given roles (of all, given none); by what it was doing, kind of thread, leaf function. */
  totalMs: number
  byActivity: Array<{ name: string, ms: number }>
  byThread: Array<{ name: string, ms: number }>
  byProcess: Array<{ name: string, ms: number }>
  byFunction: Array<{ name: string, ms: number }>
  /** By the innermost JS function on the stack (with what it called that is not JS: builtins, natives). */
  byJsFunction: Array<{ name: string, ms: number }>
}

interface StackFrame { sym: string, dso: string }

export interface PerfRecording { stop: () => Promise<PerfSummary> }

/**
 * Starts `perf record` on every core; stop() ends it and summarizes. `roles`
 * names processes by pid (e.g. villager, bootstrap); others count as "other".
 */
export async function startPerf (file: string, roles: Map<number, string> = new Map()): Promise<PerfRecording> {
  await mkdir(path.dirname(file), { recursive: true })
  await rm(file, { force: true })
  const proc = spawn('perf', ['record', '-a', '-g', '-F', String(PERF_FREQUENCY), '-e', 'cpu-clock', '-o', file], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  proc.stderr.on('data', (d) => { stderr += String(d) })
  const exited = once(proc, 'exit')
  // perf writes its file's header once it records; wait for that (or its failure), within a deadline
  const deadline = Date.now() + 10_000
  const written = async (): Promise<boolean> => ((await stat(file).catch(() => null))?.size ?? 0) > 0
  while (!await written()) {
    if (proc.exitCode != null || Date.now() > deadline) throw new Error(`perf record did not start: ${stderr.trim() || 'no output'}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  return {
    stop: async () => {
      proc.kill('SIGINT')
      await exited
      return summarizePerf(file, roles)
    }
  }
}

export async function summarizePerf (file: string, roles: Map<number, string> = new Map()): Promise<PerfSummary> {
  const { stdout } = await promisify(execFile)('perf', ['script', '-i', file, '-F', 'comm,pid,tid,ip,sym,dso'], { maxBuffer: 1 << 30 })
  return summarizePerfScript(stdout, roles)
}

/**
 * The summary of `perf script -F comm,pid,tid,ip,sym,dso` output. Given roles, only the
 * processes they name count in the activities, threads and functions (a compiler or test
 * run beside the town would otherwise read as the town's); every process counts in byProcess.
 */
export function summarizePerfScript (text: string, roles: Map<number, string> = new Map()): PerfSummary {
  const msPerSample = 1000 / PERF_FREQUENCY
  const activity = new Map<string, number>()
  const thread = new Map<string, number>()
  const processes = new Map<string, number>()
  const fn = new Map<string, number>()
  const jsFn = new Map<string, number>()
  const add = (m: Map<string, number>, k: string): void => { m.set(k, (m.get(k) ?? 0) + msPerSample) }
  let total = 0
  for (const block of text.split('\n\n')) {
    const lines = block.split('\n').filter(l => l.trim() !== '')
    if (lines.length === 0) continue
    const head = /^\s*(.+?)\s+(\d+)\/(\d+)\s*$/.exec(lines[0]!)
    if (head == null) continue
    const [, comm, pid] = head
    if (pid === '0') continue // the idle task
    const stack: StackFrame[] = lines.slice(1).map(l => {
      const m = /^\s*[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$/.exec(l)
      return m == null ? { sym: l.trim(), dso: '' } : { sym: m[1]!, dso: m[2]! }
    })
    if (stack.length === 0) continue
    const role = roles.get(Number(pid))
    add(processes, role ?? (comm === 'perf' ? 'perf itself' : 'other processes'))
    if (roles.size > 0 && role == null) continue
    total += msPerSample
    add(activity, activityOfStack(stack))
    add(thread, threadKind(comm!))
    add(fn, leafName(stack[0]!))
    const innermostJs = stack.find(isJs)
    if (innermostJs != null) add(jsFn, leafName(innermostJs))
  }
  const sorted = (m: Map<string, number>): Array<{ name: string, ms: number }> => [...m].map(([name, ms]) => ({ name, ms })).sort((a, b) => b.ms - a.ms)
  return { totalMs: total, byActivity: sorted(activity), byThread: sorted(thread), byProcess: sorted(processes), byFunction: sorted(fn), byJsFunction: sorted(jsFn) }
}

function threadKind (comm: string): string {
  if (comm === 'node' || comm === 'MainThread') return 'main thread (JS)'
  if (comm.startsWith('V8')) return "V8's helper threads (GC, compiling)"
  if (comm.startsWith('libuv')) return "libuv's pool (LevelDB writes, fsync, crypto)"
  return comm
}

const isJs = (f: StackFrame): boolean => f.dso.includes('/perf-') && f.dso.endsWith('.map')
const isKernel = (f: StackFrame): boolean => f.dso === '[kernel.kallsyms]'

/** A JS frame of the perf map ("JS:*name file:///...:line:col") as a V8 profiler frame. */
function jsFrame (f: StackFrame): Frame {
  // V8 marks the tier before the name (* TurboFan, + Maglev, ^ Sparkplug, ~ interpreted), some names with a quote
  const m = /^(?:JS|LazyCompile|Function):[*~^+']*(.*?)\s+((?:file|node):\S+?|\S+?):(\d+)(?::\d+)?$/.exec(f.sym)
  if (m == null) return { functionName: f.sym.replace(/^JS:[*~^+']*/, ''), url: f.sym.includes('wasm-function') ? 'wasm://' : '' }
  const [, name, url, line] = m
  return { functionName: name!, url: moduleUrl(url!, Number(line) - 1) }
}

function activityOfStack (stack: StackFrame[]): string {
  const leaf = stack[0]!
  if (isKernel(leaf)) return `kernel: ${kernelActivity(stack)}`
  if (stack.some(f => /(Heap::|Scavenge|MarkCompact|Sweeper|ConcurrentMarking|MinorMarkSweep|Evacuat|IncrementalMarking|GCTracer|MarkingVisitor)/.test(f.sym))) return 'V8 garbage collection'
  // JSON.parse and JSON.stringify are V8's C++ (JsonParser, JsonStringifier), not its compiler
  if (/Json(Parser|Stringifier)/.test(leaf.sym)) return 'JSON + zod schemas'
  if (/(compiler::|Maglev|maglev::|Turbofan|turboshaft|Compile|Parser|Parse|interpreter::Bytecode)/.test(leaf.sym) && !leaf.sym.startsWith('Builtins_') && !/ParseEncoding/.test(leaf.sym)) return 'V8 compiling'
  const js = stack.filter(isJs).map(jsFrame)
  if (leaf.dso.includes('sodium-native')) {
    // libsodium seals noise's frames too (src/node/noise-crypto.ts); its frames hide the JS that called it
    if (/(chacha|poly1305|stream_ietf|onetimeauth|aead)/i.test(leaf.sym)) return 'noise transport encryption'
    return js.length > 0 ? activityOf([{ functionName: 'hashAndVerify', url: '' }, ...js]) : 'Ed25519 (libsodium)'
  }
  if (leaf.dso.includes('classic-level')) return 'LevelDB (native)'
  if (/(sha256|sha512|SHA256|SHA512|EVP_|ossl_|ED25519|x25519|curve25519|ChaCha|poly1305)/.test(leaf.sym)) {
    return js.length > 0 ? `OpenSSL, for ${activityOf(js)}` : 'OpenSSL (other)'
  }
  if (js.length > 0) return activityOf(js)
  if (/^(uv_|uv__|epoll)/.test(leaf.sym)) return 'libuv event loop'
  return 'node/V8 native, no JS frame'
}

function kernelActivity (stack: StackFrame[]): string {
  const k = stack.filter(isKernel).map(f => f.sym).join(' ')
  if (/(tcp_|ip_|inet_|sock_|skb|__dev_queue|loopback|net_rx|__netif|sk_|unix_stream)/.test(k)) return 'sockets (TCP over loopback)'
  if (/(ext4|jbd2|blk_|fsync|fdatasync|vfs_write|vfs_read|filemap|iomap)/.test(k)) return 'files (LevelDB, fsync)'
  if (/futex/.test(k)) return 'futex (threads waking each other)'
  if (/(ep_poll|epoll|do_epoll)/.test(k)) return 'epoll'
  if (/(schedule|finish_task_switch|pick_next|try_to_wake_up|enqueue_task|dequeue_task|__switch_to)/.test(k)) return 'scheduling'
  if (/(page_fault|handle_mm_fault|do_anonymous_page|clear_page|mmap|munmap|madvise|brk|zap_|unmap)/.test(k)) return 'memory (page faults, mmap)'
  if (/(clock_gettime|hrtimer|timerfd|ktime)/.test(k)) return 'timers and clocks'
  return 'other'
}

function leafName (f: StackFrame): string {
  if (isJs(f)) {
    const j = jsFrame(f)
    return `${j.functionName || '(anonymous)'} [${packageOf(j.url, j.functionName)}]`
  }
  return `${f.sym} [${f.dso.split('/').slice(-1)[0]}]`
}

/** `periods`: what the CPU is divided by for the last column, named by `unit` (a period; a second for an idle town). */
export function formatPerfSummary (s: PerfSummary, periods?: number, top = 30, unit = 'period'): string {
  const per = periods == null ? '' : ` | ms per ${unit}`
  const sep = periods == null ? '' : ' | ---'
  const row = (name: string, ms: number): string => `| ${name} | ${ms.toFixed(0)} | ${(100 * ms / s.totalMs).toFixed(1)}${periods == null ? '' : ` | ${(ms / periods).toFixed(2)}`} |`
  const lines = [`perf: ${(s.totalMs / 1000).toFixed(2)} s of CPU on all cores (idle and processes outside the town excluded)${periods == null ? '' : `, ${+periods.toFixed(1)} ${unit}s`}`, '']
  for (const [title, rows] of [['what it was doing', s.byActivity], ['process', s.byProcess], ['thread', s.byThread]] as const) {
    lines.push(`| ${title} | ms | %${per} |`, `| --- | --- | ---${sep} |`)
    for (const r of rows) lines.push(row(r.name, r.ms))
    lines.push('')
  }
  lines.push(`| leaf function | ms | %${per} |`, `| --- | --- | ---${sep} |`)
  for (const r of s.byFunction.slice(0, top)) lines.push(row(r.name.replace(/\|/g, '/'), r.ms))
  lines.push('', `| innermost JS function (with the builtins and natives it called) | ms | %${per} |`, `| --- | --- | ---${sep} |`)
  for (const r of s.byJsFunction.slice(0, top)) lines.push(row(r.name.replace(/\|/g, '/'), r.ms))
  return lines.join('\n')
}

if (process.argv[1] != null && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const args = process.argv.slice(2)
  const ti = args.indexOf('--top')
  const top = ti >= 0 ? Number(args[ti + 1]) : 30
  const file = args.find((a, i) => a !== '--top' && (ti < 0 || i !== ti + 1)) ?? 'perf.data'
  console.log(formatPerfSummary(await summarizePerf(file), undefined, top))
}
