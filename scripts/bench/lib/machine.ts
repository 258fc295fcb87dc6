import { execFileSync } from 'node:child_process'
import os from 'node:os'

export interface Machine {
  nproc: number
  memoryGB: number
  cpuModel: string
  node: string
  platform: string
  date: string
  loadAtStart: number[]
}

export function machine (): Machine {
  let nproc = os.availableParallelism()
  try { nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim()) } catch {}
  return {
    nproc,
    memoryGB: os.totalmem() / 1024 ** 3,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    date: new Date().toISOString(),
    loadAtStart: os.loadavg()
  }
}

/** Samples the 1-minute load average every `everyMs` while benchmarks run (other engineers share this machine). */
export class LoadSampler {
  readonly samples: Array<{ t: string, label: string, load1: number }> = []
  private timer?: ReturnType<typeof setInterval>
  label = ''

  start (everyMs = 10_000): void {
    this.sample()
    this.timer = setInterval(() => { this.sample() }, everyMs)
    this.timer.unref()
  }

  sample (): void {
    this.samples.push({ t: new Date().toISOString(), label: this.label, load1: os.loadavg()[0]! })
  }

  stop (): void {
    clearInterval(this.timer)
    this.sample()
  }

  /** Load samples taken while `label` ran. */
  during (label: string): number[] {
    return this.samples.filter(s => s.label === label).map(s => s.load1)
  }
}

/** What else was busy on the machine: the heaviest processes not started by this harness. */
export function otherLoad (ownPids: Set<number>): string[] {
  try {
    const out = execFileSync('ps', ['-eo', 'pid,ppid,pcpu,comm,args', '--sort=-pcpu'], { encoding: 'utf8' })
    return out.split('\n').slice(1).filter(l => l.trim() !== '').map(l => l.trim().split(/\s+/)).filter(f => !ownPids.has(Number(f[0])) && !ownPids.has(Number(f[1])) && Number(f[2]) >= 5 && !f.join(' ').includes('scripts/bench')).slice(0, 6).map(f => `${f[2]}% ${f.slice(4).join(' ').slice(0, 90)}`)
  } catch { return [] }
}
