import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
export const MESHTOWN_BIN = path.join(ROOT, 'bin', 'meshtown.js')

export interface ManagedProcess {
  name: string
  child: ChildProcess
  /** Resolves with the first stdout line matching the pattern. */
  waitForLine: (pattern: RegExp, timeoutMs?: number) => Promise<RegExpMatchArray>
  exited: Promise<number | null>
}

/**
 * Starts `meshtown` subcommands as OS processes and stops every one of them on
 * exit, Ctrl-C or error, so a demo never leaves orphans or bound ports behind.
 */
export class Supervisor {
  private readonly procs: ManagedProcess[] = []
  private stopping = false

  constructor (private readonly onLine: (name: string, line: string, stream: 'stdout' | 'stderr') => void = () => {}) {
    const onSignal = (): void => { void this.stopAll().then(() => process.exit(130)) }
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
    process.once('exit', () => { for (const p of this.procs) p.child.kill('SIGKILL') })
  }

  /**
   * Start `meshtown ARGS` as `name`; `wrap` turns the node command line into
   * another (say, the same inside a network namespace).
   */
  start (name: string, args: string[], env: Record<string, string | undefined> = {}, wrap?: (argv: string[]) => { command: string, args: string[] }): ManagedProcess {
    const argv = [process.execPath, MESHTOWN_BIN, ...args]
    const cmd = wrap == null ? { command: argv[0]!, args: argv.slice(1) } : wrap(argv)
    const child = spawn(cmd.command, cmd.args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    const lines: string[] = []
    const waiters: Array<{ pattern: RegExp, resolve: (m: RegExpMatchArray) => void }> = []
    const feed = (stream: 'stdout' | 'stderr'): (chunk: Buffer) => void => {
      let partial = ''
      return (chunk) => {
        partial += chunk.toString()
        const parts = partial.split('\n')
        partial = parts.pop() ?? ''
        for (const line of parts) {
          this.onLine(name, line, stream)
          if (stream !== 'stdout') continue
          lines.push(line)
          for (const w of [...waiters]) {
            const m = line.match(w.pattern)
            if (m != null) { waiters.splice(waiters.indexOf(w), 1); w.resolve(m) }
          }
        }
      }
    }
    child.stdout!.on('data', feed('stdout'))
    child.stderr!.on('data', feed('stderr'))
    const exited = new Promise<number | null>(resolve => child.on('exit', code => resolve(code)))
    const proc: ManagedProcess = {
      name,
      child,
      exited,
      waitForLine: async (pattern, timeoutMs = 30_000) => {
        const seen = lines.map(l => l.match(pattern)).find(m => m != null)
        if (seen != null) return seen
        return new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`${name}: no line matching ${pattern} within ${timeoutMs} ms`)), timeoutMs)
          waiters.push({ pattern, resolve: (m) => { clearTimeout(timer); resolve(m) } })
          void exited.then(code => { clearTimeout(timer); reject(new Error(`${name} exited (${code}) before printing ${pattern}`)) })
        })
      }
    }
    this.procs.push(proc)
    return proc
  }

  /** SIGINT everyone (a graceful stop), SIGKILL whoever is still up after the grace period. */
  async stopAll (graceMs = 10_000): Promise<void> {
    if (this.stopping) return
    this.stopping = true
    const alive = this.procs.filter(p => p.child.exitCode === null && p.child.signalCode === null)
    for (const p of alive) p.child.kill('SIGINT')
    const timer = setTimeout(() => { for (const p of alive) p.child.kill('SIGKILL') }, graceMs)
    await Promise.all(alive.map(async p => p.exited))
    clearTimeout(timer)
  }
}
