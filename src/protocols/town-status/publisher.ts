/**
 * Publishes this peer's status notice on the town's status topic: at start, on
 * every change (coalesced), and as a heartbeat. Only observers subscribe to the
 * topic (and check what arrives, so a bad notice is neither delivered nor
 * forwarded): a villager publishes to them directly without receiving the
 * others' notices, which in a busy town of N cost each villager N-1 deliveries a
 * second that nobody read (a fifth of the town's CPU; see BENCHMARKS.md).
 * Observers find and dial every member through the town directory.
 */
import type { Message } from '@libp2p/gossipsub'
import type { Startable } from '@libp2p/interface'
import type { MeshPeer } from '../../node/peer.js'
import { viewDigest } from '../../town/clock.js'
import { isOpen, type Trade } from '../../town/trades.js'
import type { VillagerService } from '../../town/villager-service.js'
import type { TradeService } from '../trade/index.js'
import { decodeJson, describeZodError, encodeJson } from '../wire.js'
import {
  DEFAULT_STATUS_COALESCE_MS, DEFAULT_STATUS_INTERVAL_MS, MAX_STATUS_BYTES, MAX_STATUS_PEERS, MAX_STATUS_TRADES, statusTopic
} from './constants.js'
import { checkNotice, StatusNoticeSchema, TradeNoticeSchema, type StatusNotice, type StatusRole, type TradeNotice } from './schema.js'

/** What the publisher asks its owner for, each time it publishes. */
export type StatusBody = Pick<StatusNotice, 'role' | 'name' | 'time' | 'villager' | 'trades'>

export interface StatusPublisherInit {
  town: string
  /** The notice's content, read fresh for each notice. */
  body: () => StatusBody
  intervalMs?: number
  coalesceMs?: number
}

export type NoticeCheck = { ok: true, notice: StatusNotice } | { ok: false, code: 'UNSIGNED' | 'TOO_LARGE' | 'MALFORMED' | 'INVALID', detail: string }

/** The one gate for a notice off the wire: signed, bounded, shaped, and speaking only for its signer. */
export function checkStatusMessage (msg: Message, town: string): NoticeCheck {
  if (msg.type !== 'signed') return { ok: false, code: 'UNSIGNED', detail: 'unsigned notice' }
  if (msg.data.byteLength > MAX_STATUS_BYTES) return { ok: false, code: 'TOO_LARGE', detail: `${msg.data.byteLength} bytes > ${MAX_STATUS_BYTES}` }
  let value: unknown
  try { value = decodeJson(msg.data) } catch (err: any) { return { ok: false, code: 'MALFORMED', detail: err.message } }
  const parsed = StatusNoticeSchema.safeParse(value)
  if (!parsed.success) return { ok: false, code: 'MALFORMED', detail: describeZodError(parsed.error) }
  const problem = checkNotice(parsed.data, msg.from.toString(), town)
  if (problem != null) return { ok: false, code: 'INVALID', detail: problem }
  return { ok: true, notice: parsed.data }
}

/**
 * Open trades first (newest first), then the latest settled ones, up to the bound.
 * A trade whose terms would not pass the schema (the other side chose its own name
 * when it proposed) is left out, so that no counterparty can get a villager's
 * whole notice refused everywhere.
 */
export function tradeNotices (trades: readonly Trade[], limit = MAX_STATUS_TRADES): TradeNotice[] {
  const byRecent = (a: Trade, b: Trade): number => b.updatedAt - a.updatedAt
  const ordered = [...trades.filter(isOpen).sort(byRecent), ...trades.filter(t => !isOpen(t)).sort(byRecent)]
  const out: TradeNotice[] = []
  for (const t of ordered) {
    if (out.length >= limit) break
    const notice = TradeNoticeSchema.safeParse(toNotice(t))
    if (notice.success) out.push(notice.data)
  }
  return out
}

function toNotice (t: Trade): TradeNotice {
  return {
    id: t.id,
    initiator: t.initiator,
    initiatorName: t.initiatorName,
    counterparty: t.counterparty,
    counterpartyName: t.counterpartyName,
    side: t.side,
    item: t.item,
    quantity: t.quantity,
    unitPrice: t.unitPrice,
    role: t.role,
    status: t.status,
    createdAt: t.createdAt,
    updatedAt: t.updatedAt,
    expiresAt: t.expiresAt
  }
}

export class TownStatusPublisher implements Startable {
  readonly town: string
  readonly topic: string
  private readonly peer: MeshPeer
  private readonly init: StatusPublisherInit
  private readonly intervalMs: number
  private readonly coalesceMs: number
  private seq = 0
  private started = false
  private heartbeat?: ReturnType<typeof setInterval>
  private pending?: ReturnType<typeof setTimeout>
  private readonly onTopology = (): void => { this.changed() }

  constructor (peer: MeshPeer, init: StatusPublisherInit) {
    this.peer = peer
    this.init = init
    this.town = init.town
    this.topic = statusTopic(init.town)
    this.intervalMs = init.intervalMs ?? DEFAULT_STATUS_INTERVAL_MS
    this.coalesceMs = init.coalesceMs ?? DEFAULT_STATUS_COALESCE_MS
  }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    this.peer.libp2p.addEventListener('peer:connect', this.onTopology)
    this.peer.libp2p.addEventListener('peer:disconnect', this.onTopology)
    this.heartbeat = setInterval(() => { void this.publish() }, this.intervalMs)
    this.changed()
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    clearInterval(this.heartbeat)
    clearTimeout(this.pending)
    this.pending = undefined
    this.peer.libp2p.removeEventListener('peer:connect', this.onTopology)
    this.peer.libp2p.removeEventListener('peer:disconnect', this.onTopology)
  }

  /** Something in the status changed: publish soon (several changes make one notice). */
  changed (): void {
    if (!this.started || this.pending != null) return
    this.pending = setTimeout(() => {
      this.pending = undefined
      void this.publish(true)
    }, this.coalesceMs)
  }

  /** What the last notice said, without its stamp: a change that changes nothing is not published. */
  private lastContent?: string

  /** The notice as it would be published now. */
  notice (): StatusNotice {
    const body = this.init.body()
    const peers = this.peer.connectedPeers()
    return {
      v: 1,
      town: this.town,
      ...body,
      trades: body.trades.slice(0, MAX_STATUS_TRADES),
      at: Date.now(),
      seq: this.seq++,
      every: this.intervalMs,
      peers: peers.slice(0, MAX_STATUS_PEERS),
      peerCount: peers.length
    }
  }

  async publish (onlyIfChanged = false): Promise<void> {
    if (!this.started) return
    try {
      let notice = this.notice()
      // the clock's every vote reaches here as a change; only the period (and belongings, trades, links) matter
      const content = JSON.stringify({ ...notice, at: 0, seq: 0 })
      if (onlyIfChanged && content === this.lastContent) return
      this.lastContent = content
      // never publish what the others would refuse: check it as they will
      const problem = this.selfCheck(notice)
      if (problem != null) {
        this.peer.log.warn(`town-status: own notice refused by its schema (${problem}); publishing it without trades`)
        notice = { ...notice, trades: [] }
        if (this.selfCheck(notice) != null) return
      }
      await this.peer.pubsub.publish(this.topic, encodeJson(notice))
    } catch (err: any) {
      this.peer.log.debug(`town-status: publish failed: ${err.message}`)
    }
  }

  private selfCheck (notice: StatusNotice): string | undefined {
    if (encodeJson(notice).byteLength > MAX_STATUS_BYTES) return 'too large'
    const parsed = StatusNoticeSchema.safeParse(notice)
    if (!parsed.success) return describeZodError(parsed.error)
    return checkNotice(parsed.data, this.peer.peerId.toString(), this.town)
  }

}

export function startTownStatus (peer: MeshPeer, init: StatusPublisherInit): Promise<TownStatusPublisher> {
  const publisher = new TownStatusPublisher(peer, init)
  return publisher.start().then(() => publisher)
}

/** A peer's status without a villager (the merchant, a plain peer): its connections only. */
export async function startPeerStatus (peer: MeshPeer, init: { town: string, role: Exclude<StatusRole, 'villager'>, intervalMs?: number }): Promise<TownStatusPublisher> {
  return startTownStatus(peer, {
    town: init.town,
    intervalMs: init.intervalMs,
    body: () => ({ role: init.role, name: null, time: null, villager: null, trades: [] })
  })
}

export interface VillagerStatusInit {
  villager: VillagerService
  trades: TradeService
  /** List this villager's trades and their states in its notice (default true): the town's trade feed. */
  publishTrades?: boolean
  intervalMs?: number
  coalesceMs?: number
}

/**
 * A villager's status: its public belongings, its time, its connections and its
 * trades, published on every change of any of them. The returned publisher's
 * stop() also removes the listeners.
 */
export async function startVillagerStatus (peer: MeshPeer, init: VillagerStatusInit): Promise<TownStatusPublisher> {
  const { villager, trades } = init
  const publisher = new TownStatusPublisher(peer, {
    town: villager.town,
    intervalMs: init.intervalMs,
    coalesceMs: init.coalesceMs,
    body: () => {
      const v = villager.villager
      const state = villager.clock?.state
      return {
        role: v == null ? 'peer' : 'villager',
        name: v?.name ?? null,
        time: state == null ? null : { day: state.day, period: state.period, digest: viewDigest(state.view) },
        villager: v == null ? null : { occupation: v.occupation, stamina: v.stamina, coins: v.coins, items: { ...v.items } },
        trades: v == null || init.publishTrades === false ? [] : tradeNotices(trades.all())
      }
    }
  })
  const onChange = (): void => { publisher.changed() }
  let clock = villager.clock
  const onVillagerChange = (): void => {
    // the clock exists once the villager does: follow its votes too (who voted changes nothing here, the period does)
    if (clock == null && villager.clock != null) { clock = villager.clock; clock.addEventListener('change', onChange) }
    onChange()
  }
  villager.addEventListener('change', onVillagerChange)
  villager.addEventListener('advance', onChange)
  trades.addEventListener('trade', onChange)
  clock?.addEventListener('change', onChange)
  await publisher.start()
  const stop = publisher.stop.bind(publisher)
  publisher.stop = async () => {
    villager.removeEventListener('change', onVillagerChange)
    villager.removeEventListener('advance', onChange)
    trades.removeEventListener('trade', onChange)
    clock?.removeEventListener('change', onChange)
    await stop()
  }
  return publisher
}
