/**
 * What the dashboard shows, as plain data: everything the observer has heard
 * (status notices, the clock, public chat and public room messages), folded
 * into one JSON snapshot for the page. No libp2p here, so it is tested alone.
 *
 * Only public facts enter: status notices (public by design), the town's clock
 * tally, broadcasts on the town chat topic and public room messages. The
 * observer has no handler for private messages, and the model refuses any room
 * message that is not public all the same.
 */
import type { ClockState } from '../town/clock.js'
import { tally, viewDigest } from '../town/clock.js'
import { FINAL_STATUSES, type TradeStatus } from '../town/trades.js'
import type { StatusNotice, TradeNotice } from '../protocols/town-status/index.js'
import type { Occupation, Period } from '../town/rules.js'

export const MODEL_LIMITS = {
  trades: 200,
  chat: 100,
  roomMessages: 300,
  rooms: 16,
  publishers: 1024,
  nodes: 256
} as const

/** A publisher is "silent" when no notice came for this many of its heartbeats (plus slack). */
export const SILENT_AFTER_HEARTBEATS = 3
const SILENT_SLACK_MS = 1_000

export interface VillagerView {
  peerId: string
  name: string
  occupation: Occupation | null
  member: boolean
  stamina: number | null
  coins: number | null
  items: Record<string, number>
  time: { day: number, period: Period, digest: string | null } | null
  /** Its time differs from the town's as the observer follows it (a partition, or catching up). */
  behind: boolean
  heardAt: number | null
  silent: boolean
  peerCount: number | null
}

export interface TradeSideView { peerId: string, name: string, status: TradeStatus | null, updatedAt: number | null }

export interface TradeView {
  key: string
  id: string
  side: 'buy' | 'sell'
  item: string
  quantity: number
  unitPrice: number
  initiator: TradeSideView
  counterparty: TradeSideView
  /** One word for the trade: the counterparty's outcome when it has one, else the latest state heard. */
  state: TradeStatus
  /** Both sides' states are heard and they differ (a step is on its way, or a side is cut off). */
  settling: boolean
  createdAt: number
  updatedAt: number
}

export interface NodeView {
  id: string
  label: string
  kind: 'villager' | 'merchant' | 'observer' | 'bootstrap' | 'peer'
  silent: boolean
  member: boolean
  group: number
}

export interface EdgeView { source: string, target: string, kind: 'up' | 'missing' }

export interface RoomMessageView {
  id: string
  sender: string
  receivers: string[]
  content: string
  turn: number | null
  end: string | null
  pass: boolean
  at: number
}

export interface RoomView {
  id: string
  name: string | null
  status: 'looking' | 'watching'
  error: string | null
  agents: Array<{ name: string, peerId: string, connected: boolean }>
  messages: RoomMessageView[]
  ended: string | null
}

export interface ChatView { id: string, from: string, fromName: string, text: string, at: number }

export interface DashboardState {
  town: string
  observer: { peerId: string, connections: number, refused: Record<string, number> }
  now: number
  time: {
    synced: boolean
    day: number | null
    period: Period | null
    majority: number | null
    viewDigest: string | null
    members: Array<{ peerId: string, name: string, occupation: Occupation, voted: boolean, action: string | null, evictVotes: number, evicted: boolean }>
    awaiting: string[]
  }
  villagers: VillagerView[]
  trades: TradeView[]
  network: { nodes: NodeView[], edges: EdgeView[], groups: string[][], partitioned: boolean, /** Peers seen that are not the town's (not drawn). */ others: number }
  rooms: RoomView[]
  chat: ChatView[]
}

interface Heard { notice: StatusNotice, heardAt: number }
interface TradeRecord { sides: { initiator?: TradeNotice, counterparty?: TradeNotice } }

const FINAL = new Set<string>(FINAL_STATUSES)

export class TownModel {
  readonly town: string
  private self = ''
  private selfConnections: string[] = []
  /** What a peer that publishes nothing is, as far as the observer can tell (bootstrap, merchant). */
  private readonly hints = new Map<string, { kind: 'bootstrap' | 'merchant', label: string }>()
  private clock?: ClockState
  private readonly heard = new Map<string, Heard>()
  private readonly trades = new Map<string, TradeRecord>()
  private readonly chat: ChatView[] = []
  private readonly rooms = new Map<string, RoomView>()

  constructor (town: string) {
    this.town = town
  }

  setSelf (peerId: string): void {
    this.self = peerId
  }

  /** Name a peer that publishes no status: a bootstrap peer (from its address), the merchant (from its protocols). */
  hint (peerId: string, kind: 'bootstrap' | 'merchant'): boolean {
    if (this.hints.get(peerId)?.kind === kind || this.hints.size >= MODEL_LIMITS.nodes) return false
    this.hints.set(peerId, { kind, label: kind })
    return true
  }

  /** Counts of what the observer refused off the wire (shown, so forgeries are visible). */
  refused: Record<string, number> = {}

  setConnections (peers: string[]): void {
    this.selfConnections = [...peers].sort()
  }

  setClock (state: ClockState | undefined): void {
    this.clock = state
  }

  /** A status notice that passed the topic's checks; an older one than held is ignored. */
  status (author: string, notice: StatusNotice, now = Date.now()): boolean {
    const held = this.heard.get(author)
    if (held != null && (notice.at < held.notice.at || (notice.at === held.notice.at && notice.seq <= held.notice.seq))) return false
    if (held == null && this.heard.size >= MODEL_LIMITS.publishers) return false
    this.heard.set(author, { notice, heardAt: now })
    for (const t of notice.trades) this.tradeNotice(t)
    return true
  }

  private tradeNotice (t: TradeNotice): void {
    const key = `${t.initiator}/${t.id}`
    let record = this.trades.get(key)
    if (record == null) {
      record = { sides: {} }
      this.trades.set(key, record)
      this.pruneTrades()
    }
    const held = record.sides[t.role]
    // a side's state only moves forward in its own time; a late copy of an old notice changes nothing
    if (held == null || t.updatedAt > held.updatedAt || (t.updatedAt === held.updatedAt && FINAL.has(t.status) && !FINAL.has(held.status))) {
      record.sides[t.role] = t
    }
  }

  private pruneTrades (): void {
    if (this.trades.size <= MODEL_LIMITS.trades) return
    const oldest = [...this.trades.entries()]
      .map(([key, r]) => ({ key, updatedAt: Math.max(r.sides.initiator?.updatedAt ?? 0, r.sides.counterparty?.updatedAt ?? 0) }))
      .sort((a, b) => a.updatedAt - b.updatedAt)
    for (const { key } of oldest.slice(0, this.trades.size - MODEL_LIMITS.trades)) this.trades.delete(key)
  }

  /** The name a peer gave in its latest status notice. */
  snapshotName (peerId: string): string | undefined {
    return this.heard.get(peerId)?.notice.name ?? undefined
  }

  chatMessage (entry: ChatView): void {
    if (this.chat.some(c => c.id === entry.id && c.from === entry.from)) return
    this.chat.push(entry)
    if (this.chat.length > MODEL_LIMITS.chat) this.chat.splice(0, this.chat.length - MODEL_LIMITS.chat)
  }

  room (id: string): RoomView | undefined {
    return this.rooms.get(id)
  }

  /** Start showing a room (looking for its config until `roomReady`). */
  watchRoom (id: string): RoomView {
    let room = this.rooms.get(id)
    if (room == null) {
      if (this.rooms.size >= MODEL_LIMITS.rooms) throw new Error(`at most ${MODEL_LIMITS.rooms} rooms are watched`)
      room = { id, name: null, status: 'looking', error: null, agents: [], messages: [], ended: null }
      this.rooms.set(id, room)
    }
    return room
  }

  roomReady (id: string, name: string, agents: Array<{ name: string, peerId: string }>): void {
    const room = this.watchRoom(id)
    room.name = name
    room.status = 'watching'
    room.error = null
    room.agents = agents.map(a => ({ ...a, connected: false }))
  }

  roomError (id: string, error: string): void {
    const room = this.watchRoom(id)
    room.error = error
  }

  /** A public room message, already checked by the room network (seat, signature, schema). */
  roomMessage (id: string, msg: { id: string, sender: string, receivers: readonly string[], visibility: string, content: string, turn?: number, end?: string, pass?: true }, now = Date.now()): boolean {
    if (msg.visibility !== 'public') return false
    const room = this.rooms.get(id)
    if (room == null || room.messages.some(m => m.id === msg.id)) return false
    room.messages.push({
      id: msg.id, sender: msg.sender, receivers: [...msg.receivers], content: msg.content,
      turn: msg.turn ?? null, end: msg.end ?? null, pass: msg.pass === true, at: now
    })
    if (msg.end != null) room.ended = msg.end
    if (room.messages.length > MODEL_LIMITS.roomMessages) room.messages.splice(0, room.messages.length - MODEL_LIMITS.roomMessages)
    return true
  }

  private isSilent (h: Heard, now: number): boolean {
    return now - h.heardAt > h.notice.every * SILENT_AFTER_HEARTBEATS + SILENT_SLACK_MS
  }

  snapshot (now = Date.now()): DashboardState {
    const clock = this.clock
    const t = clock == null ? undefined : tally(clock)
    const view = clock?.view ?? {}
    const digest = clock == null ? null : viewDigest(clock.view)
    const nameOf = (id: string): string | undefined => view[id]?.name ?? this.heard.get(id)?.notice.name ?? undefined

    // villagers: the town's members, and whoever publishes a villager's status
    const villagerIds = new Set<string>([...Object.keys(view), ...[...this.heard].filter(([, h]) => h.notice.role === 'villager').map(([id]) => id)])
    const villagers: VillagerView[] = [...villagerIds].map(id => {
      const h = this.heard.get(id)
      const n = h?.notice
      const time = n?.time ?? null
      return {
        peerId: id,
        name: view[id]?.name ?? n?.name ?? `peer …${id.slice(-6)}`,
        occupation: view[id]?.occupation ?? n?.villager?.occupation ?? null,
        member: view[id] != null,
        stamina: n?.villager?.stamina ?? null,
        coins: n?.villager?.coins ?? null,
        items: n?.villager?.items ?? {},
        time,
        behind: clock != null && time != null && (time.day !== clock.day || time.period !== clock.period || (time.digest != null && time.digest !== digest)),
        heardAt: h?.heardAt ?? null,
        silent: h == null || this.isSilent(h, now),
        peerCount: n?.peerCount ?? null
      }
    }).sort((a, b) => a.name.localeCompare(b.name))

    const trades: TradeView[] = [...this.trades.entries()].map(([key, r]) => {
      const any = (r.sides.counterparty ?? r.sides.initiator)!
      const side = (role: 'initiator' | 'counterparty'): TradeSideView => ({
        peerId: role === 'initiator' ? any.initiator : any.counterparty,
        name: nameOf(role === 'initiator' ? any.initiator : any.counterparty) ?? (role === 'initiator' ? any.initiatorName : any.counterpartyName),
        status: r.sides[role]?.status ?? null,
        updatedAt: r.sides[role]?.updatedAt ?? null
      })
      const initiator = side('initiator')
      const counterparty = side('counterparty')
      const cp = r.sides.counterparty
      const ini = r.sides.initiator
      const state: TradeStatus = cp != null && FINAL.has(cp.status)
        ? cp.status
        : ini != null && FINAL.has(ini.status)
          ? ini.status
          : (cp != null && ini != null ? (cp.updatedAt >= ini.updatedAt ? cp.status : ini.status) : any.status)
      return {
        key,
        id: any.id,
        side: any.side,
        item: any.item,
        quantity: any.quantity,
        unitPrice: any.unitPrice,
        initiator,
        counterparty,
        state,
        settling: cp != null && ini != null && cp.status !== ini.status && !(cp.status === 'received' && ini.status === 'proposed'),
        createdAt: Math.min(ini?.createdAt ?? Infinity, cp?.createdAt ?? Infinity),
        updatedAt: Math.max(ini?.updatedAt ?? 0, cp?.updatedAt ?? 0)
      }
    }).sort((a, b) => b.updatedAt - a.updatedAt)

    return {
      town: this.town,
      observer: { peerId: this.self, connections: this.selfConnections.length, refused: { ...this.refused } },
      now,
      time: {
        synced: clock != null,
        day: clock?.day ?? null,
        period: clock?.period ?? null,
        majority: t?.majority ?? null,
        viewDigest: digest,
        members: (t?.members ?? []).map(m => ({
          peerId: m.id, name: m.name, occupation: m.occupation, voted: m.voted, action: m.action ?? null, evictVotes: m.evictVotes, evicted: t!.evicted.includes(m.id)
        })).sort((a, b) => a.name.localeCompare(b.name)),
        awaiting: (t?.awaited ?? []).map(id => view[id]?.name ?? id).sort((a, b) => a.localeCompare(b))
      },
      villagers,
      trades,
      network: this.network(now, villagers),
      rooms: [...this.rooms.values()].map(r => ({
        ...r,
        agents: r.agents.map(a => ({ ...a, connected: this.selfConnections.includes(a.peerId) })),
        messages: [...r.messages]
      })),
      chat: [...this.chat]
    }
  }

  /**
   * Peers and links as the fresh notices tell them (plus the observer's own
   * links). Two villagers with no link either way are drawn as a missing edge:
   * the town dials every member, so a missing link is a cut or a peer that is
   * gone. Groups are the connected components; more than one group holding
   * villagers is a partition.
   */
  private network (now: number, villagers: VillagerView[]): DashboardState['network'] {
    const kinds = new Map<string, NodeView['kind']>()
    const labels = new Map<string, string>()
    const silent = new Set<string>()
    const members = new Set(villagers.filter(v => v.member).map(v => v.peerId))
    for (const v of villagers) { kinds.set(v.peerId, 'villager'); labels.set(v.peerId, v.name); if (v.silent) silent.add(v.peerId) }
    const adjacency = new Map<string, Set<string>>()
    const link = (a: string, b: string): void => {
      if (a === b) return
      if (!adjacency.has(a)) adjacency.set(a, new Set())
      if (!adjacency.has(b)) adjacency.set(b, new Set())
      adjacency.get(a)!.add(b)
      adjacency.get(b)!.add(a)
    }
    for (const [id, h] of this.heard) {
      if (!kinds.has(id)) {
        kinds.set(id, h.notice.role === 'merchant' ? 'merchant' : 'peer')
        labels.set(id, h.notice.role === 'merchant' ? 'merchant' : (h.notice.name ?? `peer …${id.slice(-6)}`))
      }
      if (this.isSilent(h, now)) { silent.add(id); continue }
      for (const p of h.notice.peers) link(id, p)
    }
    if (this.self !== '') {
      kinds.set(this.self, 'observer')
      labels.set(this.self, 'observer')
      for (const p of this.selfConnections) link(this.self, p)
    }
    for (const id of adjacency.keys()) {
      if (kinds.has(id) && kinds.get(id) !== 'peer') continue
      const hint = this.hints.get(id)
      kinds.set(id, hint?.kind ?? 'peer')
      labels.set(id, hint?.label ?? labels.get(id) ?? `peer …${id.slice(-6)}`)
    }
    // the town's peers only: a peer that publishes nothing and is neither a bootstrap nor the
    // merchant is someone else's (a room agent met through the DHT): counted, not drawn
    const rank: Record<NodeView['kind'], number> = { observer: 0, villager: 1, merchant: 2, bootstrap: 3, peer: 4 }
    const ofTown = (id: string): boolean => kinds.get(id) !== 'peer' || this.heard.has(id)
    const town = [...kinds.keys()].filter(ofTown)
    const ids = town.sort((a, b) => rank[kinds.get(a)!] - rank[kinds.get(b)!] || labels.get(a)!.localeCompare(labels.get(b)!)).slice(0, MODEL_LIMITS.nodes)
    const kept = new Set(ids)
    // connected components
    const group = new Map<string, number>()
    let groups = 0
    for (const id of ids) {
      if (group.has(id)) continue
      const stack = [id]
      group.set(id, groups)
      while (stack.length > 0) {
        const cur = stack.pop()!
        for (const next of adjacency.get(cur) ?? []) {
          if (kept.has(next) && !group.has(next)) { group.set(next, groups); stack.push(next) }
        }
      }
      groups++
    }
    const edges: EdgeView[] = []
    for (const a of ids) {
      for (const b of adjacency.get(a) ?? []) if (a < b && kept.has(b)) edges.push({ source: a, target: b, kind: 'up' })
    }
    const villagerIds = ids.filter(id => kinds.get(id) === 'villager')
    for (const [i, a] of villagerIds.entries()) {
      for (const b of villagerIds.slice(i + 1)) {
        if (!(adjacency.get(a)?.has(b) ?? false)) edges.push({ source: a < b ? a : b, target: a < b ? b : a, kind: 'missing' })
      }
    }
    const byGroup = new Map<number, string[]>()
    for (const id of villagerIds) {
      const g = group.get(id)!
      if (!byGroup.has(g)) byGroup.set(g, [])
      byGroup.get(g)!.push(labels.get(id)!)
    }
    const villagerGroups = [...byGroup.values()].map(names => names.sort()).sort((a, b) => b.length - a.length || a[0]!.localeCompare(b[0]!))
    return {
      nodes: ids.map(id => ({ id, label: labels.get(id)!, kind: kinds.get(id)!, silent: silent.has(id), member: members.has(id), group: group.get(id)! })),
      edges,
      groups: villagerGroups,
      partitioned: villagerGroups.length > 1,
      others: kinds.size - ids.length
    }
  }
}
