/**
 * Wire schemas of the room protocols. Everything read off the wire passes one
 * of these (after a byte bound) before anything else looks at it.
 *
 * Room messages carry their author's signature (Ed25519, the libp2p peer key)
 * over a canonical encoding, on top of gossipsub's StrictSign. Gossip's
 * signature vanishes once a message is relayed by the catch-up protocol; ours
 * travels with the message, so a message fetched from any peer is as
 * trustworthy as one heard from its author.
 */
import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { fromString as uint8FromString, toString as uint8ToString } from 'uint8arrays'
import { z } from 'zod'
import {
  AGENT_NAME_PATTERN, MAX_ADDRS_PER_SEAT, MAX_CLOCK_ENTRIES, MAX_CONTENT_CHARS, MAX_END_CHARS,
  MAX_RECEIVERS, MAX_ROOM_REACH, MAX_SYNC_MESSAGES, MAX_SYNC_RANGES, MESSAGE_ID_PATTERN, ROOM_ID_PATTERN
} from './constants.js'
import { PeerTagSchema } from '../../node/gossip-routes.js'

export const RoomIdSchema = z.string().regex(ROOM_ID_PATTERN, { error: 'must be 16 characters of A-Z a-z 0-9' })
export const AgentNameSchema = z.string().regex(AGENT_NAME_PATTERN, { error: 'must be 1..32 characters of A-Z a-z 0-9 _ -' })
export const MessageIdSchema = z.string().regex(MESSAGE_ID_PATTERN, { error: 'must be <sender>.<n>' })

const CHANNEL_PATTERN = /^[A-Za-z0-9_-]{1,32}(>[A-Za-z0-9_-]{1,32})?$/

export type WireClock = Readonly<Record<string, number>>

/**
 * Hand-checked rather than z.record: zod builds the output by assignment,
 * which silently drops a "__proto__" key, and "__proto__" is a legal agent
 * name. Object.fromEntries keeps it an own property.
 */
export const ClockSchema = z.unknown().transform((value, ctx): WireClock => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    ctx.addIssue({ code: 'custom', message: 'clock must be an object' })
    return z.NEVER
  }
  const entries = Object.entries(value)
  if (entries.length > MAX_CLOCK_ENTRIES) {
    ctx.addIssue({ code: 'custom', message: `clock has more than ${MAX_CLOCK_ENTRIES} entries` })
    return z.NEVER
  }
  for (const [key, n] of entries) {
    if (!CHANNEL_PATTERN.test(key)) {
      ctx.addIssue({ code: 'custom', message: `clock key ${JSON.stringify(key.slice(0, 70))} is not an agent or agent>agent` })
      return z.NEVER
    }
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) {
      ctx.addIssue({ code: 'custom', message: `clock entry ${key} must be a positive integer` })
      return z.NEVER
    }
  }
  return Object.freeze(Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))) as WireClock
})

export const VisibilitySchema = z.enum(['public', 'private'])
export const ReplySchema = z.enum(['reply', 'no_reply'])

const roomMessageFields = {
  room: RoomIdSchema,
  id: MessageIdSchema,
  sender: AgentNameSchema,
  receivers: z.array(AgentNameSchema).max(MAX_RECEIVERS),
  visibility: VisibilitySchema,
  reply: ReplySchema,
  content: z.string().max(MAX_CONTENT_CHARS),
  clock: ClockSchema,
  /** Sequential modes: the turn this message belongs to; its public message ends it. */
  turn: z.int().min(0).max(1_000_000_000).optional(),
  /** The ask this message answers. */
  re: MessageIdSchema.optional(),
  /** The sender declares the game over, with this result. */
  end: z.string().min(1).max(MAX_END_CHARS).optional(),
  /** A turn passed without speaking: public, empty, and still a turn. */
  pass: z.literal(true).optional()
}

function checkShape (msg: { id: string, sender: string, receivers: readonly string[], visibility: string, reply: string, content: string, end?: string, pass?: true }, ctx: z.RefinementCtx): void {
  if (!msg.id.startsWith(`${msg.sender}.`)) ctx.addIssue({ code: 'custom', path: ['id'], message: 'must start with the sender' })
  if (new Set(msg.receivers).size !== msg.receivers.length) ctx.addIssue({ code: 'custom', path: ['receivers'], message: 'duplicate receiver' })
  if (msg.visibility === 'private') {
    if (msg.receivers.length === 0 || msg.receivers.includes(msg.sender)) {
      ctx.addIssue({ code: 'custom', path: ['receivers'], message: 'a private message needs receivers other than its sender' })
    }
    if (msg.end !== undefined || msg.pass === true) ctx.addIssue({ code: 'custom', path: ['visibility'], message: 'only a public message can end a game or pass a turn' })
  }
  if (msg.pass === true && (msg.content !== '' || msg.reply !== 'no_reply')) {
    ctx.addIssue({ code: 'custom', path: ['pass'], message: 'a pass has no content and asks nothing' })
  }
  if (msg.pass !== true && msg.content.trim() === '') ctx.addIssue({ code: 'custom', path: ['content'], message: 'must not be empty' })
}

export const UnsignedRoomMessageSchema = z.strictObject(roomMessageFields).superRefine(checkShape)
const signedRoomMessageFields = {
  ...roomMessageFields,
  /** base64 Ed25519 signature of signingBytes() by the sender's peer key. */
  sig: z.string().min(1).max(200)
}
export const RoomMessageSchema = z.strictObject(signedRoomMessageFields).superRefine(checkShape)

/**
 * On the room topic a message also names the subscribers its author sent it to
 * (tags, gossip-routes.ts), so that a receiver does not forward copies every other
 * subscriber already has. Outside the room signature (gossipsub's signature covers
 * the whole payload) and never stored or relayed: it says how this publish went.
 */
export const RoomGossipSchema = z.strictObject({
  ...signedRoomMessageFields,
  reach: z.array(PeerTagSchema).max(MAX_ROOM_REACH).optional()
}).superRefine(checkShape)

export type UnsignedRoomMessage = z.infer<typeof UnsignedRoomMessageSchema>
export type RoomMessage = z.infer<typeof RoomMessageSchema>

const encoder = new TextEncoder()

/**
 * The bytes a sender signs: a fixed-order array, so the signature does not
 * depend on how a JSON encoder happened to order an object's keys.
 */
export function signingBytes (msg: UnsignedRoomMessage | RoomMessage): Uint8Array {
  const clock = Object.entries(msg.clock).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return encoder.encode(JSON.stringify([
    'meshtown-room-message/1', msg.room, msg.id, msg.sender, msg.receivers, msg.visibility, msg.reply,
    msg.content, clock, msg.turn ?? null, msg.re ?? null, msg.end ?? null, msg.pass === true
  ]))
}

export async function signRoomMessage (key: PrivateKey, msg: UnsignedRoomMessage): Promise<RoomMessage> {
  const sig = await key.sign(signingBytes(msg))
  return { ...msg, sig: uint8ToString(sig, 'base64') }
}

export async function verifyRoomMessage (key: PublicKey, msg: RoomMessage): Promise<boolean> {
  let sig: Uint8Array
  try {
    sig = uint8FromString(msg.sig, 'base64')
  } catch {
    return false
  }
  try {
    return await key.verify(signingBytes(msg), sig)
  } catch {
    return false
  }
}

/** Seqs `from..to` (inclusive) of one clock channel. */
export const SyncRangeSchema = z.strictObject({
  channel: z.string().regex(CHANNEL_PATTERN),
  from: z.int().min(1),
  to: z.int().min(1)
}).refine(r => r.to >= r.from, { error: 'to must be >= from' })

/**
 * Either the gaps an inbox reports (`ranges`), or everything newer than the
 * requester's delivered clock (`since`), for a restart or a lost tail.
 */
export const SyncRequestSchema = z.strictObject({
  room: RoomIdSchema,
  ranges: z.array(SyncRangeSchema).max(MAX_SYNC_RANGES).optional(),
  since: ClockSchema.optional()
})
export type SyncRequest = z.infer<typeof SyncRequestSchema>
export type SyncRange = z.infer<typeof SyncRangeSchema>

/** Messages are checked one by one by the requester (a bad one does not spoil the rest). */
export const SyncReplySchema = z.strictObject({
  messages: z.array(z.unknown()).max(MAX_SYNC_MESSAGES),
  more: z.boolean()
})
export type SyncReply = z.infer<typeof SyncReplySchema>

export const DeliveryAckSchema = z.strictObject({ accepted: z.boolean() })
export type DeliveryAck = z.infer<typeof DeliveryAckSchema>

const AddrSchema = z.string().min(1).max(512)

export const SeatSchema = z.strictObject({
  name: AgentNameSchema,
  peer: z.string().min(1).max(128),
  addrs: z.array(AddrSchema).max(MAX_ADDRS_PER_SEAT)
})
export type Seat = z.infer<typeof SeatSchema>

/**
 * What a room is: its config (YAML, so the joiner validates it with the same
 * line-numbered checks as a local file) and which peer holds which seat.
 * Sealed once every agent of the config has a peer; seats never change after.
 */
export const RoomManifestSchema = z.strictObject({
  room: RoomIdSchema,
  yaml: z.string().min(1).max(256 * 1024),
  creator: z.string().min(1).max(128),
  /** A list, not a record: "__proto__" is a legal agent name. */
  seats: z.array(SeatSchema).max(64).refine(s => new Set(s.map(x => x.name)).size === s.length, { error: 'duplicate seat' }),
  sealed: z.boolean()
})
export type RoomManifest = z.infer<typeof RoomManifestSchema>

export const ConfigRequestSchema = z.strictObject({
  room: RoomIdSchema,
  /** Ask for this seat for the requesting peer (first come, first served; the same peer may ask again). */
  claim: z.strictObject({ name: AgentNameSchema, addrs: z.array(AddrSchema).max(MAX_ADDRS_PER_SEAT) }).optional()
})
export type ConfigRequest = z.infer<typeof ConfigRequestSchema>
