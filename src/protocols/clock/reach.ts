import { memberIds, viewDigest, type Member } from '../../town/clock.js'
import { peerTag } from '../../node/gossip-routes.js'
import { MAX_REACH_GUESTS } from './constants.js'

/**
 * Which members a clock message's author sent it to itself. An author floods
 * every message to each subscriber it holds a stream to; in a town whose peers
 * are all linked, gossipsub's mesh forwarding then sends each receiver's mesh
 * peers a copy they already have (two thirds of a settled town's sends). The
 * author names the members it reached, as one bit per member of its view in
 * PeerId order, and a receiver lets gossipsub forward it only when a subscriber
 * it knows is not among them. A receiver whose view differs cannot read the bits
 * and forwards. The bits are signed with the message, so only its author can
 * narrow where its own messages go, which it could do anyway by not sending them.
 * Subscribers outside the view (an observer such as the dashboard, a newcomer not
 * yet admitted) have no bit: the author names the few it reached by a tag of
 * their PeerId, so that watching a town does not bring every copy back.
 */

/** Members in the order the bits follow, with each one's position and the view's digest; computed once per view. */
export interface MemberOrder {
  ids: readonly string[]
  index: Map<string, number>
  digest: string
}

const orders = new WeakMap<Record<string, Member>, MemberOrder>()

export function memberOrder (view: Record<string, Member>): MemberOrder {
  let order = orders.get(view)
  if (order == null) {
    const ids = memberIds(view)
    order = { ids, index: new Map(ids.map((id, i) => [id, i])), digest: viewDigest(view) }
    orders.set(view, order)
  }
  return order
}

/** One bit per member of `order`, set where `reached` says so. */
export function encodeReach (order: MemberOrder, reached: (id: string) => boolean): string {
  const bits = new Uint8Array(Math.ceil(order.ids.length / 8))
  order.ids.forEach((id, i) => {
    if (reached(id)) bits[i >> 3]! |= 1 << (i & 7)
  })
  return Buffer.from(bits).toString('base64url')
}

/** Tags of the reached peers that are not members of `order`, at most MAX_REACH_GUESTS (the rest are left to forwarding). */
export function encodeGuests (order: MemberOrder, reached: Iterable<string>): string[] {
  const guests: string[] = []
  for (const id of reached) {
    if (guests.length >= MAX_REACH_GUESTS) break
    if (!order.index.has(id)) guests.push(peerTag(id))
  }
  return guests.sort()
}

/**
 * Whether every peer in `peers` is one the author reached: a member whose bit is
 * set, or a peer outside the view named among `guests`.
 */
export function reachCovers (reach: string, order: MemberOrder, peers: Iterable<string>, guests: readonly string[] = []): boolean {
  const bits = Buffer.from(reach, 'base64url')
  for (const peer of peers) {
    const i = order.index.get(peer)
    if (i == null) {
      if (!guests.includes(peerTag(peer))) return false
    } else if (((bits[i >> 3] ?? 0) & (1 << (i & 7))) === 0) {
      return false
    }
  }
  return true
}
