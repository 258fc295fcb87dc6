import { expect } from 'chai'
import { ClockMessageSchema } from '../src/protocols/clock/codec.js'
import { heartbeatIntervalMs } from '../src/protocols/clock/pace.js'
import { MAX_REACH_GUESTS } from '../src/protocols/clock/constants.js'
import { encodeGuests, encodeReach, memberOrder, reachCovers } from '../src/protocols/clock/reach.js'
import { peerTag } from '../src/node/gossip-routes.js'
import { viewDigest, type Member } from '../src/town/clock.js'

function viewOf (n: number): Record<string, Member> {
  // ids in reverse order: the bits follow PeerId order, not insertion order
  const view: Record<string, Member> = {}
  for (let i = n - 1; i >= 0; i--) view[`12D3KooW${String(i).padStart(44, 'A')}`] = { name: `v${i}`, occupation: 'farmer' }
  return view
}

describe('clock reach bitmap (which members an author sent its message to)', () => {
  it('names exactly the members reached, in PeerId order, whatever the view\'s key order', () => {
    const view = viewOf(20)
    const order = memberOrder(view)
    expect(order.ids).to.deep.equal(Object.keys(view).sort())
    expect(order.digest).to.equal(viewDigest(view))
    const reached = new Set(order.ids.filter((_, i) => i % 3 !== 0))
    const reach = encodeReach(order, id => reached.has(id))
    expect(reach).to.have.length(4) // 20 bits: 3 bytes
    for (const id of order.ids) expect(reachCovers(reach, order, [id]), id).to.equal(reached.has(id))
    expect(reachCovers(reach, order, [...reached])).to.equal(true)
    expect(reachCovers(reach, order, [...reached, order.ids[0]!])).to.equal(false)
    expect(reachCovers(reach, order, [])).to.equal(true)
  })

  it('a peer outside the view (an observer, a newcomer) is covered only when the author named it among its guests', () => {
    const order = memberOrder(viewOf(5))
    const all = encodeReach(order, () => true)
    const observer = '12D3KooWobserverobserverobserverobserverobsrv1'
    const other = '12D3KooWobserverobserverobserverobserverobsrv2'
    expect(reachCovers(all, order, order.ids)).to.equal(true)
    expect(reachCovers(all, order, [...order.ids, observer])).to.equal(false)
    // members are never listed as guests: they have their bits
    const guests = encodeGuests(order, [order.ids[0]!, observer])
    expect(guests).to.deep.equal([peerTag(observer)])
    expect(reachCovers(all, order, [...order.ids, observer], guests)).to.equal(true)
    expect(reachCovers(all, order, [observer, other], guests)).to.equal(false)
    // the list is bounded: a peer past the bound is left to forwarding
    const many = Array.from({ length: MAX_REACH_GUESTS + 5 }, (_, i) => `12D3KooWguest${String(i).padStart(33, 'x')}`)
    expect(encodeGuests(order, many)).to.have.length(MAX_REACH_GUESTS)
  })

  it('a short bitmap (an author whose view is smaller) covers none of the members past its end', () => {
    const small = memberOrder(viewOf(8))
    const big = memberOrder(viewOf(9))
    const reach = encodeReach(small, () => true)
    expect(reachCovers(reach, big, [big.ids[8]!])).to.equal(false)
  })

  it('the largest view fits the wire bound; a reach that is not base64url or too long, or bad guests, are refused', () => {
    const order = memberOrder(viewOf(1024))
    const reach = encodeReach(order, () => true)
    const msg = { v: 1, town: 'reachville', day: 1, period: 'morning', digest: order.digest, forming: false, seq: 0, stmts: [], reach }
    expect(ClockMessageSchema.safeParse(msg).success).to.equal(true)
    expect(ClockMessageSchema.safeParse({ ...msg, reach: reach + 'AAAA' }).success).to.equal(false)
    expect(ClockMessageSchema.safeParse({ ...msg, reach: 'not+base64/url' }).success).to.equal(false)
    const guests = encodeGuests(order, ['12D3KooWobserverobserverobserverobserverobsrv1'])
    expect(ClockMessageSchema.safeParse({ ...msg, guests }).success).to.equal(true)
    expect(ClockMessageSchema.safeParse({ ...msg, guests: Array(MAX_REACH_GUESTS + 1).fill(guests[0]) }).success, 'too many guests').to.equal(false)
    expect(ClockMessageSchema.safeParse({ ...msg, guests: ['short'] }).success, 'a guest tag of the wrong length').to.equal(false)
    expect(ClockMessageSchema.safeParse({ ...msg, guests: ['0OIl0OIl0OIl'] }).success, 'a guest tag that is not base58').to.equal(false)
    // an author of an older release sends no reach: receivers forward as before
    const { reach: _none, ...older } = msg
    expect(ClockMessageSchema.safeParse(older).success).to.equal(true)
  })
})

describe('clock heartbeat pace (how often a quiet member speaks)', () => {
  it('a sixth of the eviction timeout up to 25 members, 5 s at most, never faster than the re-publish interval', () => {
    expect(heartbeatIntervalMs(5, 30_000, 1_000)).to.equal(5_000)
    expect(heartbeatIntervalMs(25, 30_000, 1_000)).to.equal(5_000)
    expect(heartbeatIntervalMs(3, 6_000, 200)).to.equal(1_000)
    expect(heartbeatIntervalMs(3, 600, 200)).to.equal(200)
    expect(heartbeatIntervalMs(0, 120_000, 1_000)).to.equal(5_000)
  })

  it('beyond 25 members, 200 ms per member, so each member hears about as many heartbeats a second as at 25', () => {
    expect(heartbeatIntervalMs(30, 30_000, 1_000)).to.equal(6_000)
    expect(heartbeatIntervalMs(35, 30_000, 1_000)).to.equal(7_000)
    const perSecond = (n: number): number => (n - 1) / (heartbeatIntervalMs(n, 120_000, 1_000) / 1000)
    expect(perSecond(100)).to.be.closeTo(perSecond(26), 0.3)
  })

  it('never slower than a quarter of the eviction timeout: four missed heartbeats before an eviction', () => {
    expect(heartbeatIntervalMs(50, 30_000, 1_000)).to.equal(7_500)
    expect(heartbeatIntervalMs(1_000, 30_000, 1_000)).to.equal(7_500)
    expect(heartbeatIntervalMs(50, 6_000, 200)).to.equal(1_500)
  })
})
