/**
 * Bench children: each benchmark process (a Meshtown node, a baseline villager,
 * the baseline coordinator) speaks JSON lines: events out on stdout prefixed
 * with "@@", commands in on stdin. A child whose stdin closes exits, so a
 * harness that dies leaves nothing running; the harness also kills every child
 * it started, by pid, on exit.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { nowMs } from './stats.js'
import { MANY_PEERS_NODE_FLAGS, missingNodeFlags, NODE_FLAGS } from '../../node-flags.mjs'

/** Node flags given in an environment variable of a probe (NODE_ARGS, NODE_ARGS_A...), space-separated. */
export function nodeArgsFrom (value: string | undefined): string[] | undefined {
  return value?.split(' ').filter(a => a !== '')
}

export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const ROOT = path.resolve(BENCH_DIR, '..', '..')

const PREFIX = '@@'
const live = new Set<Child>()
let hooked = false

function hookExit (): void {
  if (hooked) return
  hooked = true
  process.once('exit', () => { for (const c of live) c.kill('SIGKILL') })
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const c of live) c.kill('SIGKILL')
      process.exit(130)
    })
  }
}

export interface ChildEvent {
  ev: string
  [key: string]: any
}

/**
 * Bench children run bundled, as `meshtown` runs from dist/meshtown.mjs (see
 * scripts/build.mjs): the same loading cost and memory a user's process has.
 * Built once per harness run, before any child starts.
 */
const bundles = new Map<string, string>()

export async function prepareBundles (scripts: string[] = ['mesh-node.ts', 'room-run.ts', 'baseline/coordinator.ts', 'baseline/villager.ts']): Promise<void> {
  // @ts-expect-error a plain ES module shared with bin/meshtown.js, without types
  const { bundle } = await import('../../build.mjs') as { bundle: (o: { entry: string, outfile: string }) => Promise<string> }
  await Promise.all(scripts.map(async (script) => {
    const outfile = path.join(ROOT, 'dist', 'bench', script.replace(/\.ts$/, '.mjs'))
    await mkdir(path.dirname(outfile), { recursive: true })
    bundles.set(script, await bundle({ entry: path.resolve(BENCH_DIR, script), outfile }))
  }))
}

function bundled (script: string): string {
  const file = bundles.get(script)
  if (file == null) throw new Error(`${script} is not bundled: call prepareBundles() first (or spawn with fromSource)`)
  return file
}

export interface SpawnOptions {
  /** Run the TypeScript source through tsx instead of the bundle. */
  fromSource?: boolean
  /** Run this bundle instead of the one built from this checkout (A/B probes against another build); '' means this checkout's. */
  bundle?: string
  /** Extra node flags (e.g. --cpu-prof). */
  nodeArgs?: string[]
  env?: Record<string, string>
  /** Called for each event as it arrives. */
  onEvent?: (e: ChildEvent) => void
  /** Print the child's stderr (debugging). */
  verbose?: boolean
}

export class Child {
  readonly events: ChildEvent[] = []
  readonly proc: ChildProcess
  readonly startedAt: number
  readonly exited: Promise<number | null>
  readonly stderrTail: string[] = []
  private readonly waiters = new Set<{ pred: (e: ChildEvent) => boolean, resolve: (e: ChildEvent) => void }>()
  exitCode: number | null | undefined

  constructor (readonly name: string, script: string, args: string[], options: SpawnOptions = {}) {
    hookExit()
    this.startedAt = nowMs()
    // profiles are read by package and file: those need the sources, not one bundle
    const entry = options.bundle != null && options.bundle !== ''
      ? [options.bundle]
      : (options.fromSource ?? process.env.BENCH_FROM_SOURCE === '1') ? ['--import', 'tsx', path.resolve(BENCH_DIR, script)] : [bundled(script)]
    // Meshtown's processes start as `meshtown` does (bin/meshtown.js): with its node flags (a flag given here
    // wins) and node's compile cache in the temp dir. The baseline's start with node's defaults.
    const meshtown = !script.startsWith('baseline/')
    // room-run.ts is `meshtown room run`: a whole room of peers in one process
    const flags = script === 'room-run.ts' ? MANY_PEERS_NODE_FLAGS : NODE_FLAGS
    const nodeArgs = [...(options.nodeArgs ?? []), ...(meshtown ? missingNodeFlags(options.nodeArgs ?? [], undefined, flags) : [])]
    const compileCache = meshtown && process.env.NODE_COMPILE_CACHE == null ? { NODE_COMPILE_CACHE: path.join(tmpdir(), 'node-compile-cache') } : {}
    this.proc = spawn(process.execPath, [...nodeArgs, ...entry, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...compileCache, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe']
    })
    live.add(this)
    this.exited = new Promise(resolve => {
      this.proc.on('exit', (code, signal) => {
        live.delete(this)
        this.exitCode = code ?? (signal != null ? -1 : null)
        resolve(this.exitCode)
      })
    })
    this.proc.stdin!.on('error', () => {})
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      if (!line.startsWith(PREFIX)) return
      let e: ChildEvent
      try { e = JSON.parse(line.slice(PREFIX.length)) } catch { return }
      this.events.push(e)
      options.onEvent?.(e)
      for (const w of [...this.waiters]) {
        if (w.pred(e)) { this.waiters.delete(w); w.resolve(e) }
      }
    })
    createInterface({ input: this.proc.stderr! }).on('line', (line) => {
      if (options.verbose === true) process.stderr.write(`[${name}] ${line}\n`)
      this.stderrTail.push(line)
      if (this.stderrTail.length > 40) this.stderrTail.shift()
    })
  }

  get pid (): number {
    return this.proc.pid ?? -1
  }

  get alive (): boolean {
    return this.exitCode === undefined
  }

  send (cmd: Record<string, unknown>): void {
    if (!this.alive) return
    this.proc.stdin!.write(JSON.stringify(cmd) + '\n')
  }

  /** The first event (already seen or to come) matching `pred`, within `timeoutMs`. */
  async waitFor (pred: (e: ChildEvent) => boolean, timeoutMs: number, what = 'event'): Promise<ChildEvent> {
    const seen = this.events.find(pred)
    if (seen != null) return seen
    return new Promise((resolve, reject) => {
      const w = {
        pred,
        resolve: (e: ChildEvent) => { clearTimeout(timer); resolve(e) }
      }
      const timer = setTimeout(() => {
        this.waiters.delete(w)
        reject(new Error(`${this.name}: no ${what} within ${timeoutMs} ms${this.stderrTail.length > 0 ? `; stderr: ${this.stderrTail.slice(-5).join(' | ')}` : ''}`))
      }, timeoutMs)
      this.waiters.add(w)
      void this.exited.then(code => {
        if (!this.waiters.has(w)) return
        this.waiters.delete(w)
        clearTimeout(timer)
        reject(new Error(`${this.name} exited (${code}) before ${what}; stderr: ${this.stderrTail.slice(-8).join(' | ')}`))
      })
    })
  }

  /** Send a command and wait for the event that answers it. */
  async ask (cmd: Record<string, unknown>, ev: string, timeoutMs: number): Promise<ChildEvent> {
    const after = this.events.length
    const answer = new Promise<ChildEvent>((resolve, reject) => {
      const check = (e: ChildEvent): boolean => e.ev === ev && this.events.indexOf(e) >= after
      this.waitFor(check, timeoutMs, `"${ev}" answer`).then(resolve, reject)
    })
    this.send(cmd)
    return answer
  }

  kill (signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.alive && this.proc.pid != null) {
      try { process.kill(this.proc.pid, signal) } catch {}
    }
  }

  /** Ask politely (stdin closed), then SIGKILL after `graceMs`. */
  async stop (graceMs = 3_000): Promise<void> {
    if (!this.alive) return
    this.send({ cmd: 'exit' })
    this.proc.stdin!.end()
    const timer = setTimeout(() => { this.kill('SIGKILL') }, graceMs)
    await this.exited
    clearTimeout(timer)
  }
}

export async function stopAll (children: Iterable<Child>, graceMs = 3_000): Promise<void> {
  await Promise.all([...children].map(async c => c.stop(graceMs)))
}

// ---------------------------------------------------------------------------------------
// child side

/** Write one event for the harness. */
export function emit (e: ChildEvent): void {
  process.stdout.write(PREFIX + JSON.stringify(e) + '\n')
}

/** Read commands from the harness; exit on {"cmd":"exit"} or when the harness goes away. */
export function onCommands (handler: (cmd: any) => void | Promise<void>, onEnd: () => Promise<void> | void = () => {}): void {
  const rl = createInterface({ input: process.stdin })
  let ending = false
  const end = (): void => {
    if (ending) return
    ending = true
    const hard = setTimeout(() => process.exit(0), 3_000)
    hard.unref()
    Promise.resolve().then(onEnd).catch(() => {}).finally(() => process.exit(0))
  }
  rl.on('line', (line) => {
    let cmd: any
    try { cmd = JSON.parse(line) } catch { return }
    if (cmd?.cmd === 'exit') { end(); return }
    Promise.resolve(handler(cmd)).catch((err: any) => { emit({ ev: 'error', message: String(err?.stack ?? err) }) })
  })
  rl.on('close', end)
}

/** Parse `--key value` pairs (and bare `--flag`) from argv. */
export function parseArgs (argv: string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (!a.startsWith('--')) continue
    const next = argv[i + 1]
    if (next == null || next.startsWith('--')) out[a.slice(2)] = 'true'
    else { out[a.slice(2)] = next; i++ }
  }
  return out
}

export function sleep (ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms))
}
