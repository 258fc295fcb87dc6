/**
 * A town of OS processes on this machine (bootstrap, merchant, villagers), driven
 * through the villagers' control APIs: what the demo, the bank test and the
 * partition experiments share.
 */
import { request as httpRequest } from 'node:http'
import path from 'node:path'
import { Supervisor, type ManagedProcess } from './supervisor.js'

export const OCCUPATIONS = ['farmer', 'chef', 'carpenter'] as const

export interface LocalVillager {
  name: string
  occupation: string
  dataDir: string
  port: number
  url: string
  peerId: string
  proc?: ManagedProcess
  alive: boolean
}

export class ApiError extends Error {
  constructor (readonly code: string, message: string, readonly status: number) {
    super(message)
  }
}

/** Call a villager's control API, at http://127.0.0.1:PORT or on a Unix socket (unix:/path). */
export async function api (v: Pick<LocalVillager, 'url'>, method: string, route: string, body?: unknown, timeoutMs = 5_000): Promise<any> {
  const payload = body == null ? undefined : JSON.stringify(body)
  const { status, text } = await new Promise<{ status: number, text: string }>((resolve, reject) => {
    const target = v.url.startsWith('unix:') ? { socketPath: v.url.slice(5), path: route } : { host: new URL(v.url).hostname, port: new URL(v.url).port, path: route }
    const req = httpRequest({ ...target, method, headers: payload == null ? {} : { 'content-type': 'application/json' }, timeout: timeoutMs }, (res) => {
      let data = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { data += chunk })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: data }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`${method} ${route}: no answer in ${timeoutMs} ms`)))
    req.on('error', reject)
    req.end(payload)
  })
  const json: any = JSON.parse(text)
  if (status < 200 || status >= 300) throw new ApiError(json.error?.code ?? 'HTTP', json.error?.message ?? `HTTP ${status}`, status)
  return json
}

/** Poll `check` until it holds (errors count as "not yet") or `ms` pass. */
export async function until (check: () => Promise<boolean> | boolean, ms: number, intervalMs = 50): Promise<boolean> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    try { if (await check()) return true } catch { /* down or refusing: try again */ }
    await new Promise(resolve => setTimeout(resolve, intervalMs))
  }
  return false
}

export interface LocalTownOptions {
  town: string
  root: string
  villagers: number
  merchant?: boolean
  evictAfterMs?: number
  /** Extra arguments for every villager, e.g. ['--agent', 'heuristic']. */
  villagerArgs?: string[]
  /** Where the bootstrap peer and the merchant listen (default loopback). */
  hostIp?: string
  /** Per-villager placement: its listen address, its API socket, and a wrapper for its command line. */
  placement?: (v: LocalVillager, index: number) => { listen: string, apiSocket?: string, wrap?: (argv: string[]) => { command: string, args: string[] } }
  onLine?: (name: string, line: string, stream: 'stdout' | 'stderr') => void
}

export class LocalTown {
  readonly supervisor: Supervisor
  readonly villagers: LocalVillager[] = []
  bootstrapAddr = ''
  merchant?: ManagedProcess
  /** PeerIds of the bootstrap peer and the merchant: not villagers, but they relay gossip. */
  infrastructure: string[] = []

  constructor (readonly options: LocalTownOptions) {
    this.supervisor = new Supervisor(options.onLine)
  }

  async start (): Promise<this> {
    const { root, town } = this.options
    const host = this.options.hostIp ?? '127.0.0.1'
    const boot = this.supervisor.start('bootstrap', ['bootstrap', '--listen', `/ip4/${host}/tcp/0`, '--data-dir', path.join(root, 'bootstrap'), '--addrs-file', path.join(root, 'bootstrap.addrs')])
    const [addr] = await boot.waitForLine(new RegExp(`^/ip4/${host.replaceAll('.', '\\.')}/.*$`))
    this.bootstrapAddr = addr!
    this.infrastructure.push((await boot.waitForLine(/^PeerId: (\S+)/))[1]!)
    if (this.options.merchant !== false) {
      this.merchant = this.supervisor.start('merchant', ['merchant', '--town', town, '--listen', `/ip4/${host}/tcp/0`, '--bootstrap', this.bootstrapAddr, '--data-dir', path.join(root, 'merchant')])
      await this.merchant.waitForLine(/Prices/)
      this.infrastructure.push((await this.merchant.waitForLine(/^PeerId: (\S+)/))[1]!)
    }
    for (let i = 0; i < this.options.villagers; i++) {
      const name = `v${i + 1}`
      const v: LocalVillager = { name, occupation: OCCUPATIONS[i % 3]!, dataDir: path.join(root, name), port: 0, url: '', peerId: '', alive: false }
      this.villagers.push(v)
    }
    await Promise.all(this.villagers.map(async v => this.launch(v, true)))
    return this
  }

  /** Start (or restart, from its data dir and on its port) one villager process. */
  async launch (v: LocalVillager, first = false): Promise<void> {
    const place = this.options.placement?.(v, this.villagers.indexOf(v))
    const argv = ['villager', '--town', this.options.town, '--listen', place?.listen ?? '/ip4/127.0.0.1/tcp/0', '--bootstrap', this.bootstrapAddr,
      '--data-dir', v.dataDir, ...(place?.apiSocket != null ? ['--api-socket', place.apiSocket] : ['--api-port', String(v.port)]),
      '--evict-after', String(this.options.evictAfterMs ?? 30_000),
      ...(first ? ['--name', v.name, '--occupation', v.occupation] : []), ...(this.options.villagerArgs ?? [])]
    v.proc = this.supervisor.start(v.name, argv, {}, place?.wrap)
    const [, id] = await v.proc.waitForLine(/^PeerId: (\S+)/)
    const [, url] = await v.proc.waitForLine(/control API: ((?:http:\/\/|unix:)\S+)/)
    v.peerId = id!
    v.url = url!
    if (v.url.startsWith('http')) v.port = Number(new URL(v.url).port)
    v.alive = true
  }

  /** SIGKILL: no goodbye, no flush beyond what was already durable. */
  async kill (v: LocalVillager): Promise<void> {
    v.alive = false
    v.proc?.child.kill('SIGKILL')
    await v.proc?.exited
  }

  alive (): LocalVillager[] {
    return this.villagers.filter(v => v.alive)
  }

  async waitForMembers (count: number, ms = 60_000): Promise<boolean> {
    return until(async () => {
      for (const v of this.alive()) if ((await api(v, 'GET', '/time')).members !== count) return false
      return true
    }, ms)
  }

  /**
   * Cut every link between the groups, on both sides, through the gaters. The
   * bootstrap peer and the merchant stay with group `b`: they relay gossip, so a
   * group still linked to them is not cut off at all.
   */
  async cut (a: LocalVillager[], b: LocalVillager[]): Promise<void> {
    await Promise.all([
      ...a.flatMap(x => [...b.map(y => y.peerId), ...this.infrastructure].map(async id => api(x, 'POST', '/net/block', { peer: id }))),
      ...b.flatMap(y => a.map(async x => api(y, 'POST', '/net/block', { peer: x.peerId })))
    ])
  }

  async heal (): Promise<void> {
    await Promise.all(this.alive().map(async v => api(v, 'POST', '/net/heal')))
  }

  /** Sum of coins and of every item over the villagers. */
  async holdings (): Promise<Record<string, number>> {
    const total: Record<string, number> = { coins: 0 }
    for (const v of this.villagers) {
      const s = await api(v, 'GET', '/villager')
      total.coins! += s.coins
      for (const [item, n] of Object.entries(s.items as Record<string, number>)) total[item] = (total[item] ?? 0) + n
    }
    return total
  }

  /** Every trade in every journal, keyed initiator/id, with each side's status. */
  async journals (): Promise<Map<string, { initiator?: any, counterparty?: any }>> {
    const out = new Map<string, { initiator?: any, counterparty?: any }>()
    for (const v of this.villagers) {
      for (const t of [...await api(v, 'GET', '/trades'), ...await api(v, 'GET', '/mytrades')]) {
        const key = `${t.initiator}/${t.id}`
        out.set(key, { ...out.get(key), [t.role]: t })
      }
    }
    return out
  }

  async allTradesSettled (): Promise<boolean> {
    for (const sides of (await this.journals()).values()) {
      for (const t of [sides.initiator, sides.counterparty]) {
        if (t != null && (['proposed', 'received', 'accepted', 'confirming'].includes(t.status) || t.delivered !== true)) return false
      }
    }
    return true
  }

  async stop (): Promise<void> {
    await this.supervisor.stopAll()
  }
}

/** Check that trades settled alike on both sides and that holdings match `start`. */
export function checkConservation (start: Record<string, number>, end: Record<string, number>, journals: Map<string, { initiator?: any, counterparty?: any }>): string[] {
  const problems: string[] = []
  for (const key of new Set([...Object.keys(start), ...Object.keys(end)])) {
    if ((start[key] ?? 0) !== (end[key] ?? 0)) problems.push(`${key} not conserved: ${start[key]} -> ${end[key]}`)
  }
  for (const [key, sides] of journals) {
    const a = sides.initiator?.status
    const b = sides.counterparty?.status
    if (b != null && (a === 'committed') !== (b === 'committed')) problems.push(`trade ${key} settled differently: ${a} vs ${b}`)
    if (b == null && a === 'committed') problems.push(`trade ${key} committed by an initiator whose counterparty never saw it`)
  }
  return problems
}

/** One random trade through the two villagers' APIs; any step may be cut off by a kill. */
export async function randomTrade (alive: LocalVillager[], rnd: () => number, expiresIn = 6): Promise<void> {
  if (alive.length < 2) return
  const a = alive[Math.floor(rnd() * alive.length)]!
  const others = alive.filter(v => v !== a)
  const b = others[Math.floor(rnd() * others.length)]!
  const acceptIt = rnd() < 0.85
  const confirmIt = rnd() < 0.85
  let trade: any
  try {
    trade = await api(a, 'POST', '/trade/request', {
      target: b.name, item: rnd() < 0.5 ? 'seed' : 'wood', quantity: 1 + Math.floor(rnd() * 3), price: 1 + Math.floor(rnd() * 3),
      action: rnd() < 0.5 ? 'buy' : 'sell', expires_in: expiresIn
    })
  } catch { return }
  if (!await until(async () => (await api(b, 'GET', '/trades')).some((t: any) => t.id === trade.id), 2_000)) return
  try { await api(b, 'POST', acceptIt ? '/trade/accept' : '/trade/reject', { trade_id: trade.id }) } catch { return }
  if (!acceptIt) return
  if (!await until(async () => (await api(a, 'GET', '/mytrades')).some((t: any) => t.id === trade.id && t.status === 'accepted'), 2_000)) return
  try { await api(a, 'POST', confirmIt ? '/trade/confirm' : '/trade/cancel', { trade_id: trade.id }) } catch { /* the journals settle it */ }
}

/** Stock every villager up from the merchant so that there are goods to trade. */
export async function stockUp (town: LocalTown): Promise<void> {
  for (const v of town.villagers) {
    await until(async () => { await api(v, 'POST', '/action/buy', { item: 'seed', quantity: 12 }); return true }, 30_000)
    await api(v, 'POST', '/action/buy', { item: 'wood', quantity: 8 })
  }
}

