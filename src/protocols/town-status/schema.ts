/**
 * Wire schema of a status notice. It says only what is public in the town: a
 * villager's occupation, stamina, coins and items, the (day, period) it is at,
 * whom it is connected to, and the state of its latest trades. Never a key,
 * never a message. The author is the gossip signer (StrictSign): a notice
 * speaks only for its signer, so a listed trade must have the signer as one of
 * its two sides.
 */
import { z } from 'zod'
import { PeerIdString } from '../clock/codec.js'
import { TOWN_NAME_PATTERN } from '../town-directory/constants.js'
import { ITEMS, OCCUPATIONS, PERIODS } from '../../town/rules.js'
import { FINAL_STATUSES, OPEN_STATUSES, TRADE_LIMITS, type TradeStatus } from '../../town/trades.js'
import { MAX_STATUS_PEERS, MAX_STATUS_TRADES } from './constants.js'

const MAX_COUNT = 1_000_000_000_000
const Count = z.number().int().min(0).max(MAX_COUNT)
const Name = z.string().min(1).max(32).regex(/^[\p{L}\p{N}_-]+$/u, 'invalid name')
const Millis = z.number().int().min(0).max(8_640_000_000_000_000)
const TradeIdString = z.string().regex(/^[A-Za-z0-9_-]{6,32}$/)

export const STATUS_ROLES = ['villager', 'merchant', 'peer'] as const
export type StatusRole = (typeof STATUS_ROLES)[number]

export const TradeNoticeSchema = z.strictObject({
  id: TradeIdString,
  initiator: PeerIdString,
  initiatorName: Name,
  counterparty: PeerIdString,
  counterpartyName: Name,
  /** From the initiator's point of view. */
  side: z.enum(['buy', 'sell']),
  item: z.enum(ITEMS),
  quantity: z.number().int().min(1).max(TRADE_LIMITS.maxQuantity),
  unitPrice: z.number().int().min(0).max(TRADE_LIMITS.maxUnitPrice),
  /** The publisher's side of the trade and the state it holds. */
  role: z.enum(['initiator', 'counterparty']),
  status: z.enum([...OPEN_STATUSES, ...FINAL_STATUSES] as [TradeStatus, ...TradeStatus[]]),
  createdAt: Millis,
  updatedAt: Millis,
  expiresAt: Millis
})
export type TradeNotice = z.infer<typeof TradeNoticeSchema>

export const VillagerPublicSchema = z.strictObject({
  occupation: z.enum(OCCUPATIONS),
  stamina: z.number().int().min(0).max(100),
  coins: Count,
  items: z.strictObject(Object.fromEntries(ITEMS.map(i => [i, Count])) as Record<(typeof ITEMS)[number], typeof Count>)
})
export type VillagerPublic = z.infer<typeof VillagerPublicSchema>

export const StatusNoticeSchema = z.strictObject({
  v: z.literal(1),
  town: z.string().regex(TOWN_NAME_PATTERN),
  role: z.enum(STATUS_ROLES),
  name: Name.nullable(),
  /** Publisher's wall clock and a counter: a newer notice replaces an older one. */
  at: Millis,
  seq: z.number().int().min(0),
  /** The heartbeat this publisher keeps, so a listener knows when silence means trouble. */
  every: z.number().int().min(100).max(600_000),
  /** The (day, period) this peer is at, and its membership digest; null before it knows. */
  time: z.strictObject({ day: z.number().int().min(1).max(1_000_000_000), period: z.enum(PERIODS), digest: z.string().regex(/^[0-9a-f]{16}$/).nullable() }).nullable(),
  villager: VillagerPublicSchema.nullable(),
  /** PeerIds this peer holds an open connection to. */
  peers: z.array(PeerIdString).max(MAX_STATUS_PEERS),
  peerCount: z.number().int().min(0).max(100_000),
  trades: z.array(TradeNoticeSchema).max(MAX_STATUS_TRADES)
})
export type StatusNotice = z.infer<typeof StatusNoticeSchema>

/** Checks beyond the shape, given who signed the notice. Returns a reason to refuse, or undefined. */
export function checkNotice (notice: StatusNotice, author: string, town: string): string | undefined {
  if (notice.town !== town) return `notice for town ${notice.town} on the topic of ${town}`
  if (notice.peers.includes(author)) return 'a peer cannot be connected to itself'
  if (new Set(notice.peers).size !== notice.peers.length) return 'duplicate peer'
  if (notice.peerCount < notice.peers.length) return 'peerCount below the listed peers'
  if ((notice.role === 'villager') !== (notice.villager != null && notice.name != null)) return 'a villager notice carries a name and a villager, and only it does'
  const seen = new Set<string>()
  for (const t of notice.trades) {
    const mine = t.role === 'initiator' ? t.initiator : t.counterparty
    if (mine !== author) return `trade ${t.id}: the signer is not its ${t.role}`
    if (t.initiator === t.counterparty) return `trade ${t.id}: a villager cannot trade with itself`
    if (notice.name != null && (t.role === 'initiator' ? t.initiatorName : t.counterpartyName) !== notice.name) return `trade ${t.id}: the signer's name differs`
    const key = `${t.initiator}/${t.id}`
    if (seen.has(key)) return `trade ${t.id} listed twice`
    seen.add(key)
  }
  return undefined
}
