import { z } from 'zod'
import type { ClockState } from '../../town/clock.js'
import { VoteSchema } from './codec.js'
import { RELAY_MIN_MEMBERS } from './constants.js'
import { memberOrder } from './reach.js'

/**
 * Votes travel through the period's relay: each voter hands its signed vote to one
 * member over a direct stream, and the relay publishes the votes it holds on the
 * clock topic in one message once they complete the period (or after a short hold).
 * A flooded vote costs the town N − 1 deliveries, each its own frame, message
 * signature and check on every peer, and with every villager its own process that
 * was the barrier's whole cost (N² deliveries a period). Through a relay a period
 * is N − 1 hand-overs and one message to N − 1 peers.
 *
 * The relay has no say: a vote is signed by its voter, every peer checks and counts
 * it as before, and a voter whose relay does not take its vote (no link, refused,
 * the stream lost) publishes it itself; a slow relay is waited for. A relay that
 * takes votes and then says nothing (a crash, a partition) delays them until its
 * voters' heartbeats and the repairs that resume once it is silent (ClockService's
 * leftToRelay: while the relay is heard from, it alone re-publishes a slow period).
 *
 * The relay is the member at `day mod N` in PeerId order: the same through a day,
 * so the peer that completes a period (the relay, holding every vote first) is
 * already in the next one when its votes arrive, and another member each day.
 */
export function relayOf (state: ClockState): string | undefined {
  const { ids } = memberOrder(state.view)
  if (ids.length < RELAY_MIN_MEMBERS) return undefined
  return ids[state.day % ids.length]
}

/** A voter's own vote, handed to the relay. */
export const RelayRequestSchema = z.strictObject({ vote: VoteSchema })
export type RelayRequest = z.infer<typeof RelayRequestSchema>

/** `relayed`: held, and published with the others; `known`: the relay held it already (gossip brought it). */
export const RelayReplySchema = z.strictObject({ held: z.enum(['relayed', 'known']) })
export type RelayReply = z.infer<typeof RelayReplySchema>
