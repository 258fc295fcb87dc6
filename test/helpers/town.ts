import type { Logger } from '../../src/node/logger.js'
import type { MeshPeer } from '../../src/node/peer.js'
import { createMerchant, type MerchantService } from '../../src/protocols/merchant/index.js'
import type { Occupation, TownTime } from '../../src/town/rules.js'
import type { VillagerService } from '../../src/town/villager-service.js'
import type { TradeService } from '../../src/protocols/trade/index.js'
import type { MessagingService } from '../../src/protocols/messaging/index.js'
import { startVillagerNode, type VillagerNode } from '../../src/town/villager-node.js'
import { PeerPool, waitFor } from './peers.js'

export interface TestVillager {
  name: string
  peer: MeshPeer
  service: VillagerService
  trades: TradeService
  messaging: MessagingService
  node: VillagerNode
  dataDir: string
}

export interface TownOptions {
  town?: string
  villagers: Array<{ name: string, occupation: Occupation }>
  merchant?: boolean
  evictAfterMs?: number
  republishIntervalMs?: number
  /** Whether villagers hand their votes to the day's relay (the default) or flood them. */
  relayVotes?: boolean
  relayHoldMs?: number
  settleIntervalMs?: number
  /** How long after its start each villager waits for a merchant that may be connecting. */
  merchantWaitMs?: number
  /** Each villager's logger, by name (default: silent). */
  logger?: (name: string) => Logger
}

/**
 * A town in one process: a bootstrap peer, an optional merchant, and villager
 * peers over real TCP, each with its own LevelDB data dir.
 */
export class TestTown {
  readonly pool = new PeerPool()
  readonly villagers: TestVillager[] = []
  town = 'testtown'
  bootstrapAddr = ''
  merchant?: { peer: MeshPeer, service: MerchantService }
  private options!: TownOptions

  async start (options: TownOptions): Promise<this> {
    this.options = options
    this.town = options.town ?? this.town
    const boot = await this.pool.create()
    this.bootstrapAddr = boot.addresses()[0]!
    if (options.merchant === true) {
      const peer = await this.pool.create({ town: this.town, bootstrap: [this.bootstrapAddr] })
      const service = createMerchant(peer)
      await service.start()
      this.merchant = { peer, service }
    }
    for (const v of options.villagers) await this.addVillager(v.name, v.occupation)
    return this
  }

  async addVillager (name: string, occupation: Occupation, dataDir?: string, clock: Pick<TownOptions, 'republishIntervalMs' | 'relayVotes' | 'relayHoldMs'> = {}): Promise<TestVillager> {
    const dir = dataDir ?? await this.pool.dir()
    const peer = await this.pool.create({ dataDir: dir, town: this.town, bootstrap: [this.bootstrapAddr], logger: this.options.logger?.(name) })
    const node = await startVillagerNode(peer, {
      town: this.town,
      evictAfterMs: this.options.evictAfterMs,
      republishIntervalMs: clock.republishIntervalMs ?? this.options.republishIntervalMs ?? 200,
      relayVotes: clock.relayVotes ?? this.options.relayVotes,
      relayHoldMs: clock.relayHoldMs ?? this.options.relayHoldMs,
      settleIntervalMs: this.options.settleIntervalMs ?? 200,
      merchantWaitMs: this.options.merchantWaitMs
    })
    const service = node.villager
    if (service.villager == null) await service.create({ name, occupation, gender: 'female', personality: 'steady' })
    const v = { name, peer, service, trades: node.trades, messaging: node.messaging, node, dataDir: dir }
    this.villagers.push(v)
    return v
  }

  /** Stop a villager's peer (as a crash would leave it: no goodbye). */
  async stopVillager (v: TestVillager): Promise<void> {
    await v.node.stop()
    await this.pool.stop(v.peer)
    this.villagers.splice(this.villagers.indexOf(v), 1)
  }

  /** A crash: the villager's peer goes first (nothing more leaves it), then its services' timers. */
  async crashVillager (v: TestVillager): Promise<void> {
    await this.pool.stop(v.peer)
    await v.node.stop().catch(() => {})
    this.villagers.splice(this.villagers.indexOf(v), 1)
  }

  async restartVillager (v: TestVillager, clock: Pick<TownOptions, 'republishIntervalMs' | 'relayVotes' | 'relayHoldMs'> = {}): Promise<TestVillager> {
    await this.stopVillager(v)
    return this.addVillager(v.name, v.service.villager!.occupation, v.dataDir, clock)
  }

  get(name: string): TestVillager {
    const v = this.villagers.find(x => x.name === name)
    if (v == null) throw new Error(`no villager ${name}`)
    return v
  }

  time (v: TestVillager): TownTime | undefined {
    return v.service.clock?.time()
  }

  members (v: TestVillager): string[] {
    const state = v.service.clock?.state
    return state == null ? [] : Object.values(state.view).map(m => m.name).sort()
  }

  /** Wait until every listed villager sees exactly `names` as the town's members. */
  async waitForMembers (names: string[], among: TestVillager[] = this.villagers, timeoutMs = 40_000): Promise<void> {
    const want = [...names].sort().join(',')
    await waitFor(() => among.every(v => this.members(v).join(',') === want), timeoutMs,
      () => `members ${want}; have ${among.map(v => `${v.name}:[${this.members(v).join(',')}]`).join(' ')}`)
  }

  async waitForTime (time: TownTime, among: TestVillager[] = this.villagers, timeoutMs = 20_000): Promise<void> {
    await waitFor(() => among.every(v => { const t = this.time(v); return t?.day === time.day && t.period === time.period }), timeoutMs,
      () => `day ${time.day} ${time.period}; have ${among.map(v => `${v.name}:${JSON.stringify(this.time(v))}`).join(' ')}`)
  }

  async stop (): Promise<void> {
    for (const v of this.villagers) await v.node.stop()
    await this.merchant?.service.stop()
    await this.pool.cleanup()
  }
}
