import { expect } from 'chai'
import fc from 'fast-check'
import {
  CausalInbox,
  InboxFullError,
  channelsAt,
  isDeliverable,
  privateChannel,
  stampClock,
  type CausalMessage,
  type Visibility,
} from '../src/rooms/causal-inbox.js'
import {
  canonicalClock,
  clockByteSize,
  compare,
  compareForDelivery,
  dominates,
  emptyClock,
  get,
  happenedBefore,
  merge,
  sortForDelivery,
  tick,
  type VectorClock,
} from '../src/rooms/vector-clock.js'

const FC = { seed: 42, numRuns: 200 } as const

describe('vector clock', () => {
  it('starts empty and reads absent entries as zero', () => {
    expect(emptyClock()).to.deep.equal({})
    expect(get(emptyClock(), 'ann')).to.equal(0)
    expect(get({ ann: 3 }, 'ann')).to.equal(3)
  })

  it('ticks one entry without mutating its input', () => {
    const c = Object.freeze({ ann: 1 })
    expect(tick(c, 'ann')).to.deep.equal({ ann: 2 })
    expect(tick(c, 'bob')).to.deep.equal({ ann: 1, bob: 1 })
    expect(c).to.deep.equal({ ann: 1 })
  })

  it('merges entry-wise maximum, without mutating', () => {
    const a = Object.freeze({ ann: 2, bob: 1 })
    const b = Object.freeze({ bob: 3, cat: 1 })
    expect(merge(a, b)).to.deep.equal({ ann: 2, bob: 3, cat: 1 })
    expect(a).to.deep.equal({ ann: 2, bob: 1 })
    expect(b).to.deep.equal({ bob: 3, cat: 1 })
  })

  it('compares: before, after, equal, concurrent', () => {
    expect(compare({ ann: 1 }, { ann: 2 })).to.equal('before')
    expect(compare({ ann: 2 }, { ann: 1 })).to.equal('after')
    expect(compare({ ann: 1, bob: 0 }, { ann: 1 })).to.equal('equal')
    expect(compare({ ann: 1 }, { bob: 1 })).to.equal('concurrent')
    expect(compare({}, { bob: 1 })).to.equal('before')
  })

  it('happenedBefore is strict, dominates is not', () => {
    expect(happenedBefore({ ann: 1 }, { ann: 1, bob: 1 })).to.equal(true)
    expect(happenedBefore({ ann: 1 }, { ann: 1 })).to.equal(false)
    expect(happenedBefore({ ann: 1 }, { bob: 1 })).to.equal(false)
    expect(dominates({ ann: 1 }, { ann: 1 })).to.equal(true)
    expect(dominates({ ann: 2, bob: 1 }, { ann: 1 })).to.equal(true)
    expect(dominates({ ann: 1 }, { bob: 1 })).to.equal(false)
  })

  it('keeps canonical form: no zeros, sorted keys', () => {
    const c = canonicalClock({ zed: 1, ann: 0, bob: 2 })
    expect(c).to.deep.equal({ bob: 2, zed: 1 })
    expect(Object.keys(c)).to.deep.equal(['bob', 'zed'])
    expect(JSON.stringify(merge({ zed: 1 }, { ann: 1 }))).to.equal('{"ann":1,"zed":1}')
  })

  it('treats "__proto__" as an ordinary agent id', () => {
    const c = tick(tick(emptyClock(), '__proto__'), '__proto__')
    expect(get(c, '__proto__')).to.equal(2)
    expect(Object.getPrototypeOf(c)).to.equal(Object.prototype)
    expect(get({}, 'constructor')).to.equal(0)
    expect(compare(c, {})).to.equal('after')
  })

  it('orders for delivery by causality, then sum, sender, id', () => {
    const m = (id: string, sender: string, clock: VectorClock) => ({ id, sender, clock })
    expect(compareForDelivery(m('x', 'zed', { zed: 1 }), m('y', 'ann', { zed: 1, ann: 1 }))).to.be.below(0)
    expect(compareForDelivery(m('x', 'bob', { bob: 1 }), m('y', 'ann', { ann: 1 }))).to.be.above(0)
    expect(compareForDelivery(m('b', 'ann', { ann: 1 }), m('a', 'ann', { ann: 1 }))).to.be.above(0)
    expect(compareForDelivery(m('a', 'ann', { ann: 1 }), m('a', 'ann', { ann: 1 }))).to.equal(0)
  })

  it('measures the JSON encoding in bytes', () => {
    expect(clockByteSize({})).to.equal(2)
    expect(clockByteSize({ ann: 1 })).to.equal('{"ann":1}'.length)
    expect(clockByteSize({ ann: 1, bob: 0 })).to.equal('{"ann":1}'.length)
    expect(clockByteSize({ 'é': 12 })).to.equal(Buffer.byteLength('{"é":12}'))
  })

  const clockArb = fc
    .dictionary(fc.constantFrom('ann', 'bob', 'cat', '__proto__', 'a>b'), fc.nat({ max: 5 }))
    .map(canonicalClock)

  it('merge is a join: commutative, associative, idempotent, an upper bound', () => {
    fc.assert(
      fc.property(clockArb, clockArb, clockArb, (a, b, c) => {
        expect(merge(a, b)).to.deep.equal(merge(b, a))
        expect(merge(merge(a, b), c)).to.deep.equal(merge(a, merge(b, c)))
        expect(merge(a, a)).to.deep.equal(a)
        expect(dominates(merge(a, b), a) && dominates(merge(a, b), b)).to.equal(true)
      }),
      FC,
    )
  })

  it('compare is antisymmetric and agrees with happenedBefore and delivery order', () => {
    const flip = { before: 'after', after: 'before', equal: 'equal', concurrent: 'concurrent' } as const
    fc.assert(
      fc.property(clockArb, clockArb, (a, b) => {
        expect(compare(b, a)).to.equal(flip[compare(a, b)])
        expect(happenedBefore(a, b)).to.equal(compare(a, b) === 'before')
        if (happenedBefore(a, b)) {
          expect(compareForDelivery({ clock: a, sender: 'z', id: 'z' }, { clock: b, sender: 'a', id: 'a' })).to.be.below(0)
        }
      }),
      FC,
    )
  })
})

// ---------------------------------------------------------------------------
// Causal histories. Ground truth is kept as explicit sets of message ids
// (`past`), independent of clocks, so clocks and inboxes are checked against it.

interface Msg extends CausalMessage {
  readonly past: ReadonlySet<string>
}

const NAMES = ['ann', 'bob', '__proto__', 'dee', 'eve-1', 'fay_2', 'constructor', 'hal']

interface Step {
  readonly agent: number
  readonly action: 'deliver' | 'public' | 'private'
  readonly pick: number
  readonly mask: number
}

const historyArb = fc.integer({ min: 2, max: 8 }).chain((n) =>
  fc.record({
    names: fc.constant(NAMES.slice(0, n)),
    steps: fc.array(
      fc.record({
        agent: fc.nat({ max: n - 1 }),
        action: fc.constantFrom<Step['action']>('deliver', 'deliver', 'public', 'private'),
        pick: fc.nat(),
        mask: fc.nat({ max: 2 ** n - 1 }),
      }),
      { minLength: 1, maxLength: 60 },
    ),
    seed: fc.noShrink(fc.integer()),
  }),
)

function isFor(msg: CausalMessage, agent: string): boolean {
  return channelsAt(msg, agent).length > 0
}

function buildHistory(names: readonly string[], steps: readonly Step[]): Msg[] {
  const sent: Msg[] = []
  const byId = new Map<string, Msg>()
  const agents = names.map(() => ({ known: emptyClock(), knows: new Set<string>(), got: new Set<string>() }))
  for (const step of steps) {
    const me = names[step.agent]!
    const state = agents[step.agent]!
    if (step.action === 'deliver') {
      const ready = sent.filter(
        (m) =>
          isFor(m, me) &&
          !state.got.has(m.id) &&
          [...m.past].every((p) => state.got.has(p) || !isFor(byId.get(p)!, me)),
      )
      const m = ready[step.pick % Math.max(1, ready.length)]
      if (m === undefined) continue
      state.got.add(m.id)
      for (const p of [...m.past, m.id]) state.knows.add(p)
      state.known = merge(state.known, m.clock)
      continue
    }
    const visibility: Visibility = step.action
    let receivers = names.filter((name, k) => k !== step.agent && (step.mask >> k) & 1)
    if (visibility === 'private' && receivers.length === 0) receivers = [names[(step.agent + 1) % names.length]!]
    if (visibility === 'public') receivers = []
    const clock = stampClock(state.known, me, visibility, receivers)
    const msg: Msg = { id: `m${sent.length}`, sender: me, clock, visibility, receivers, past: new Set(state.knows) }
    sent.push(msg)
    byId.set(msg.id, msg)
    state.known = clock
    state.knows.add(msg.id)
    state.got.add(msg.id)
  }
  return sent
}

function rng(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

function expectCausal(delivered: readonly Msg[], agent: string): void {
  const at = new Map(delivered.map((m, i) => [m.id, i]))
  delivered.forEach((m, i) => {
    for (const p of m.past) {
      const j = at.get(p)
      if (j !== undefined) expect(j, `${p} before ${m.id} at ${agent}`).to.be.below(i)
    }
  })
}

interface Run {
  readonly delivered: Msg[]
}

/**
 * Feeds every message (addressed or not) to one agent's inbox in a random
 * order with duplicates and drops, draining at random moments; then fetches
 * only what missing() names until it is empty, then redelivers the rest.
 */
function runAgent(agent: string, all: readonly Msg[], random: () => number): Run {
  const inbox = new CausalInbox<Msg>(agent)
  const delivered: Msg[] = []
  const dropped: Msg[] = []
  let addressedReceives = 0
  let strangerReceives = 0
  const feed = (m: Msg) => {
    const outcome = inbox.receive(m)
    if (isFor(m, agent)) addressedReceives++
    else {
      strangerReceives++
      expect(outcome).to.equal('not-addressed')
    }
  }
  const firstPass: Msg[] = []
  for (const m of all) {
    if (random() < 0.25) dropped.push(m)
    else firstPass.push(m)
    if (random() < 0.2) firstPass.push(m)
  }
  for (const m of shuffle(firstPass, random)) {
    feed(m)
    if (random() < 0.3) delivered.push(...inbox.drain())
  }
  delivered.push(...inbox.drain())

  // Catch-up: what missing() names must be enough to unblock the buffer.
  for (let round = 0; ; round++) {
    const ranges = inbox.missing()
    if (ranges.length === 0) break
    expect(round, 'missing() keeps asking').to.be.below(all.length + 1)
    const wanted = dropped.filter((m) =>
      ranges.some((r) => r.fromSeq <= get(m.clock, r.channel) && get(m.clock, r.channel) <= r.toSeq && channelsAt(m, agent).includes(r.channel)),
    )
    expect(wanted, `missing() names only dropped messages at ${agent}`).to.not.be.empty
    for (const m of shuffle(wanted, random)) feed(m)
    delivered.push(...inbox.drain())
  }
  expect(inbox.pending(), 'buffer drains once missing() is empty').to.equal(0)

  for (const m of shuffle([...dropped, ...dropped.filter(() => random() < 0.3)], random)) feed(m)
  delivered.push(...inbox.drain())

  const expected = all.filter((m) => isFor(m, agent))
  expect(inbox.pending()).to.equal(0)
  expect(delivered.map((m) => m.id)).to.have.members(expected.map((m) => m.id))
  expect(new Set(delivered.map((m) => m.id)).size, 'each message once').to.equal(delivered.length)
  expect(inbox.duplicates).to.equal(addressedReceives - expected.length)
  expect(inbox.rejected).to.equal(strangerReceives)
  expectCausal(delivered, agent)
  return { delivered }
}

describe('causal inbox', () => {
  const msg = (
    id: string,
    sender: string,
    clock: VectorClock,
    visibility: Visibility = 'public',
    receivers: string[] = [],
  ): CausalMessage => ({ id, sender, clock, visibility, receivers })

  it('holds a private reply until the private ask it answers', () => {
    // ann asks bob and cat privately; bob answers cat privately.
    const ask = msg('ask', 'ann', stampClock({}, 'ann', 'private', ['bob', 'cat']), 'private', ['bob', 'cat'])
    const reply = msg('reply', 'bob', stampClock(ask.clock, 'bob', 'private', ['cat']), 'private', ['cat'])
    const cat = new CausalInbox('cat')
    expect(cat.receive(reply)).to.equal('buffered')
    expect(cat.drain()).to.deep.equal([])
    expect(cat.missing()).to.deep.equal([{ channel: privateChannel('ann', 'cat'), sender: 'ann', receiver: 'cat', fromSeq: 1, toSeq: 1 }])
    cat.receive(ask)
    expect(cat.drain().map((m) => m.id)).to.deep.equal(['ask', 'reply'])
  })

  it('never lets a private message block public delivery elsewhere', () => {
    const secret = msg('secret', 'ann', stampClock({}, 'ann', 'private', ['bob']), 'private', ['bob'])
    const shout = msg('shout', 'bob', stampClock(secret.clock, 'bob', 'public'))
    const cat = new CausalInbox('cat')
    expect(cat.receive(secret)).to.equal('not-addressed')
    cat.receive(shout)
    expect(cat.drain().map((m) => m.id)).to.deep.equal(['shout'])
    const bob = new CausalInbox('bob')
    bob.receive(shout)
    expect(bob.drain()).to.deep.equal([])
    bob.receive(secret)
    expect(bob.drain().map((m) => m.id)).to.deep.equal(['secret', 'shout'])
  })

  it('keeps a sender FIFO across its private and public channels', () => {
    const whisper = msg('w', 'ann', stampClock({}, 'ann', 'private', ['bob']), 'private', ['bob'])
    const speech = msg('s', 'ann', stampClock(whisper.clock, 'ann', 'public'))
    const bob = new CausalInbox('bob')
    bob.receive(speech)
    expect(bob.drain()).to.deep.equal([])
    bob.receive(whisper)
    expect(bob.drain().map((m) => m.id)).to.deep.equal(['w', 's'])
  })

  it('delivers its own messages so that stamps build on them', () => {
    const ann = new CausalInbox('ann')
    const first = msg('1', 'ann', stampClock(ann.delivered, 'ann', 'private', ['bob', 'cat']), 'private', ['bob', 'cat'])
    ann.receive(first)
    expect(ann.drain()).to.deep.equal([first])
    expect(ann.delivered).to.deep.equal({ 'ann>bob': 1, 'ann>cat': 1 })
    expect(stampClock(ann.delivered, 'ann', 'public')).to.deep.equal({ ann: 1, 'ann>bob': 1, 'ann>cat': 1 })
  })

  it('ignores and counts duplicates by id and by seq', () => {
    const a1 = msg('a1', 'ann', { ann: 1 })
    const a2 = msg('a2', 'ann', { ann: 2 })
    const inbox = new CausalInbox('bob')
    inbox.receive(a2)
    expect(inbox.receive(a2)).to.equal('duplicate')
    expect(inbox.receive({ ...a2, id: 'other' })).to.equal('duplicate')
    inbox.receive(a1)
    expect(inbox.drain()).to.have.length(2)
    expect(inbox.receive(a1)).to.equal('duplicate')
    expect(inbox.receive({ ...a1, id: 'again' })).to.equal('duplicate')
    expect(inbox.duplicates).to.equal(4)
  })

  it('rejects malformed messages without touching state', () => {
    const inbox = new CausalInbox('bob')
    expect(inbox.receive(msg('x', 'ann', { bob: 1 }))).to.equal('invalid')
    expect(inbox.receive(msg('x', 'ann', { ann: -1 }))).to.equal('invalid')
    expect(inbox.receive(msg('x', 'ann', { ann: 1.5 }))).to.equal('invalid')
    expect(inbox.receive(msg('x', 'a>b', { 'a>b': 1 }))).to.equal('invalid')
    expect(inbox.receive(msg('x', 'ann', { 'ann>bob': 1 }, 'private', []))).to.equal('invalid')
    expect(inbox.rejected).to.equal(5)
    expect(inbox.pending()).to.equal(0)
    expect(inbox.delivered).to.deep.equal({})
  })

  it('reports missing ranges without walking huge clock entries', () => {
    const inbox = new CausalInbox('bob')
    inbox.receive(msg('far', 'ann', { ann: 1_000_000_000 }))
    inbox.receive(msg('a3', 'ann', { ann: 3 }))
    expect(inbox.missing()).to.deep.equal([
      { channel: 'ann', sender: 'ann', fromSeq: 1, toSeq: 2 },
      { channel: 'ann', sender: 'ann', fromSeq: 4, toSeq: 999_999_999 },
    ])
  })

  it('refuses blocked messages past its bound but takes the one that unblocks', () => {
    const inbox = new CausalInbox('bob', { maxBuffered: 2 })
    inbox.receive(msg('a2', 'ann', { ann: 2 }))
    inbox.receive(msg('a3', 'ann', { ann: 3 }))
    expect(() => inbox.receive(msg('a4', 'ann', { ann: 4 }))).to.throw(InboxFullError).with.property('code', 'INBOX_FULL')
    expect(inbox.receive(msg('a3', 'ann', { ann: 3 }))).to.equal('duplicate')
    expect(inbox.receive(msg('a1', 'ann', { ann: 1 }))).to.equal('buffered')
    expect(inbox.drain().map((m) => m.id)).to.deep.equal(['a1', 'a2', 'a3'])
  })
})

describe('causal inbox properties (fast-check)', () => {
  it('clocks order messages exactly as the history does', () => {
    fc.assert(
      fc.property(historyArb, ({ names, steps }) => {
        const all = buildHistory(names, steps)
        for (const a of all) {
          for (const b of all) {
            expect(happenedBefore(a.clock, b.clock), `${a.id} -> ${b.id}`).to.equal(b.past.has(a.id))
          }
        }
      }),
      FC,
    )
  })

  it('delivers each message once, causally, only to its receivers, despite reordering, duplicates and drops', () => {
    fc.assert(
      fc.property(historyArb, ({ names, steps, seed }) => {
        const all = buildHistory(names, steps)
        const random = rng(seed)
        const publicOrder = sortForDelivery(all.filter((m) => m.visibility === 'public')).map((m) => m.id)
        for (const agent of names) {
          const { delivered } = runAgent(agent, all, random)
          for (const m of delivered) {
            if (m.visibility === 'private') expect([m.sender, ...m.receivers]).to.include(agent)
          }
          // The shared transcript: the same public sequence at every agent.
          const transcript = sortForDelivery(delivered.filter((m) => m.visibility === 'public')).map((m) => m.id)
          expect(transcript).to.deep.equal(publicOrder)
        }
      }),
      FC,
    )
  })

  it('an agent draining everything at once delivers the public messages in the one shared order', () => {
    fc.assert(
      fc.property(historyArb, ({ names, steps, seed }) => {
        const all = buildHistory(names, steps)
        const random = rng(seed)
        const publicOrder = sortForDelivery(all.filter((m) => m.visibility === 'public')).map((m) => m.id)
        for (const agent of names) {
          const inbox = new CausalInbox<Msg>(agent)
          for (const m of shuffle(all, random)) inbox.receive(m)
          const delivered = inbox.drain()
          expect(delivered.map((m) => m.id)).to.deep.equal(sortForDelivery(all.filter((m) => isFor(m, agent))).map((m) => m.id))
          expect(delivered.filter((m) => m.visibility === 'public').map((m) => m.id)).to.deep.equal(publicOrder)
        }
      }),
      FC,
    )
  })

  it('drains, chunk by chunk, exactly what checking every held message after every delivery gives', () => {
    // the reference is the plain rule: deliver the least (compareForDelivery) deliverable message
    // held, check them all again, repeat; drain() checks only what a delivery can change
    fc.assert(
      fc.property(historyArb, fc.integer({ min: 1, max: 8 }), ({ names, steps, seed }, chunk) => {
        const all = buildHistory(names, steps)
        const random = rng(seed)
        for (const agent of names) {
          const inbox = new CausalInbox<Msg>(agent)
          let held: Msg[] = []
          let delivered = emptyClock()
          const order = shuffle(all, random)
          for (let i = 0; i < order.length; i += chunk) {
            for (const m of order.slice(i, i + chunk)) {
              inbox.receive(m)
              if (isFor(m, agent)) held.push(m)
            }
            const expected: string[] = []
            for (;;) {
              const next = held.filter((m) => isDeliverable(m, delivered, agent)).sort(compareForDelivery)[0]
              if (next === undefined) break
              held = held.filter((m) => m !== next)
              delivered = merge(delivered, next.clock)
              expected.push(next.id)
            }
            expect(inbox.drain().map((m) => m.id)).to.deep.equal(expected)
          }
        }
      }),
      FC,
    )
  })

  it('a bounded inbox refuses blocked messages past its bound and still delivers all on retry', () => {
    fc.assert(
      fc.property(historyArb, fc.integer({ min: 1, max: 6 }), ({ names, steps, seed }, bound) => {
        const all = buildHistory(names, steps)
        const random = rng(seed)
        for (const agent of names) {
          const inbox = new CausalInbox<Msg>(agent, { maxBuffered: bound })
          const channels = new Set(all.flatMap((m) => channelsAt(m, agent))).size
          const delivered: Msg[] = []
          let queue = shuffle(all.filter((m) => isFor(m, agent)), random)
          for (let round = 0; queue.length > 0; round++) {
            expect(round, 'no progress').to.be.at.most(all.length)
            const refused: Msg[] = []
            for (const m of queue) {
              const before = inbox.pending()
              try {
                inbox.receive(m)
              } catch (error) {
                expect(error).to.be.instanceOf(InboxFullError)
                expect(before).to.be.at.least(bound)
                refused.push(m)
              }
              expect(inbox.pending()).to.be.at.most(bound + channels)
              if (random() < 0.2) delivered.push(...inbox.drain())
            }
            delivered.push(...inbox.drain())
            queue = refused
          }
          expect(inbox.pending()).to.equal(0)
          expect(delivered).to.have.length(all.filter((m) => isFor(m, agent)).length)
          expectCausal(delivered, agent)
        }
      }),
      FC,
    )
  })
})
