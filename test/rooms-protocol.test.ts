import { expect } from 'chai'
import { generateKeyPair } from '@libp2p/crypto/keys'
import path from 'node:path'
import { createRoomDecider, unsupportedSeats } from '../src/agents/room-agents.js'
import {
  MAX_CONTENT_CHARS, newRoomId, RoomMessageSchema, signRoomMessage, verifyRoomMessage, type RoomMessage, type UnsignedRoomMessage
} from '../src/protocols/room/index.js'
import { MAX_ROOM_REACH } from '../src/protocols/room/constants.js'
import { RoomGossipSchema } from '../src/protocols/room/messages.js'
import { PASS, validateAction, visibilityOf, replyOf, type RoomAction, type RoomDecider, type RoomTrigger, type RoomView, type ViewMessage } from '../src/rooms/actions.js'
import { readRoomConfigFile, type RoomConfig, type RoomMode } from '../src/rooms/config.js'
import { findEnd, insertInOrder, publicTranscript } from '../src/rooms/end-condition.js'
import { formatTag, parseTag } from '../src/rooms/games/tags.js'
import { dealRoles, lastRoundWinner, resolveNight, tally, winner } from '../src/rooms/games/werewolf.js'
import { seededRng } from '../src/rooms/rng.js'
import { RoomStore } from '../src/rooms/room-store.js'
import { openDatastore } from '../src/node/data-dir.js'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import { claimTurn, isTurnAllowed, turnLimit } from '../src/rooms/turns.js'

const examples = path.join(import.meta.dirname, '..', 'examples')
const ROOM = 'AbCdEfGhIjKlMnOp'

function message (over: Partial<UnsignedRoomMessage> = {}): UnsignedRoomMessage {
  return { room: ROOM, id: 'ann.1', sender: 'ann', receivers: [], visibility: 'public', reply: 'no_reply', content: 'hello', clock: { ann: 1 }, ...over }
}

describe('room store (real LevelDB)', () => {
  it('keeps a transcript appended one message and several at a time in delivery order, across a reopen', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'meshtown-room-store-'))
    try {
      const key = await generateKeyPair('Ed25519')
      const msgs = await Promise.all(Array.from({ length: 12 }, async (_, i) => signRoomMessage(key, message({ id: `ann.${i + 1}`, clock: { ann: i + 1 }, content: `m${i}` }))))
      let ds = await openDatastore(dir)
      const store = new RoomStore(ds, ROOM)
      await store.append(0, msgs.slice(0, 1))
      await store.append(1, msgs.slice(1, 11))
      await store.append(11, [])
      await store.append(11, msgs.slice(11))
      await ds.close()
      ds = await openDatastore(dir)
      // ten and more: keys must sort as numbers, not as strings
      expect((await new RoomStore(ds, ROOM).loadLog()).map(m => m.id)).to.deep.equal(msgs.map(m => m.id))
      await ds.close()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('room wire schema and signatures', () => {
  it('accepts a well-formed message and keeps "__proto__" as an ordinary clock key', () => {
    const parsed = RoomMessageSchema.parse(JSON.parse('{"room":"AbCdEfGhIjKlMnOp","id":"__proto__.2","sender":"__proto__","receivers":[],"visibility":"public","reply":"no_reply","content":"hi","clock":{"__proto__":2,"bob":1},"sig":"x"}'))
    expect(Object.keys(parsed.clock)).to.deep.equal(['__proto__', 'bob'])
    expect(Object.getPrototypeOf(parsed.clock)).to.equal(Object.prototype)
  })

  it('refuses malformed messages', () => {
    const bad: Array<[string, unknown]> = [
      ['id not of its sender', { ...message({ id: 'bob.1' }), sig: 's' }],
      ['private with nobody to read it', { ...message({ visibility: 'private' }), sig: 's' }],
      ['private to its own sender', { ...message({ visibility: 'private', receivers: ['ann'] }), sig: 's' }],
      ['a pass that says something', { ...message({ pass: true }), sig: 's' }],
      ['content over the wire bound', { ...message({ content: 'x'.repeat(MAX_CONTENT_CHARS + 1) }), sig: 's' }],
      ['empty content', { ...message({ content: '  ' }), sig: 's' }],
      ['a clock entry of zero', { ...message({ clock: { ann: 0 } }), sig: 's' }],
      ['a clock key that is no channel', { ...message({ clock: { 'a>b>c': 1 } }), sig: 's' }],
      ['a room id of the wrong length', { ...message({ room: 'short' }), sig: 's' }],
      ['an unknown field', { ...message(), sig: 's', extra: 1 }],
      ['no signature', message()]
    ]
    for (const [why, value] of bad) expect(RoomMessageSchema.safeParse(value).success, why).to.equal(false)
  })

  it('on the topic a message may name whom its author reached: bounded, PeerId tags only, never on direct streams', () => {
    const signed = { ...message(), sig: 's' }
    const tag = '12D3KooWabcd'.slice(-12)
    expect(RoomGossipSchema.safeParse({ ...signed, reach: [tag, 'zQ3shZc2QzQ2'] }).success).to.equal(true)
    expect(RoomGossipSchema.safeParse(signed).success, 'reach is optional').to.equal(true)
    expect(RoomGossipSchema.safeParse({ ...signed, reach: Array.from({ length: MAX_ROOM_REACH + 1 }, () => tag) }).success, 'too many').to.equal(false)
    expect(RoomGossipSchema.safeParse({ ...signed, reach: ['short'] }).success, 'not a tag').to.equal(false)
    expect(RoomGossipSchema.safeParse({ ...signed, reach: ['0OIl0OIl0OIl'] }).success, 'not base58').to.equal(false)
    expect(RoomMessageSchema.safeParse({ ...signed, reach: [tag] }).success, 'a stored or direct message carries no reach').to.equal(false)
  })

  it('verifies the author\'s signature whatever the key order, and nothing else', async () => {
    const key = await generateKeyPair('Ed25519')
    const other = await generateKeyPair('Ed25519')
    const signed = await signRoomMessage(key, message({ clock: { bob: 2, ann: 1 }, turn: 3 }))
    const shuffled = RoomMessageSchema.parse(JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(signed).reverse()))))
    expect(await verifyRoomMessage(key.publicKey, shuffled)).to.equal(true)
    expect(await verifyRoomMessage(other.publicKey, signed)).to.equal(false)
    for (const tampered of [{ content: 'hullo' }, { turn: 4 }, { clock: { ann: 1 } }, { receivers: ['bob'] }, { end: 'ann wins' }]) {
      expect(await verifyRoomMessage(key.publicKey, { ...signed, ...tampered } as RoomMessage), JSON.stringify(tampered)).to.equal(false)
    }
  })

  it('makes random 16-character room ids', () => {
    const ids = new Set(Array.from({ length: 200 }, () => newRoomId()))
    expect(ids.size).to.equal(200)
    for (const id of ids) expect(id).to.match(/^[A-Za-z0-9]{16}$/)
  })
})

describe('room rules: turns, end, actions', () => {
  const config = {
    mode: 'rounds' as RoomMode,
    agents: ['mod', 'ann', 'bob'].map(name => ({ name, role: 'r', kind: 'heuristic' as const })),
    moderator: 'mod',
    limits: { max_rounds: 2, max_messages: 5, turn_timeout_ms: 100, llm_timeout_ms: 1, llm_max_retries: 0, max_message_chars: 20, max_buffered_messages: 10 }
  }
  const view = (over: Partial<ViewMessage>): ViewMessage => ({ room: ROOM, id: `${over.sender ?? 'mod'}.1`, sender: 'mod', receivers: [], visibility: 'public', reply: 'no_reply', content: 'x', clock: {}, ...over })

  it('passes the turn in order and skips a silent agent one timeout per place', () => {
    expect(claimTurn(0, 0, 3)).to.deep.equal({ turn: 0, waitSteps: 0, closing: false })
    expect(claimTurn(0, 1, 3)).to.deep.equal({ turn: 1, waitSteps: 1, closing: false })
    expect(claimTurn(1, 0, 3)).to.deep.equal({ turn: 3, waitSteps: 2, closing: false })
    // the last turn of the game is gone: the next in line closes it with a pass
    expect(claimTurn(5, 0, 3, 6)).to.deep.equal({ turn: 5, waitSteps: 1, closing: true })
    expect(claimTurn(6, 0, 3, 6)).to.equal(undefined)
    expect(turnLimit(config)).to.equal(6)
    expect(turnLimit({ ...config, mode: 'concurrent' })).to.equal(undefined)
    expect(isTurnAllowed(4, 'ann', ['mod', 'ann', 'bob'], 6, false)).to.equal(true)
    expect(isTurnAllowed(4, 'bob', ['mod', 'ann', 'bob'], 6, false)).to.equal(false)
    expect(isTurnAllowed(5, 'mod', ['mod', 'ann', 'bob'], 6, true)).to.equal(true)
    expect(isTurnAllowed(6, 'mod', ['mod', 'ann', 'bob'], 6, true)).to.equal(false)
  })

  it('ends on the moderator\'s word only, or at a limit, at the same message for any arrival order', () => {
    const notMod = view({ id: 'ann.1', sender: 'ann', end: 'ann wins', turn: 1, clock: { ann: 1 } })
    expect(findEnd(config, [notMod])).to.equal(undefined)
    const declared = view({ id: 'mod.2', end: 'village wins', turn: 3, clock: { mod: 2, ann: 1 } })
    expect(findEnd(config, [notMod, declared])).to.deep.include({ reason: 'declared', result: 'village wins', by: 'mod', count: 2 })
    const many = Array.from({ length: 6 }, (_, i) => view({ id: `ann.${i + 1}`, sender: 'ann', clock: { ann: i + 1 } }))
    expect(findEnd({ ...config, mode: 'concurrent' }, many)).to.deep.include({ reason: 'max_messages', count: 5, lastId: 'ann.5' })
    expect(findEnd(config, [view({ turn: 5, pass: true, content: '' })])).to.deep.include({ reason: 'max_rounds' })
    const a = view({ id: 'ann.1', sender: 'ann', clock: { ann: 1 } })
    const b = view({ id: 'bob.1', sender: 'bob', clock: { bob: 1 } })
    const c = view({ id: 'mod.1', sender: 'mod', clock: { ann: 1, bob: 1, mod: 1 }, end: 'done' })
    const late = view({ id: 'bob.2', sender: 'bob', clock: { ann: 1, bob: 2, mod: 1 } })
    const one = publicTranscript({ ...config, mode: 'concurrent' }, [c, late, b, a])
    const two = publicTranscript({ ...config, mode: 'concurrent' }, [b, a, late, c])
    expect(one.messages.map(m => m.id)).to.deep.equal(['ann.1', 'bob.1', 'mod.1'])
    expect(two).to.deep.equal(one)
  })

  it('finds the end incrementally, as an agent does: rescanning from where each delivery went in', () => {
    const concurrent = { ...config, mode: 'concurrent' as RoomMode }
    const msgs = Array.from({ length: 7 }, (_, i) => view({ id: `ann.${i + 1}`, sender: 'ann', clock: { ann: i + 1 } }))
    const ordered: ViewMessage[] = []
    let from = 0
    const ends: Array<string | undefined> = []
    // delivered out of order: ann.3 before ann.1 and ann.2
    for (const m of [msgs[2]!, msgs[0]!, msgs[1]!, msgs[3]!, msgs[4]!, msgs[5]!]) {
      from = Math.min(from, insertInOrder(ordered, m))
      const end = findEnd(concurrent, ordered, from)
      if (end === undefined) from = ordered.length
      expect(end, `after ${m.id}`).to.deep.equal(findEnd(concurrent, ordered))
      ends.push(end?.lastId)
    }
    expect(ordered.map(m => m.id)).to.deep.equal(['ann.1', 'ann.2', 'ann.3', 'ann.4', 'ann.5', 'ann.6'])
    expect(ends).to.deep.equal([undefined, undefined, undefined, undefined, 'ann.5', 'ann.5'])
  })

  it('validates actions against the schema and the room before anything is sent', () => {
    const ctx = { self: 'ann', agents: ['mod', 'ann', 'bob'], maxChars: 20, moderator: 'mod' }
    expect(validateAction({ kind: 'pass' }, ctx)).to.deep.equal({ ok: true, action: PASS })
    expect(validateAction({ kind: 'public_info', content: 'hi' }, ctx)).to.deep.equal({ ok: true, action: { kind: 'public_info', to: [], content: 'hi' } })
    const errors = [
      [{ kind: 'shout', content: 'hi' }, /kind/],
      [{ kind: 'private_ask', to: [], content: 'hi' }, /to/],
      [{ kind: 'private_info', to: ['ann'], content: 'hi' }, /oneself/],
      [{ kind: 'public_ask', to: ['zed'], content: 'hi' }, /zed/],
      [{ kind: 'public_info', content: 'x'.repeat(21) }, /20/],
      [{ kind: 'public_info', content: 'I win', end: 'ann wins' }, /moderator/],
      [{ kind: 'public_info', content: 'hi', extra: true }, /extra|Unrecognized/i],
      ['pass', /expected object|Invalid input/i]
    ] as const
    for (const [input, pattern] of errors) {
      const checked = validateAction(input, ctx)
      expect(checked.ok, JSON.stringify(input)).to.equal(false)
      if (!checked.ok) expect(checked.error).to.match(pattern)
    }
    const ask: RoomAction = { kind: 'private_ask', to: ['bob', 'bob'], content: 'psst' }
    const ok = validateAction(ask, ctx)
    expect(ok.ok && ok.action).to.deep.equal({ kind: 'private_ask', to: ['bob'], content: 'psst' })
    expect(visibilityOf(ask)).to.equal('private')
    expect(replyOf(ask)).to.equal('reply')
  })

  it('reads and writes move tags', () => {
    expect(parseTag('[dawn 2 dead=Ann,Bob] Day 2.')).to.deep.equal({ name: 'dawn', args: ['2'], kv: { dead: 'Ann,Bob' } })
    expect(parseTag('no tag here')).to.equal(undefined)
    expect(formatTag('dusk', [1], { out: [], role: 'seer' })).to.equal('[dusk 1 out=none role=seer]')
  })
})

describe('werewolf rules', () => {
  const cards = [{ name: 'werewolf', count: 2, team: 'wolves' }, { name: 'seer', count: 1 }, { name: 'villager', count: 3 }]
  const players = ['a', 'b', 'c', 'd', 'e', 'f']

  it('deals one card each, the same for the same seed', () => {
    const deal = dealRoles(players, cards, seededRng('s', 'deal'))
    expect([...deal.values()].sort()).to.deep.equal(['seer', 'villager', 'villager', 'villager', 'werewolf', 'werewolf'])
    expect([...dealRoles(players, cards, seededRng('s', 'deal'))]).to.deep.equal([...deal])
    expect(() => dealRoles(players.slice(1), cards, seededRng('s'))).to.throw(/5 players/)
  })

  it('counts votes (a tie eliminates nobody) and decides the winner', () => {
    const alive = new Set(players)
    expect(tally(new Map([['a', 'b'], ['c', 'b'], ['d', 'e']]), alive)).to.equal('b')
    expect(tally(new Map([['a', 'b'], ['c', 'e']]), alive)).to.equal(undefined)
    expect(tally(new Map([['a', 'zed'], ['c', 'e']]), alive)).to.equal('e')
    const roles = new Map([['a', 'werewolf'], ['b', 'werewolf'], ['c', 'seer'], ['d', 'villager'], ['e', 'villager']])
    expect(winner(['a', 'b', 'c', 'd', 'e'], roles, cards)).to.equal(undefined)
    expect(winner(['a', 'b', 'c', 'd'], roles, cards)).to.equal('wolves')
    expect(winner(['a', 'c', 'd'], roles, cards)).to.equal(undefined)
    expect(winner(['a', 'c'], roles, cards)).to.equal('wolves')
    expect(winner(['c', 'd'], roles, cards)).to.equal('village')
    expect(lastRoundWinner(['a', 'c', 'd'], roles, cards)).to.equal('village')
  })

  it('resolves the night: heal (never oneself), poison, one potion a night', () => {
    const alive = new Set(players)
    const both = { heal: true, poison: true }
    expect(resolveNight({ victim: 'a', witch: 'w', potions: both, alive })).to.deep.equal({ dead: ['a'], potions: both })
    expect(resolveNight({ victim: 'a', witch: 'w', move: { heal: true }, potions: both, alive })).to.deep.equal({ dead: [], potions: { heal: false, poison: true }, saved: 'a' })
    expect(resolveNight({ victim: 'w', witch: 'w', move: { heal: true }, potions: both, alive: new Set([...players, 'w']) }).dead).to.deep.equal(['w'])
    expect(resolveNight({ victim: 'a', witch: 'w', move: { poison: 'b' }, potions: both, alive })).to.deep.equal({ dead: ['a', 'b'], potions: { heal: true, poison: false }, poisoned: 'b' })
    expect(resolveNight({ victim: 'a', witch: 'w', move: { poison: 'b' }, potions: { heal: true, poison: false }, alive }).dead).to.deep.equal(['a'])
  })
})

/**
 * The heuristic agents alone, with no network and no runtime: every message
 * reaches whoever may see it at once. Many seeds, all three modes: the game
 * always reaches its end by the moderator's word, never by a limit.
 */
function simulate (config: RoomConfig, seed: string): { public: ViewMessage[], logs: Map<string, ViewMessage[]> } {
  const agents = config.agents.map(a => a.name)
  const deciders = new Map<string, RoomDecider>(agents.map(a => [a, createRoomDecider(config, a)]))
  const logs = new Map<string, ViewMessage[]>(agents.map(a => [a, []]))
  const queues = new Map<string, RoomTrigger[]>(agents.map(a => [a, []]))
  const counts = new Map<string, number>()
  const publicLog: ViewMessage[] = []
  const send = (self: string, action: RoomAction, turn?: number): ViewMessage | undefined => {
    if (action.kind === 'pass' && turn === undefined) return undefined
    const n = (counts.get(self) ?? 0) + 1
    counts.set(self, n)
    const m: ViewMessage = action.kind === 'pass'
      ? { room: ROOM, id: `${self}.${n}`, sender: self, receivers: [], visibility: 'public', reply: 'no_reply', content: '', clock: {}, turn, pass: true }
      : {
          room: ROOM, id: `${self}.${n}`, sender: self, receivers: action.to, visibility: visibilityOf(action), reply: replyOf(action), content: action.content, clock: {},
          ...(turn !== undefined ? { turn } : {}), ...(action.re !== undefined ? { re: action.re } : {}), ...(action.kind === 'public_info' && action.end !== undefined ? { end: action.end } : {})
        }
    for (const a of agents) {
      if (m.visibility === 'public' || a === self || m.receivers.includes(a)) {
        logs.get(a)!.push(m)
        if (a !== self && m.receivers.includes(a)) queues.get(a)!.push({ kind: 'message', message: m })
      }
    }
    if (m.visibility === 'public') publicLog.push(m)
    return m
  }
  const decide = (self: string, trigger: RoomTrigger, sent: ViewMessage[]): RoomAction => {
    const v: RoomView = { room: ROOM, self, mode: config.mode, config, agents, messages: [...logs.get(self)!], trigger, sentThisTurn: sent, seed }
    const checked = validateAction(deciders.get(self)!.decide(v, { signal: AbortSignal.timeout(1000) }), { self, agents, maxChars: config.limits.max_message_chars, moderator: config.moderator })
    if (!checked.ok) throw new Error(`${self}: ${checked.error}`)
    return checked.action
  }
  const over = (): boolean => publicTranscript(config, publicLog).end !== undefined
  if (config.mode === 'concurrent') {
    queues.get(config.moderator ?? agents[0]!)!.push({ kind: 'start' })
    for (let step = 0; step < 10_000 && !over(); step++) {
      const next = agents.find(a => queues.get(a)!.length > 0)
      if (next === undefined) break
      const trigger = queues.get(next)!.shift()!
      const sent: ViewMessage[] = []
      for (let i = 0; i < 32; i++) {
        const action = decide(next, trigger, sent)
        if (action.kind === 'pass') break
        sent.push(send(next, action)!)
      }
    }
  } else {
    for (let turn = 0; !over() && turn < 10_000; turn++) {
      const self = agents[turn % agents.length]!
      const trigger: RoomTrigger = { kind: 'turn', turn, round: Math.floor(turn / agents.length) }
      const sent: ViewMessage[] = []
      for (;;) {
        const action = sent.length >= 32 ? PASS : decide(self, trigger, sent)
        const m = send(self, action, turn)!
        if (m.visibility === 'public') break
        sent.push(m)
      }
    }
  }
  return { public: publicTranscript(config, publicLog).messages as ViewMessage[], logs }
}

describe('heuristic agents, offline (no network, no runtime)', () => {
  for (const mode of ['rounds', 'ordered', 'concurrent'] as RoomMode[]) {
    it(`play the werewolf example to a declared end in ${mode} mode, for 30 seeds, identically for the same seed`, async () => {
      const base = await readRoomConfigFile(path.join(examples, 'werewolf.yaml'))
      const config: RoomConfig = { ...base, mode, limits: { ...base.limits, max_rounds: mode === 'rounds' ? base.limits.max_rounds : undefined } }
      const winners = new Set<string>()
      for (let i = 0; i < 30; i++) {
        const { public: transcript, logs } = simulate(config, `seed-${i}`)
        const end = findEnd(config, transcript)
        expect(end?.reason, `seed-${i}`).to.equal('declared')
        winners.add(end!.result)
        // a private message is only ever in the logs of its sender and receivers
        for (const [name, log] of logs) for (const m of log) if (m.visibility === 'private') expect([m.sender, ...m.receivers]).to.include(name)
      }
      expect([...winners].some(w => w.startsWith('village'))).to.equal(true)
      expect([...winners].some(w => w.startsWith('wolves'))).to.equal(true)
      expect(simulate(config, 'same').public).to.deep.equal(simulate(config, 'same').public)
    })
  }

  it('plays the debate example to a verdict in every mode', async () => {
    const base = await readRoomConfigFile(path.join(examples, 'debate.yaml'))
    for (const mode of ['rounds', 'ordered', 'concurrent'] as RoomMode[]) {
      const config: RoomConfig = { ...base, mode, limits: { ...base.limits, max_rounds: mode === 'rounds' ? 10 : undefined } }
      const end = findEnd(config, simulate(config, 'debate').public)
      expect(end, mode).to.deep.include({ reason: 'declared', by: 'Chair' })
    }
  })

  it('refuses llm seats without an endpoint and human seats without a terminal, with a message naming the seat', async () => {
    const base = await readRoomConfigFile(path.join(examples, 'debate.yaml'))
    const config: RoomConfig = { ...base, agents: base.agents.map(a => a.name === 'Judge' ? { ...a, kind: 'human' as const } : a.name === 'Con_Ben' ? { ...a, kind: 'llm' as const, model: 'm' } : a) }
    const problems = unsupportedSeats(config, { env: {} })
    expect(problems).to.have.length(2)
    expect(problems[0]).to.match(/Con_Ben is kind: llm and needs an OpenAI-compatible endpoint, and OPENAI_BASE_URL is not set/)
    expect(problems[1]).to.match(/Judge is kind: human and there is no terminal/)
    expect(createRoomDecider(config, 'Judge', { forceHeuristic: true }).label).to.equal('heuristic:debate-judge')
  })
})
