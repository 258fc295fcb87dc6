import { expect } from 'chai'
import fc from 'fast-check'
import { CausalInbox, channelsAt, stampClock, type CausalMessage } from '../src/rooms/causal-inbox.js'
import { DeliveredIndex, visibleTo, type ChannelRange } from '../src/rooms/delivered-index.js'
import { get, type VectorClock } from '../src/rooms/vector-clock.js'

const AGENTS = ['ann', 'bob', 'cat', 'dan'] as const

// What a catch-up answer was before the index: a scan of the whole transcript.
function scanRanges (delivered: CausalMessage[], requester: string, ranges: readonly ChannelRange[]): CausalMessage[] {
  return delivered.filter(m => visibleTo(m, requester) &&
    ranges.some(r => channelsAt(m, requester).includes(r.channel) && get(m.clock, r.channel) >= r.from && get(m.clock, r.channel) <= r.to))
}
function scanSince (delivered: CausalMessage[], requester: string, since: VectorClock): CausalMessage[] {
  return delivered.filter(m => visibleTo(m, requester) && channelsAt(m, requester).some(c => get(m.clock, c) > get(since, c)))
}

/** A room's history from seeded steps: each step one agent sends publicly or privately, then everyone delivers. */
function history (steps: Array<{ sender: number, receivers: number[], isPublic: boolean }>): Map<string, CausalMessage[]> {
  const inboxes = new Map(AGENTS.map(a => [a, new CausalInbox<CausalMessage>(a, { maxBuffered: 10_000 })]))
  const transcripts = new Map<string, CausalMessage[]>(AGENTS.map(a => [a, []]))
  steps.forEach((step, i) => {
    const sender = AGENTS[step.sender]!
    const receivers = [...new Set(step.receivers.map(r => AGENTS[r]!))].filter(r => r !== sender)
    const visibility = step.isPublic || receivers.length === 0 ? 'public' : 'private'
    const msg: CausalMessage = {
      id: `${sender}.${i}`, sender, visibility,
      receivers: visibility === 'public' ? [] : receivers,
      clock: stampClock(inboxes.get(sender)!.delivered, sender, visibility, receivers)
    }
    for (const [agent, inbox] of inboxes) {
      if (visibility === 'public' || agent === sender || receivers.includes(agent)) inbox.receive(msg)
      transcripts.get(agent)!.push(...inbox.drain())
    }
  })
  return transcripts
}

describe('delivered index (answers to catch-up requests)', () => {
  const step = fc.record({ sender: fc.nat({ max: 3 }), receivers: fc.array(fc.nat({ max: 3 }), { maxLength: 3 }), isPublic: fc.boolean() })
  const channel = fc.oneof(fc.constantFrom(...AGENTS), fc.tuple(fc.constantFrom(...AGENTS), fc.constantFrom(...AGENTS)).map(([a, b]) => `${a}>${b}`), fc.constant('nobody'))
  const range = fc.record({ channel, from: fc.integer({ min: -1, max: 12 }), to: fc.integer({ min: -1, max: 14 }) })
  const clock = fc.dictionary(channel, fc.nat({ max: 12 }))

  it('answers ranges and "since" exactly as a scan of the transcript does, in delivery order, each message once', () => {
    fc.assert(fc.property(fc.array(step, { minLength: 1, maxLength: 40 }), fc.constantFrom(...AGENTS), fc.constantFrom(...AGENTS),
      fc.array(range, { maxLength: 5 }), clock, (steps, holder, requester, ranges, since) => {
        const delivered = history(steps).get(holder)!
        const index = new DeliveredIndex<CausalMessage>()
        for (const m of delivered) index.add(m)
        expect(index.messages).to.deep.equal(delivered)
        expect(index.inRanges(requester, ranges)).to.deep.equal(scanRanges(delivered, requester, ranges))
        expect(index.since(requester, since)).to.deep.equal(scanSince(delivered, requester, since))
        expect(index.all(requester)).to.deep.equal(delivered.filter(m => visibleTo(m, requester)))
      }), { seed: 7, numRuns: 300 })
  })

  it('another receiver of a private message finds it by its own channel; a stranger never does', () => {
    const delivered = history([{ sender: 0, receivers: [1, 2], isPublic: false }, { sender: 3, receivers: [], isPublic: true }]).get('bob')!
    const index = new DeliveredIndex<CausalMessage>()
    for (const m of delivered) index.add(m)
    expect(index.inRanges('cat', [{ channel: 'ann>cat', from: 1, to: 1 }]).map(m => m.id)).to.deep.equal(['ann.0'])
    expect(index.inRanges('dan', [{ channel: 'ann>cat', from: 1, to: 1 }])).to.deep.equal([])
    expect(index.since('dan', {}).map(m => m.id)).to.deep.equal(['dan.1'])
    expect(index.since('ann', { dan: 1 }).map(m => m.id)).to.deep.equal(['ann.0'])
  })
})
