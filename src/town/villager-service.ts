import { randomBytes } from 'node:crypto'
import { Key } from 'interface-datastore'
import { TypedEventEmitter } from 'main-event'
import PQueue from 'p-queue'
import pRetry from 'p-retry'
import { z } from 'zod'
import type { MeshPeer } from '../node/peer.js'
import { ClockService, ClockError, type AdvanceEvent } from '../protocols/clock/clock-service.js'
import { VoteSchema } from '../protocols/clock/codec.js'
import type { PeerId } from '@libp2p/interface'
import { findMerchant, merchantClient, waitForMerchant, type OrderResult, type PriceTable } from '../protocols/merchant/index.js'
import { RemoteError, WireError, decodeJson, encodeJson } from '../protocols/wire.js'
import { LIMITS } from './constants.js'
import {
  applyPeriodAction, buyFromMerchant, comparePeriods, createVillager, eat, endOfDay, ITEMS, OCCUPATIONS, sellToMerchant,
  type Item, type PeriodAction, type RuleEffect, type TownTime, type VillagerProfile, type VillagerState
} from './rules.js'

/** A refusal a person can act on: a stable code, an HTTP-ish status and a sentence. */
export class VillagerError extends Error {
  override name = 'VillagerError'
  constructor (readonly code: string, readonly status: number, message: string) {
    super(message)
  }
}

export interface VillagerServiceInit {
  town: string
  evictAfterMs?: number
  republishIntervalMs?: number
  /** Hand this villager's votes to the period's relay (on by default; protocols/clock/relay.ts). */
  relayVotes?: boolean
  relayHoldMs?: number
  /** How long after its start the villager waits for a merchant that may still be connecting (default 5 s). */
  merchantWaitMs?: number
}

const InventorySchema = z.strictObject(Object.fromEntries(ITEMS.map(i => [i, z.number().int().min(0)])) as Record<Item, z.ZodNumber>)
const VillagerStateSchema = z.strictObject({
  name: z.string(), occupation: z.enum(OCCUPATIONS), gender: z.string(), personality: z.string(),
  stamina: z.number().int().min(0).max(100), coins: z.number().int().min(0), items: InventorySchema
})
const PendingOrderSchema = z.strictObject({ requestId: z.string(), op: z.enum(['buy', 'sell']), item: z.enum(ITEMS), quantity: z.number().int().positive() })
const RecordSchema = z.strictObject({
  villager: VillagerStateSchema,
  /** Hunger has been taken for every day up to this one. */
  fedThroughDay: z.number().int().min(0),
  /** Our latest vote, kept with the action's effects so a restart re-publishes it. */
  lastVote: VoteSchema.nullable(),
  /** A merchant order sent but not settled yet: retried with the same id after a restart. */
  pendingOrder: PendingOrderSchema.nullable()
})
type VillagerRecord = z.infer<typeof RecordSchema>
type PendingOrder = z.infer<typeof PendingOrderSchema>

const RECORD_KEY = new Key('/meshtown/villager')
const MERCHANT_WAIT_MS = 5_000
/** Merchant requests are idempotent: one whose stream was lost (a reconnect, a busy peer) is sent again. */
const RETRY_LOST_STREAMS = { retries: 3, minTimeout: 100, maxTimeout: 1_000, shouldRetry: ({ error }: { error: Error }) => error instanceof WireError }

/** One change of a villager's state, with what must be written with it. */
export interface Transaction<T> {
  villager?: VillagerState
  puts?: Array<[Key, Uint8Array]>
  result: T
  /** Runs once the write is durable, in the order the transactions were made. */
  commit?: () => void
  /**
   * false: a write whose loss in a crash costs nothing but a repeated message (a
   * trade's "delivered" flag). It is synced only when it shares a group with
   * writes that must be. Default true.
   */
  sync?: boolean
  /**
   * Runs once the change is computed and queued for the next group write, before
   * it is durable: for a message that may leave while its write is on its way.
   */
  queued?: () => void
}

/** One change waiting for the next group write. */
interface PendingWrite {
  record: VillagerRecord
  puts: Array<[Key, Uint8Array]>
  sync: boolean
  changed: boolean
  commit?: () => void
  resolve: () => void
  reject: (err: Error) => void
}

export interface ActionOutcome {
  effect: RuleEffect
  villager: VillagerState
  time: TownTime
}

export interface VillagerEvents {
  change: CustomEvent<VillagerState>
  advance: CustomEvent<AdvanceEvent>
}

/**
 * One villager: its own state (durable in its data dir before any answer), the
 * rules applied to it, its votes on the town's clock, and its orders with the
 * merchant. Every change goes through one queue, so two requests can never
 * spend the same coin.
 */
export class VillagerService extends TypedEventEmitter<VillagerEvents> {
  readonly town: string
  private readonly peer: MeshPeer
  private readonly init: VillagerServiceInit
  private readonly queue = new PQueue({ concurrency: 1 })
  /** The durable state: what anyone outside is shown. */
  private record?: VillagerRecord
  /** The newest state, with changes whose write is not durable yet; changes are computed on it. */
  private latest?: VillagerRecord
  private group: PendingWrite[] = []
  private flushing?: Promise<void>
  private clockService?: ClockService
  private knownPrices?: PriceTable
  private merchantWait?: Promise<PeerId>
  private startedAt = 0
  /** Waits for a merchant begun (each caller in the meantime shares the one under way). */
  merchantWaits = 0
  private started = false

  constructor (peer: MeshPeer, init: VillagerServiceInit) {
    super()
    this.peer = peer
    this.town = init.town
    this.init = init
  }

  get villager (): VillagerState | undefined {
    return this.record?.villager
  }

  /** The town's clock; present once this peer is a villager. */
  get clock (): ClockService | undefined {
    return this.clockService
  }

  async start (): Promise<void> {
    this.started = true
    this.startedAt = Date.now()
    this.record = await this.load()
    this.latest = this.record
    if (this.record != null) await this.startClock()
  }

  async stop (): Promise<void> {
    this.started = false
    await this.queue.onIdle()
    await this.durable()
    await this.clockService?.stop()
  }

  /** Create this peer's villager; refused when it already has one (a data dir is one villager). */
  async create (profile: VillagerProfile): Promise<VillagerState> {
    return this.queue.add(async () => {
      if (this.record != null) {
        throw new VillagerError('ALREADY_CREATED', 409, `this peer is already ${this.record.villager.name} the ${this.record.villager.occupation}; one data dir holds one villager`)
      }
      const created = createVillager(profile)
      if (!created.ok) throw new VillagerError(created.code, 400, created.message)
      const record: VillagerRecord = { villager: created.state, fedThroughDay: 0, lastVote: null, pendingOrder: null }
      await this.write(record, [], { changed: false })
      await this.startClock()
      this.emitChange()
      return created.state
    })
  }

  /** The period's action: applied, made durable with its vote, then the vote is published. */
  async act (action: PeriodAction): Promise<ActionOutcome> {
    // wholly inside the queue, vote included: two acts must never sign two votes for one period
    return this.queue.add(async () => {
      const record = this.requireLatest()
      const clock = this.clockService!
      const time = clock.time()
      if (time == null) throw new VillagerError('NOT_SYNCED', 503, `the time of ${this.town} is not known yet: waiting for a town peer`)
      let vote
      try {
        // the record, not only the clock, says whether this period's vote is cast: after a crash the
        // saved time can be older than the record, and the town then tells us a period we acted in
        const cast = record.lastVote
        if (cast != null && comparePeriods(cast, time) === 0) {
          void this.resubmitLastVote()
          throw clock.alreadyActed()
        }
        vote = await clock.prepareVote(action)
      } catch (err) {
        if (err instanceof ClockError) throw new VillagerError(err.code, 409, err.message)
        throw err
      }
      const result = applyPeriodAction(record.villager, action, time.period)
      if (!result.ok) throw new VillagerError(result.code, 422, result.message)
      const next: VillagerRecord = { ...record, villager: result.state, lastVote: vote }
      await this.write(next, [], { base: record })
      await clock.submitVote(vote)
      return { effect: result.effect, villager: result.state, time }
    })
  }

  async eat (quantity = 1): Promise<ActionOutcome> {
    return this.queue.add(async () => {
      const record = this.requireLatest()
      const result = eat(record.villager, quantity)
      if (!result.ok) throw new VillagerError(result.code, 422, result.message)
      await this.write({ ...record, villager: result.state }, [], { base: record })
      return { effect: result.effect, villager: result.state, time: this.currentTime() }
    })
  }

  async prices (): Promise<PriceTable> {
    const merchant = await this.merchant()
    try {
      const client = merchantClient(this.peer.libp2p)
      this.knownPrices = await pRetry(async () => client.prices(merchant), RETRY_LOST_STREAMS)
      return this.knownPrices
    } catch (err) {
      throw this.merchantFailure(err)
    }
  }

  /**
   * Buy from or sell to the merchant. The order is written down before it is sent
   * and settled with the same request id after a crash, so it is applied once.
   */
  async trade (op: 'buy' | 'sell', item: Item, quantity: number): Promise<ActionOutcome & { order: OrderResult }> {
    return this.queue.add(async () => {
      const record = this.requireLatest()
      if (!Number.isSafeInteger(quantity) || quantity < 1 || quantity > LIMITS.maxOrderQuantity) {
        throw new VillagerError('INVALID_QUANTITY', 400, `quantity must be a whole number from 1 to ${LIMITS.maxOrderQuantity}, got ${quantity}`)
      }
      // check against the published prices first, so a hopeless order is never sent
      const prices = this.knownPrices ?? await this.prices()
      const precheck = op === 'buy' ? buyFromMerchant(record.villager, item, quantity, prices) : sellToMerchant(record.villager, item, quantity, prices)
      if (!precheck.ok) throw new VillagerError(precheck.code, 422, precheck.message)
      const order: PendingOrder = { requestId: randomBytes(12).toString('base64url'), op, item, quantity }
      await this.write({ ...record, pendingOrder: order }, [], { base: record, changed: false })
      return this.settle(order)
    })
  }

  currentTime (): TownTime {
    return this.clockService?.time() ?? { day: 1, period: 'morning' }
  }

  // -------------------------------------------------------------------------------------

  private async settle (order: PendingOrder): Promise<ActionOutcome & { order: OrderResult }> {
    const merchant = await this.merchant()
    let result: OrderResult
    try {
      const client = merchantClient(this.peer.libp2p)
      // the order is idempotent by its id: a stream lost to a reconnect is simply sent again
      result = await pRetry(async () => order.op === 'buy'
        ? await client.buy(merchant, order.requestId, order.item, order.quantity)
        : await client.sell(merchant, order.requestId, order.item, order.quantity), RETRY_LOST_STREAMS)
    } catch (err) {
      if (err instanceof RemoteError) {
        // refused: nothing happened at the merchant; forget the order
        const record = this.requireLatest()
        await this.write({ ...record, pendingOrder: null }, [], { base: record, changed: false })
      }
      throw this.merchantFailure(err)
    }
    const record = this.requireLatest()
    const prices = { sells: { [order.item]: result.unitPrice }, buys: { [order.item]: result.unitPrice } }
    const applied = order.op === 'buy'
      ? buyFromMerchant(record.villager, order.item, order.quantity, prices)
      : sellToMerchant(record.villager, order.item, order.quantity, prices)
    if (!applied.ok) {
      // the merchant settled at a price we cannot honour (it changed its prices): keep the
      // order pending so nothing is lost, and say so
      throw new VillagerError('ORDER_UNSETTLED', 409, `the merchant settled ${order.op} ${order.quantity} ${order.item} at ${result.unitPrice} but it cannot be applied: ${applied.message}`)
    }
    await this.write({ ...record, villager: applied.state, pendingOrder: null }, [], { base: record })
    return { effect: applied.effect, villager: applied.state, time: this.currentTime(), order: result }
  }

  /**
   * The merchant among the connected peers. Only in the first moments of a town that
   * starts with this villager (`merchantWaitMs` from its start, while the town has
   * completed no period) may one still be connecting: callers then wait for it, sharing
   * one wait, until that moment is over. After it a town without a merchant is told so
   * at once, and a merchant that connects later is found by the first look after it is
   * identified. (A wait every 30 s or so held the agent's turn, which reads the prices,
   * and with it the vote the whole town waited for: 5 s of every 35 in a town without a
   * merchant. A newcomer to a town under way is admitted a second or two after its
   * start, and its first turn waited out the rest, the town with it; its merchant, if
   * the town has one, was dialled when its town directory found the town.)
   */
  private async merchant (): Promise<PeerId> {
    const found = await findMerchant(this.peer.libp2p)
    if (found != null) return found
    const left = this.startedAt + (this.init.merchantWaitMs ?? MERCHANT_WAIT_MS) - Date.now()
    const underWay = this.clockService?.state?.prev != null
    if (left <= 0 || underWay) throw this.noMerchant()
    if (this.merchantWait == null) {
      this.merchantWaits++
      const wait = waitForMerchant(this.peer.libp2p, { timeoutMs: left })
      this.merchantWait = wait
      wait.catch(() => {}).finally(() => {
        if (this.merchantWait === wait) this.merchantWait = undefined
      })
    }
    try {
      return await this.merchantWait
    } catch {
      throw this.noMerchant()
    }
  }

  private noMerchant (): VillagerError {
    return new VillagerError('NO_MERCHANT', 503, `no merchant is connected in ${this.town}: start one with \`meshtown merchant --town ${this.town}\``)
  }

  private merchantFailure (err: unknown): Error {
    if (err instanceof VillagerError) return err
    if (err instanceof RemoteError) return new VillagerError(err.code, 422, `the merchant refused: ${err.message}`)
    if (err instanceof WireError) return new VillagerError('MERCHANT_UNREACHABLE', 503, `the merchant did not answer: ${err.message}`)
    return err as Error
  }

  private async startClock (): Promise<void> {
    const villager = this.record!.villager
    const clock = new ClockService(this.peer, {
      town: this.town,
      identity: { name: villager.name, occupation: villager.occupation },
      evictAfterMs: this.init.evictAfterMs,
      republishIntervalMs: this.init.republishIntervalMs,
      relayVotes: this.init.relayVotes,
      relayHoldMs: this.init.relayHoldMs
    })
    clock.addEventListener('advance', (e) => { void this.onAdvance(e.detail) })
    this.clockService = clock
    if (!this.started) return
    await clock.start()
    await this.resubmitLastVote()
    const pending = this.record!.pendingOrder
    if (pending != null) {
      void this.queue.add(async () => this.settle(pending)).catch((err: Error) => {
        this.peer.log.warn(`merchant order ${pending.requestId} still unsettled: ${err.message}`)
      })
    }
  }

  /**
   * A vote made durable that the clock does not hold is published again: one made just
   * before a crash, found at the start; or one of a period the saved time had not
   * reached yet, found when the town's time brings us there.
   */
  private async resubmitLastVote (): Promise<void> {
    const vote = this.record?.lastVote
    const clock = this.clockService
    const state = clock?.state
    if (vote == null || clock == null || state == null) return
    if (comparePeriods(state, vote) !== 0 || state.votes[vote.voter] != null) return
    await clock.submitVote(vote).catch((err: Error) => { this.peer.log.warn(`cannot publish our vote of day ${vote.day} ${vote.period} again: ${err.message}`) })
  }

  /** Our vote again if the town's time brought us to its period; hunger at the end of every day lived through as a member. */
  private async onAdvance (event: AdvanceEvent): Promise<void> {
    this.safeDispatchEvent('advance', { detail: event })
    await this.resubmitLastVote()
    if (!event.wasMember || event.to.day <= event.from.day) return
    const endedDays: number[] = []
    for (let day = event.from.day; day < event.to.day; day++) endedDays.push(day)
    await this.queue.add(async () => {
      const base = this.requireLatest()
      let record = base
      for (const day of endedDays) {
        if (day <= record.fedThroughDay) continue
        const r = endOfDay(record.villager)
        if (r.ok) record = { ...record, villager: r.state, fedThroughDay: day }
      }
      if (record !== base) await this.write(record, [], { base })
    })
  }

  /** The newest state (changes included whose write is still on its way), for computing the next change. */
  private requireLatest (): VillagerRecord {
    this.requireVillager()
    return this.latest!
  }

  /** Throws the usual "create one first" refusal when this peer has no villager. */
  requireVillager (): VillagerRecord {
    if (this.record == null) throw new VillagerError('NO_VILLAGER', 404, 'no villager on this peer yet: create one first (POST /villager, or `create` in the CLI)')
    return this.record
  }

  private emitChange (): void {
    if (this.record != null) this.safeDispatchEvent('change', { detail: this.record.villager })
  }

  private async load (): Promise<VillagerRecord | undefined> {
    if (!await this.peer.datastore.has(RECORD_KEY)) return undefined
    const parsed = RecordSchema.safeParse(decodeJson(await this.peer.datastore.get(RECORD_KEY)))
    if (!parsed.success) throw new Error(`the villager saved in ${this.peer.dataDir} is unreadable`)
    return parsed.data
  }

  /**
   * Run one change of this villager's state and make it durable, together with
   * `puts` (a trade's journal entry, say), before resolving. Changes are computed
   * one at a time on the newest state, but their writes are grouped: while one
   * synced write is on its way, the changes made meanwhile wait for the next and
   * share it (group commit), so many trades in flight cost one fsync, not one each.
   */
  async transact<T> (change: (villager: VillagerState) => Transaction<T>): Promise<T> {
    const made = await this.queue.add(async () => {
      const record = this.requireLatest()
      const out = change(record.villager)
      if (out.villager == null && (out.puts == null || out.puts.length === 0)) {
        // nothing to write, but nothing may be answered ahead of the writes before it
        return { out, durable: this.durable() }
      }
      const next = out.villager != null ? { ...record, villager: out.villager } : record
      // not awaited here: the next change is computed while this one is written
      const durable = this.write(next, out.puts ?? [], { base: record, sync: out.sync ?? true, changed: out.villager != null, commit: out.commit })
      out.queued?.()
      return { out, durable }
    })
    await made.durable
    return made.out.result
  }

  /** Resolves once every write queued so far is durable (or has failed). */
  private async durable (): Promise<void> {
    while (this.flushing != null) await this.flushing
  }

  /**
   * Queue `record` for the next group write; resolves once it is durable and its
   * `commit` has run. Durable before anyone is told: LevelDB with sync, so a power
   * cut cannot undo what was answered.
   */
  private async write (record: VillagerRecord, puts: Array<[Key, Uint8Array]>, o: { base?: VillagerRecord, sync?: boolean, changed?: boolean, commit?: () => void } = {}): Promise<void> {
    if (o.base != null && o.base !== this.latest) {
      throw new VillagerError('WRITE_FAILED', 503, 'an earlier change of this villager could not be written; try again')
    }
    this.latest = record
    const done = new Promise<void>((resolve, reject) => {
      this.group.push({ record, puts, sync: o.sync ?? true, changed: o.changed ?? true, commit: o.commit, resolve, reject })
    })
    this.kick()
    return done
  }

  private kick (): void {
    if (this.flushing != null) return
    // a write queued between the loop's last check and this callback starts the next round
    this.flushing = this.flush().finally(() => {
      this.flushing = undefined
      if (this.group.length > 0) this.kick()
    })
  }

  private async flush (): Promise<void> {
    while (this.group.length > 0) {
      const batch = this.group
      this.group = []
      const last = batch[batch.length - 1]!.record
      const ops = [
        { type: 'put' as const, key: RECORD_KEY.toString(), value: encodeJson(last) },
        ...batch.flatMap(w => w.puts.map(([key, value]) => ({ type: 'put' as const, key: key.toString(), value })))
      ]
      try {
        await this.peer.datastore.db.batch(ops, { sync: batch.some(w => w.sync) } as any)
      } catch (err: any) {
        // everything computed on top of the lost write is refused too; the durable state stands
        const refused = [...batch, ...this.group]
        this.group = []
        this.latest = this.record
        this.peer.log.error(`cannot write the villager's state: ${err.message}`)
        for (const w of refused) w.reject(new VillagerError('WRITE_FAILED', 503, `could not write the villager's state: ${err.message}`))
        continue
      }
      // only now, durable, does anyone get to see the changes, in the order they were made
      for (const w of batch) {
        this.record = w.record
        try { w.commit?.() } catch (err: any) { this.peer.log.error(`after a write: ${err.message}`) }
      }
      if (batch.some(w => w.changed)) this.emitChange()
      for (const w of batch) w.resolve()
    }
  }

  get peerId (): string {
    return this.peer.peerId.toString()
  }

  /** A member of the town by name (or PeerId): the directory people address villagers by. */
  resolveMember (target: string): { peerId: string, name: string } {
    const state = this.clockService?.state
    if (state == null) throw new VillagerError('NOT_SYNCED', 503, 'the town is not known yet: no town peer has answered')
    const peerId = this.clockService!.lookup(target) ?? (state.view[target] != null ? target : undefined)
    if (peerId == null) {
      const names = Object.values(state.view).map(m => m.name).sort().join(', ')
      throw new VillagerError('UNKNOWN_VILLAGER', 404, `no villager named "${target}" in ${this.town} (members: ${names || 'none'})`)
    }
    return { peerId, name: state.view[peerId]!.name }
  }

  /** The name a peer goes by in the town, for showing who said what. */
  nameOf (peerId: string): string {
    return this.clockService?.state?.view[peerId]?.name ?? `peer ${peerId.slice(-8)}`
  }
}
