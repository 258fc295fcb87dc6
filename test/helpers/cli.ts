import { spawn, type ChildProcess } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { waitFor } from './peers.js'
import { MANY_PEERS_NODE_FLAGS, NODE_FLAGS } from '../../scripts/node-flags.mjs'

export const MESHTOWN_BIN = path.resolve('bin', 'meshtown.js')

/** A `meshtown` OS process with its output collected, for driving the real CLI in tests. */
export class CliProcess {
  readonly child: ChildProcess
  stdout = ''
  stderr = ''
  exitCode: number | null = null
  signal: NodeJS.Signals | null = null
  readonly exited: Promise<void>

  /** `node` and `nodeArgs`: the node binary that runs `bin/meshtown.js` (the test runner's by default) and its own flags. */
  constructor (args: string[], env: Record<string, string | undefined> = {}, { node = process.execPath, nodeArgs = [] as string[] } = {}) {
    this.child = spawn(node, [...nodeArgs, MESHTOWN_BIN, ...args], {
      env: { ...process.env, MESHTOWN_BOOTSTRAP: undefined, ...env },
      stdio: ['pipe', 'pipe', 'pipe']
    })
    this.child.stdout!.on('data', (d) => { this.stdout += String(d) })
    this.child.stderr!.on('data', (d) => { this.stderr += String(d) })
    this.exited = new Promise(resolve => {
      this.child.on('exit', (code, signal) => { this.exitCode = code; this.signal = signal; resolve() })
    })
  }

  get running (): boolean {
    return this.exitCode === null && this.signal === null
  }

  async waitForOutput (pattern: RegExp, timeoutMs = 20_000, stream: 'stdout' | 'stderr' = 'stdout'): Promise<RegExpMatchArray> {
    let match: RegExpMatchArray | null = null
    await waitFor(() => {
      match = this[stream].match(pattern)
      if (match == null && !this.running) throw new Error(`process exited (${this.exitCode ?? this.signal}) before printing ${pattern}\nstdout: ${this.stdout}\nstderr: ${this.stderr}`)
      return match != null
    }, timeoutMs, `${stream} to match ${pattern}`)
    return match!
  }

  async waitForExit (timeoutMs = 20_000): Promise<number | null> {
    await waitFor(() => !this.running, timeoutMs, 'process exit')
    return this.exitCode
  }

  /** Graceful stop, as Ctrl-C would. */
  async interrupt (timeoutMs = 20_000): Promise<number | null> {
    if (this.running) this.child.kill('SIGINT')
    return this.waitForExit(timeoutMs)
  }

  kill (): void {
    if (this.running) this.child.kill('SIGKILL')
  }
}

/** Run to completion and return its exit code and output. */
export async function runCli (args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 30_000): Promise<CliProcess> {
  const p = new CliProcess(args, env)
  try {
    await p.waitForExit(timeoutMs)
  } finally {
    p.kill()
  }
  return p
}

const meshtownFlagNames = new Set([...NODE_FLAGS, ...MANY_PEERS_NODE_FLAGS].map(f => f.split('=')[0]))

/** The pids of a process's children (Linux /proc). */
export async function childPidsOf (pid: number): Promise<number[]> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '')
  return text.split(/\s+/).filter(Boolean).map(Number)
}

/** The node flags of a running process (Linux /proc) that meshtown may set itself, in their order. */
export async function meshtownNodeFlagsOf (pid: number): Promise<string[]> {
  return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(a => meshtownFlagNames.has(a.split('=')[0]!))
}
