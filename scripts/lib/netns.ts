/**
 * Real network partitions: each villager in its own Linux network namespace,
 * joined to the host by a veth pair on one bridge. A cut is a pair of blackhole
 * routes (packets vanish, as on a dead link: no reset, connections time out); a
 * heal removes them. Needs root and iproute2; the addresses are from 198.18.0.0/24,
 * the range set aside for benchmarking network devices, on links made here.
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

const run = promisify(execFile)

async function ip (...args: string[]): Promise<void> {
  await run('ip', args)
}

/** Why network namespaces cannot be used here, or undefined when they can. */
export async function netnsUnavailableReason (): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'root (run as root, or use the gater)'
  try {
    await run('ip', ['-V'])
  } catch {
    return 'iproute2 (`apt-get install iproute2`)'
  }
  const probe = `mtprobe${process.pid % 100000}`
  try {
    await ip('netns', 'add', probe)
    await ip('netns', 'del', probe)
  } catch (err: any) {
    return `permission to create network namespaces (${String(err.stderr ?? err.message).trim()})`
  }
  return undefined
}

export class NetnsLab {
  readonly bridge: string
  readonly hostIp = '198.18.0.1'
  private created = false

  constructor (readonly size: number, readonly prefix: string) {
    this.bridge = `${prefix}br`
  }

  ns (i: number): string { return `${this.prefix}v${i}` }
  ipOf (i: number): string { return `198.18.0.${i + 2}` }

  async create (): Promise<void> {
    await ip('link', 'add', this.bridge, 'type', 'bridge')
    this.created = true
    await ip('addr', 'add', `${this.hostIp}/24`, 'dev', this.bridge)
    await ip('link', 'set', this.bridge, 'up')
    for (let i = 0; i < this.size; i++) {
      const ns = this.ns(i)
      const host = `${this.prefix}h${i}`
      const inner = `${this.prefix}n${i}`
      await ip('netns', 'add', ns)
      await ip('link', 'add', host, 'type', 'veth', 'peer', 'name', inner)
      await ip('link', 'set', inner, 'netns', ns)
      await ip('link', 'set', host, 'master', this.bridge)
      await ip('link', 'set', host, 'up')
      await ip('netns', 'exec', ns, 'ip', 'addr', 'add', `${this.ipOf(i)}/24`, 'dev', inner)
      await ip('netns', 'exec', ns, 'ip', 'link', 'set', inner, 'up')
      await ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up')
    }
  }

  /** The command line that runs `argv` inside villager i's namespace. */
  wrap (i: number, argv: string[]): { command: string, args: string[] } {
    return { command: 'ip', args: ['netns', 'exec', this.ns(i), ...argv] }
  }

  /** Drop every packet between the two groups, both ways; the host (bootstrap, merchant) stays with `b`. */
  async cut (a: number[], b: number[]): Promise<void> {
    for (const x of a) await ip('netns', 'exec', this.ns(x), 'ip', 'route', 'replace', 'blackhole', `${this.hostIp}/32`)
    for (const x of a) {
      for (const y of b) {
        await ip('netns', 'exec', this.ns(x), 'ip', 'route', 'replace', 'blackhole', `${this.ipOf(y)}/32`)
        await ip('netns', 'exec', this.ns(y), 'ip', 'route', 'replace', 'blackhole', `${this.ipOf(x)}/32`)
      }
    }
  }

  async heal (): Promise<void> {
    for (let i = 0; i < this.size; i++) {
      await ip('netns', 'exec', this.ns(i), 'ip', 'route', 'flush', 'type', 'blackhole').catch(() => {})
    }
  }

  async destroy (): Promise<void> {
    for (let i = 0; i < this.size; i++) {
      await ip('netns', 'del', this.ns(i)).catch(() => {})
      await ip('link', 'del', `${this.prefix}h${i}`).catch(() => {})
    }
    if (this.created) await ip('link', 'del', this.bridge).catch(() => {})
  }
}
