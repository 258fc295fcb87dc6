import { randomBytes } from 'node:crypto'
import type { Connection, PeerId, Startable } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { Key } from 'interface-datastore'
import { TypedEventEmitter } from 'main-event'
import PQueue from 'p-queue'
import { z } from 'zod'
import type { MeshPeer } from '../../node/peer.js'
import type { Item } from '../../town/rules.js'
import {
  accept, cancel, canGive, confirm, decide, expire, finish, gives, isOpen, reject, TRADE_LIMITS, validateTerms,
  type Trade, type TradeResult, type TradeSide, type TradeStatus, type TradeTerms, type Step
} from '../../town/trades.js'
import { VillagerError, type VillagerService } from '../../town/villager-service.js'
import { RpcClient, handleRpc } from '../rpc.js'
import { decodeJson, encodeJson, RemoteError } from '../wire.js'
import { DEFAULT_SETTLE_INTERVAL_MS, MAX_INBOUND_TRADE_STREAMS, MAX_TRADE_MESSAGE_BYTES, TRADE_PROTOCOL, TRADE_REQUEST_TIMEOUT_MS } from './constants.js'
import { TradeReplySchema, TradeRequestSchema, type TradeReply, type TradeRequest } from './schemas.js'

const TRADE_PREFIX = '/meshtown/trades'

export interface TradeServiceInit {
  settleIntervalMs?: number
  /** Wall clock, injectable so expiry can be tested without waiting. */
  now?: () => number
}

export interface ProposeInput {
  /** A villager's name (or PeerId) in this town. */
  target: string
  side: TradeSide
  item: Item
  quantity: number
  unitPrice: number
  expiresInMs?: number
}

export interface TradeEvents {
  trade: CustomEvent<Trade>
}

const StoredTradeSchema = z.object({ id: z.string(), role: z.enum(['initiator', 'counterparty']), status: z.string() }).passthrough()

/**
 * Trades between villagers on a direct stream (`/meshtown/trade/1.0.0`). Every
 * step is written to the journal, together with the villager's state, before it
 * is answered or sent (a proposal and an accept leave while they are written: the
 * steps answering them wait for the write, see propose and accept); a step the
 * other side has not acknowledged is re-sent until it is, across restarts and
 * partitions, and every handler is idempotent.
 * What is not synced on its own is what the other side holds durably and gives
 * again when asked (see onAccepted and onReply).
 */
export class TradeService extends TypedEventEmitter<TradeEvents> implements Startable {
  private readonly peer: MeshPeer
  private readonly villager: VillagerService
  private readonly trades = new Map<string, Trade>()
  /** Trade id -> keys: ids are what people type, keys what the journal uses. */
  private readonly byId = new Map<string, Set<string>>()
  private readonly inFlight = new Set<string>()
  private readonly again = new Set<string>()
  /** Proposals the counterparty acknowledged before a restart: its accept may be what the crash lost, so ask. */
  private readonly recheck = new Set<string>()
  private readonly network = new PQueue({ concurrency: 32 })
  private readonly settleIntervalMs: number
  private readonly now: () => number
  private timer?: ReturnType<typeof setInterval>
  private rpc?: RpcClient
  private started = false
  private readonly onConnect = (e: CustomEvent<PeerId>): void => { this.settleWith(e.detail.toString()) }

  constructor (peer: MeshPeer, villager: VillagerService, init: TradeServiceInit = {}) {
    super()
    this.peer = peer
    this.villager = villager
    this.settleIntervalMs = init.settleIntervalMs ?? DEFAULT_SETTLE_INTERVAL_MS
    this.now = init.now ?? Date.now
  }

  get self (): string {
    return this.peer.peerId.toString()
  }

  async start (): Promise<void> {
    for await (const { value } of this.peer.datastore.query({ prefix: TRADE_PREFIX })) {
      const parsed = StoredTradeSchema.safeParse(decodeJson(value))
      if (parsed.success) {
        const trade = parsed.data as unknown as Trade
        this.remember(trade)
        if (trade.role === 'initiator' && trade.status === 'proposed' && trade.delivered) this.recheck.add(tradeKey(trade.initiator, trade.id))
      }
    }
    this.rpc = new RpcClient(this.peer.libp2p, TRADE_PROTOCOL, { maxBytes: MAX_TRADE_MESSAGE_BYTES, timeoutMs: TRADE_REQUEST_TIMEOUT_MS })
    await handleRpc(this.peer.libp2p, TRADE_PROTOCOL, TradeRequestSchema, async (req, conn) => this.onRequest(req, conn), {
      maxBytes: MAX_TRADE_MESSAGE_BYTES,
      maxInboundStreams: MAX_INBOUND_TRADE_STREAMS,
      onRefused: (code, message, from) => { this.peer.log.debug(`trade: refused ${code} from ${from.toString()}: ${message}`) }
    })
    this.started = true
    this.peer.libp2p.addEventListener('peer:connect', this.onConnect)
    this.timer = setInterval(() => { this.settleAll() }, this.settleIntervalMs)
    // a restart: settle whatever the journal left open
    this.settleAll()
  }

  async stop (): Promise<void> {
    this.started = false
    clearInterval(this.timer)
    this.peer.libp2p.removeEventListener('peer:connect', this.onConnect)
    this.network.clear()
    this.rpc?.close()
    await this.network.onIdle()
    await this.peer.libp2p.unhandle(TRADE_PROTOCOL).catch(() => {})
  }

  /** Trades proposed to this villager. */
  received (): Trade[] {
    return this.list('counterparty')
  }

  /** Trades this villager proposed. */
  initiated (): Trade[] {
    return this.list('initiator')
  }

  all (): Trade[] {
    return [...this.trades.values()]
  }

  /** A trade by its id, as a person types it. */
  find (id: string): Trade {
    const found = [...(this.byId.get(id) ?? [])].map(key => this.trades.get(key)!)
    if (found.length === 0) throw new VillagerError('UNKNOWN_TRADE', 404, `no trade with id ${id}: see \`trades\` and \`mytrades\``)
    // ids are random and 10 characters long; should two initiators pick the same, prefer our own
    return found.find(t => t.initiator === this.self) ?? found[0]!
  }

  // -------------------------------------------------------------------------------------
  // what the villager does

  async propose (input: ProposeInput): Promise<Trade> {
    const me = this.villager.requireVillager().villager
    const target = this.villager.resolveMember(input.target)
    if (target.peerId === this.self) throw new VillagerError('SELF_TRADE', 400, 'a villager cannot trade with itself')
    const terms: TradeTerms = {
      id: randomBytes(8).toString('base64url').slice(0, 10),
      initiator: this.self,
      initiatorName: me.name,
      counterparty: target.peerId,
      counterpartyName: target.name,
      side: input.side,
      item: input.item,
      quantity: input.quantity,
      unitPrice: input.unitPrice,
      expiresAt: this.now() + (input.expiresInMs ?? TRADE_LIMITS.defaultExpiryMs)
    }
    const valid = validateTerms(terms, this.now())
    if (!valid.ok) throw new VillagerError(valid.code, 400, valid.message)
    const check = canGive(me, gives(terms, 'initiator'))
    if (!check.ok) throw new VillagerError(check.code, 422, `cannot offer this trade: ${check.message}`)
    const trade: Trade = { ...terms, role: 'initiator', status: 'proposed', escrow: null, delivered: false, createdAt: this.now(), updatedAt: this.now() }
    // Written and sent at once, so the fsync and the round trip overlap. A proposal reserves
    // nothing here; the other side reserves when it accepts, and we answer its accept only from
    // the journal (onRequest waits for this write). Should this side crash before the write is
    // durable, that accept gets UNKNOWN_TRADE and the other side releases what it reserved.
    const written = this.serially(tradeKey(trade.initiator, trade.id), async () => this.villager.transact(() => ({ puts: [this.entry(trade)], result: undefined, commit: () => { this.remember(trade) } })))
    await this.deliver(trade.initiator, trade.id, { trade, written })
    return this.get(trade.initiator, trade.id)
  }

  /**
   * Sent while it is written, as a proposal is, so that the fsync overlaps the round
   * trip and the initiator's confirm. The initiator's confirm is answered only from the
   * journal (it waits for this write). Should this side crash, or its disk fail, before
   * the write is durable, the initiator holds an accept this side no longer does: its
   * confirm is refused (the trade is only received here), and in doubt it keeps its share
   * reserved and asks again until this side decides anew (accepts, rejects, or lets the
   * trade expire). Nothing commits on one side alone. The call itself returns only once
   * the accept is durable.
   */
  async accept (id: string): Promise<Trade> {
    return this.userStep(id, accept, { sendWhileWritten: true })
  }

  async reject (id: string): Promise<Trade> {
    return this.userStep(id, (v, t, now) => reject(v, t, now, `rejected by ${t.counterpartyName}`))
  }

  async confirm (id: string): Promise<Trade> {
    return this.userStep(id, confirm)
  }

  async cancel (id: string): Promise<Trade> {
    return this.userStep(id, cancel)
  }

  /** A person's step: durable before this returns, then delivered (`sendWhileWritten`: sent as soon as it is queued for writing, see accept). */
  private async userStep (id: string, step: (v: any, t: Trade, now: number) => TradeResult<Step>, o: { sendWhileWritten?: boolean } = {}): Promise<Trade> {
    const known = this.find(id)
    const key = tradeKey(known.initiator, known.id)
    let sent: Promise<void> | undefined
    const written = this.apply(key, (v, t) => step(v, t, this.now()), {
      source: 'user',
      onQueued: o.sendWhileWritten === true ? (trade) => { sent = this.deliver(known.initiator, known.id, { trade, written: written.then(() => {}) }) } : undefined
    })
    try {
      await written
    } finally {
      // a failed write fails the delivery that began with it: the settler sends what the journal holds
      await sent?.catch(() => {})
    }
    // not sent while written, or no change made (the step was taken already), or a delivery was on its way: send it now
    await this.deliver(known.initiator, known.id)
    return this.get(known.initiator, known.id)
  }

  // -------------------------------------------------------------------------------------
  // applying steps: journal and villager state in one durable write

  /**
   * Run a pure step on the trade stored at `key` inside the villager's queue. A
   * refusal from a person's command is thrown; one from the network is returned.
   */
  private async apply (key: string, step: (villager: any, trade: Trade) => TradeResult<Step>, options: { source?: 'user' | 'network', sync?: boolean, onQueued?: (next: Trade) => void } = {}): Promise<TradeResult<Trade>> {
    const source = options.source ?? 'network'
    const result = await this.serially(key, async () => this.villager.transact((villager) => {
      const trade = this.trades.get(key)
      if (trade == null) return { result: { ok: false as const, code: 'WRONG_STATE' as const, message: 'unknown trade' } }
      const r = step(villager, trade)
      if (!r.ok) return { result: r as TradeResult<Trade> }
      if (r.value.trade === trade && r.value.villager === villager) return { result: { ok: true as const, value: trade } }
      const next = r.value.trade
      return {
        villager: r.value.villager === villager ? undefined : r.value.villager,
        puts: [this.entry(next)],
        result: { ok: true as const, value: next },
        sync: options.sync,
        commit: () => { this.remember(next) },
        queued: options.onQueued == null ? undefined : () => { options.onQueued!(next) }
      }
    }))
    if (result.ok) this.safeDispatchEvent('trade', { detail: result.value })
    if (!result.ok && source === 'user') {
      const status = result.code === 'NOT_ENOUGH_COINS' || result.code === 'NOT_ENOUGH_ITEMS' ? 422 : 409
      throw new VillagerError(result.code, status, result.message)
    }
    return result
  }

  /** The other side has our latest step. Not synced on its own: lost in a crash, the step is sent again, and every handler is idempotent. */
  private async markDelivered (key: string): Promise<void> {
    const trade = this.trades.get(key)
    if (trade == null || trade.delivered) return
    await this.serially(key, async () => this.villager.transact(() => {
      const current = this.trades.get(key)!
      if (current.delivered) return { result: undefined }
      const next = { ...current, delivered: true }
      return { puts: [this.entry(next)], result: undefined, sync: false, commit: () => { this.remember(next) } }
    }))
  }

  /**
   * One change at a time per trade, each durable before the next is computed:
   * the villager's writes are grouped, and a change computed on a trade whose
   * previous change is still being written would undo it.
   */
  private async serially<T> (key: string, fn: () => Promise<T>): Promise<T> {
    const before = this.locks.get(key) ?? Promise.resolve()
    const run = before.then(fn, fn)
    const tail = run.then(() => {}, () => {})
    this.locks.set(key, tail)
    void tail.then(() => { if (this.locks.get(key) === tail) this.locks.delete(key) })
    return run
  }

  private readonly locks = new Map<string, Promise<void>>()
  /** Open trades whose last step the other side refused, and how (op and code): logged once, not every round. */
  private readonly refusalsSaid = new Map<string, string>()

  // -------------------------------------------------------------------------------------
  // sending our latest step, until the other side acknowledges it

  /**
   * Send whatever step of this trade the other side has not acknowledged. `first`:
   * a proposal sent while it is being written (see propose), handled once durable.
   */
  private async deliver (initiator: string, id: string, first?: FirstDelivery): Promise<void> {
    const key = tradeKey(initiator, id)
    if (this.inFlight.has(key)) {
      // a newer step than the one on the wire: send it as soon as that one is done
      this.again.add(key)
      return
    }
    this.inFlight.add(key)
    try {
      do {
        this.again.delete(key)
        await this.deliverOnce(key, first)
        first = undefined
      } while (this.again.has(key) && this.started)
    } finally {
      this.inFlight.delete(key)
    }
  }

  private async deliverOnce (key: string, first?: FirstDelivery): Promise<void> {
    let trade = first?.trade ?? this.trades.get(key)
    if (trade == null) return
    // our own clock: the counterparty may always expire; the initiator unless confirmed
    if (first == null && isOpen(trade) && this.now() >= trade.expiresAt && !(trade.role === 'initiator' && trade.status === 'confirming')) {
      await this.apply(key, (v, t) => expire(v, t, this.now()))
      trade = this.trades.get(key)!
    }
    // asked only while still proposed: once it has expired (or was cancelled) here, we never confirm,
    // so nothing the counterparty says could change our side, and it expires its own by its clock
    if (trade.status !== 'proposed') this.recheck.delete(key)
    const op = nextMessage(trade) ?? (this.recheck.has(key) ? 'status' : undefined)
    if (op == null) {
      await first?.written
      if (!trade.delivered && !isOpen(trade)) await this.markDelivered(key)
      return
    }
    const sent = this.send(trade, op)
    await first?.written
    const outcome = await sent
    if (outcome instanceof RemoteError) await this.onRefusal(key, op, outcome)
    else if (outcome != null) await this.onReply(key, op, outcome.status)
    if (outcome != null) this.recheck.delete(key)
  }

  /** One step to the other side: its reply, its refusal, or undefined when it could not be reached (the settler sends it again). */
  private async send (trade: Trade, op: TradeRequest['op']): Promise<TradeReply | RemoteError | undefined> {
    const other = trade.role === 'initiator' ? trade.counterparty : trade.initiator
    const body: TradeRequest = op === 'propose'
      ? { op, id: trade.id, side: trade.side, item: trade.item, quantity: trade.quantity, unitPrice: trade.unitPrice, expiresAt: trade.expiresAt, initiatorName: trade.initiatorName, counterpartyName: trade.counterpartyName }
      : { op, id: trade.id }
    try {
      if (this.rpc == null) return undefined
      return await this.rpc.request(peerIdFromString(other), body, TradeReplySchema)
    } catch (err) {
      if (err instanceof RemoteError) return err
      this.peer.log.debug(`trade ${trade.id}: ${op} not delivered: ${(err as Error).message}`)
      return undefined
    }
  }

  /** The other side's answer to our step. */
  private async onReply (key: string, op: string, status: TradeStatus): Promise<void> {
    const trade = this.trades.get(key)
    if (trade == null) return
    if (status === 'committed' || status === 'expired' || status === 'cancelled' || status === 'rejected') {
      if (status !== trade.status && isOpen(trade)) {
        // The outcome came from the other side: nothing of ours is left to send, so delivered in the
        // same write. The answer to a confirm is not synced on its own: the counterparty answered it
        // from its journal, and should a crash take our record, we restart as confirming, send the
        // confirm again and get the same answer (our share stays reserved until then). The next synced
        // write of this villager carries it to disk (LevelDB's log is written in order).
        const sync = !(trade.role === 'initiator' && trade.status === 'confirming')
        const r = await this.apply(key, (v, t) => delivered(finish(v, t, status, this.now())), { sync })
        if (!r.ok) this.peer.log.warn(`trade ${trade.id}: cannot apply ${status} from the other side: ${r.message}`)
      }
      await this.markDelivered(key)
      return
    }
    if (status === 'accepted' && trade.role === 'initiator' && (op === 'status' || op === 'propose')) {
      // asked after a restart, or a proposal sent again: the counterparty accepted what our journal holds as proposed
      await this.onAccepted(key)
      return
    }
    if (op === 'status') return
    if (op === 'confirm') return // the counterparty has not decided (cannot happen: it decides at once)
    await this.markDelivered(key)
  }

  /**
   * The counterparty accepted a trade we proposed. Not synced on its own: nothing of
   * ours is reserved until we confirm (a synced write that carries this one with it),
   * and should a crash lose it, the restart asks the counterparty (`recheck`).
   */
  private async onAccepted (key: string): Promise<void> {
    // checked again on the trade as it is now: a step may have landed since
    await this.apply(key, (v, t) => ({ ok: true, value: { villager: v, trade: t.status !== 'proposed' ? t : { ...t, status: 'accepted', updatedAt: this.now(), delivered: true } } }), { sync: false })
  }

  private async onRefusal (key: string, op: string, err: RemoteError): Promise<void> {
    const trade = this.trades.get(key)!
    // a step in doubt is sent again every settle round until the other side decides: say so once
    const refusal = `${op} ${err.code}`
    const line = `trade ${trade.id}: ${op} refused by the other side: ${err.code}: ${err.message}`
    if (this.refusalsSaid.get(key) === refusal) {
      this.peer.log.debug(line)
    } else {
      this.refusalsSaid.set(key, refusal)
      this.peer.log.info(line)
    }
    if (op === 'propose') {
      // never recorded over there: the trade is over before it began
      await this.apply(key, (v, t) => finish(v, t, 'rejected', this.now(), `${err.code}: ${err.message}`))
      await this.markDelivered(key)
    } else if (err.code === 'UNKNOWN_TRADE') {
      // the other side has no record, so it holds nothing for it: release ours
      await this.apply(key, (v, t) => finish(v, t, trade.role === 'initiator' ? 'rejected' : 'cancelled', this.now(), 'unknown to the other side'))
      await this.markDelivered(key)
    }
  }

  private settleAll (): void {
    if (!this.started) return
    for (const trade of this.trades.values()) {
      if (isOpen(trade) || !trade.delivered) this.schedule(trade)
    }
  }

  private settleWith (peerId: string): void {
    if (!this.started) return
    for (const trade of this.trades.values()) {
      const other = trade.role === 'initiator' ? trade.counterparty : trade.initiator
      if (other === peerId && (isOpen(trade) || !trade.delivered)) this.schedule(trade)
    }
  }

  private schedule (trade: Trade): void {
    const key = tradeKey(trade.initiator, trade.id)
    if (this.inFlight.has(key)) return
    void this.network.add(async () => this.deliver(trade.initiator, trade.id)).catch((err: Error) => {
      this.peer.log.debug(`trade ${trade.id}: settling failed: ${err.message}`)
    })
  }

  // -------------------------------------------------------------------------------------
  // what the other side sends us

  private async onRequest (req: TradeRequest, conn: Connection): Promise<TradeReply> {
    const remote = conn.remotePeer.toString()
    if (req.op === 'propose') return this.onPropose(req, remote)
    // accept and reject come from our counterparty, about a trade we initiated
    if (req.op === 'accept' || req.op === 'reject') {
      const key = tradeKey(this.self, req.id)
      // our proposal may still be on its way to the journal (propose sends it while writing): answer from the journal
      await this.locks.get(key)
      const trade = this.trades.get(key)
      if (trade == null || trade.counterparty !== remote) throw new RemoteError('UNKNOWN_TRADE', `no trade ${req.id} of ours with you`)
      if (trade.status === 'proposed') {
        if (this.now() >= trade.expiresAt) {
          await this.apply(key, (v, t) => expire(v, t, this.now()))
        } else if (req.op === 'accept') {
          await this.onAccepted(key)
        } else {
          await this.apply(key, (v, t) => delivered(finish(v, t, 'rejected', this.now(), `rejected by ${t.counterpartyName}`)), { sync: false })
        }
      }
      return { id: req.id, status: this.trades.get(key)!.status }
    }
    // confirm, cancel and status come from the initiator, about a trade proposed to us
    const key = tradeKey(remote, req.id)
    const trade = this.trades.get(key)
    if (trade == null) throw new RemoteError('UNKNOWN_TRADE', `no trade ${req.id} from you`)
    // the decision goes back in this reply (and to every retry), so it is delivered in the same write
    if (req.op === 'confirm') {
      const r = await this.apply(key, (v, t) => delivered(decide(v, t, this.now())))
      if (!r.ok) throw new RemoteError(r.code, r.message)
    } else if (req.op === 'cancel') {
      if (isOpen(trade)) await this.apply(key, (v, t) => delivered(finish(v, t, 'cancelled', this.now(), `cancelled by ${t.initiatorName}`)))
    }
    const now = this.trades.get(key)!
    if (!now.delivered && !isOpen(now)) await this.markDelivered(key)
    return { id: req.id, status: now.status }
  }

  private async onPropose (req: Extract<TradeRequest, { op: 'propose' }>, remote: string): Promise<TradeReply> {
    const me = this.villager.villager
    if (me == null) throw new RemoteError('NO_VILLAGER', 'this peer has no villager')
    if (req.counterpartyName.toLowerCase() !== me.name.toLowerCase()) throw new RemoteError('WRONG_VILLAGER', `this peer is ${me.name}, not ${req.counterpartyName}`)
    const key = tradeKey(remote, req.id)
    const terms: TradeTerms = {
      id: req.id, initiator: remote, initiatorName: req.initiatorName, counterparty: this.self, counterpartyName: me.name,
      side: req.side, item: req.item, quantity: req.quantity, unitPrice: req.unitPrice, expiresAt: req.expiresAt
    }
    return this.serially(key, async () => {
      // a re-sent proposal (its answer was lost) is answered from what we hold
      const known = this.trades.get(key)
      if (known != null) {
        if (!sameTerms(known, terms)) throw new RemoteError('TRADE_ID_REUSED', `trade id ${req.id} was used for other terms`)
        return { id: req.id, status: known.status }
      }
      const valid = validateTerms(terms, this.now())
      if (!valid.ok) throw new RemoteError(valid.code, valid.message)
      const trade: Trade = { ...terms, role: 'counterparty', status: 'received', escrow: null, delivered: true, createdAt: this.now(), updatedAt: this.now() }
      await this.villager.transact(() => ({ puts: [this.entry(trade)], result: undefined, commit: () => { this.remember(trade) } }))
      this.safeDispatchEvent('trade', { detail: trade })
      return { id: req.id, status: 'received' as const }
    })
  }

  // -------------------------------------------------------------------------------------

  private list (role: 'initiator' | 'counterparty'): Trade[] {
    return [...this.trades.values()].filter(t => t.role === role).sort((a, b) => a.createdAt - b.createdAt)
  }

  private get (initiator: string, id: string): Trade {
    return this.trades.get(tradeKey(initiator, id))!
  }

  private remember (trade: Trade): void {
    const key = tradeKey(trade.initiator, trade.id)
    this.trades.set(key, trade)
    if (!isOpen(trade)) this.refusalsSaid.delete(key)
    const keys = this.byId.get(trade.id)
    if (keys == null) this.byId.set(trade.id, new Set([key]))
    else keys.add(key)
  }

  private entry (trade: Trade): [Key, Uint8Array] {
    return [new Key(`${TRADE_PREFIX}/${trade.initiator}/${trade.id}`), encodeJson(trade)]
  }
}

/** A step whose outcome the other side already has (it came from there, or goes back in the reply). */
function delivered (r: TradeResult<Step>): TradeResult<Step> {
  if (!r.ok || r.value.trade.delivered || isOpen(r.value.trade)) return r
  return { ok: true, value: { ...r.value, trade: { ...r.value.trade, delivered: true } } }
}

interface FirstDelivery {
  trade: Trade
  written: Promise<void>
}

function tradeKey (initiator: string, id: string): string {
  return `${initiator}/${id}`
}

function sameTerms (a: TradeTerms, b: TradeTerms): boolean {
  return a.side === b.side && a.item === b.item && a.quantity === b.quantity && a.unitPrice === b.unitPrice && a.expiresAt === b.expiresAt && a.initiator === b.initiator
}

/** The message that carries this side's latest step, if the other side still needs it. */
function nextMessage (t: Trade): TradeRequest['op'] | undefined {
  if (t.role === 'initiator') {
    if (t.status === 'confirming') return 'confirm'
    if (t.status === 'proposed' && !t.delivered) return 'propose'
    if (t.status === 'cancelled' && !t.delivered) return 'cancel'
    return undefined
  }
  if (t.status === 'accepted' && !t.delivered) return 'accept'
  if (t.status === 'rejected' && !t.delivered) return 'reject'
  return undefined
}
