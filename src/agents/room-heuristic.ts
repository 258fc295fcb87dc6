/**
 * Heuristic room agents: deterministic from the room's seed and what the
 * agent has seen, no network of their own, no model. They play a valid,
 * simple werewolf and the debate example, so both run to the end offline.
 *
 * Each decide() recomputes the agent's state by folding over its view (the
 * messages it has seen, its own included) instead of keeping memory, so an
 * agent restarted from its transcript decides exactly as before, and the
 * same code serves every mode: in the sequential modes it acts on its turn,
 * in the concurrent mode when an ask (or a timeout) wakes it.
 *
 * Moves are read from and written to a leading bracket tag (games/tags.ts).
 */
import type { RoomAction, RoomActionInput, RoomDecider, RoomView, ViewMessage } from '../rooms/actions.js'
import { formatTag, listArg, parseTag, type Tag } from '../rooms/games/tags.js'
import {
  dealRoles, isWolfRole, lastRoundWinner, resolveNight, SEER, tally, winner, WITCH, type Potions, type RoleCard, type Side, type WitchMove
} from '../rooms/games/werewolf.js'
import { pick, seededRng } from '../rooms/rng.js'

const pass = (reason?: string): RoomAction => (reason === undefined ? { kind: 'pass' } : { kind: 'pass', reason })

/** Asks addressed to `view.self` that it has not answered (by `re`), oldest first. */
export function pendingAsks (view: RoomView, from?: string): ViewMessage[] {
  const answered = new Set(view.messages.filter(m => m.sender === view.self && m.re !== undefined).map(m => m.re))
  return view.messages.filter(m =>
    m.reply === 'reply' && m.sender !== view.self && m.receivers.includes(view.self) &&
    (from === undefined || m.sender === from) && !answered.has(m.id))
}

function tagOf (m: Pick<ViewMessage, 'content'>): Tag | undefined {
  return parseTag(m.content)
}

/** The leading tag text, which identifies a planned message among those already sent. */
function tagText (content: string): string {
  const end = content.indexOf(']')
  return end < 0 ? content : content.slice(0, end + 1)
}

function keyOf (content: string, to: readonly string[]): string {
  return `${tagText(content)}|${[...to].sort().join(',')}`
}

/**
 * A step of a scripted agent is a list of messages; each decide() sends the
 * first one not yet sent, so a step survives being cut by a turn or a restart.
 */
function firstUnsent (view: RoomView, plan: readonly RoomActionInput[]): RoomActionInput | undefined {
  const sent = new Set(view.messages.filter(m => m.sender === view.self).map(m => keyOf(m.content, m.receivers)))
  return plan.find(a => a.kind === 'pass' || !sent.has(keyOf(a.content, 'to' in a && a.to !== undefined ? a.to : [])))
}

function byOrder (view: RoomView, names: Iterable<string>): string[] {
  const set = new Set(names)
  return view.agents.filter(a => set.has(a))
}

function nameList (names: readonly string[]): string {
  if (names.length === 0) return 'nobody'
  if (names.length === 1) return names[0] as string
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1] as string}`
}

/** The result a werewolf game ends with (the `end` field everyone evaluates). */
export function sideResult (side: Side): string {
  return side === 'village' ? 'village wins' : 'wolves win'
}

function sideText (side: Side): string {
  return side === 'village' ? 'The village wins' : 'The werewolves win'
}

function limitRound (view: RoomView): number | undefined {
  if (view.mode === 'concurrent') return undefined
  const max = view.config.limits.max_rounds
  return max === undefined ? undefined : max - 1
}

// ---------------------------------------------------------------- werewolf

interface WolfTable {
  moderator: string
  players: string[]
  cards: RoleCard[]
}

function wolfTable (view: RoomView): WolfTable {
  const moderator = view.config.moderator ?? (view.agents[0] as string)
  return {
    moderator,
    players: view.agents.filter(a => a !== moderator),
    cards: (view.config.roles ?? []).map(r => ({ name: r.name, count: r.count, team: r.team }))
  }
}

interface AskRecord {
  msg: ViewMessage
  tag: Tag
  night: number
}

interface ModeratorState {
  roles: Map<string, string>
  alive: Set<string>
  over: boolean
  last?: { tag: Tag, msg: ViewMessage }
  asks: Map<string, AskRecord>
  answers: Map<string, Map<string, ViewMessage>>
  potions: Potions
}

function witchMoveOf (answer: ViewMessage | undefined): WitchMove | undefined {
  const tag = answer === undefined ? undefined : tagOf(answer)
  if (tag?.name === 'heal') return { heal: true }
  if (tag?.name === 'poison' && tag.args[0] !== undefined) return { poison: tag.args[0] }
  return undefined
}

function foldModerator (view: RoomView, table: WolfTable): ModeratorState {
  const s: ModeratorState = {
    roles: new Map(),
    alive: new Set(table.players),
    over: false,
    asks: new Map(),
    answers: new Map(),
    potions: { heal: true, poison: true }
  }
  for (const m of view.messages) {
    if (m.sender !== view.self) {
      const ask = m.re === undefined ? undefined : s.asks.get(m.re)
      if (ask !== undefined && ask.msg.receivers.includes(m.sender)) {
        const got = s.answers.get(ask.msg.id) ?? new Map<string, ViewMessage>()
        if (!got.has(m.sender)) got.set(m.sender, m)
        s.answers.set(ask.msg.id, got)
      }
      continue
    }
    if (m.end !== undefined) s.over = true
    const tag = tagOf(m)
    if (tag === undefined) continue
    if (tag.name === 'role' && m.visibility === 'private' && m.receivers[0] !== undefined && tag.args[0] !== undefined) {
      s.roles.set(m.receivers[0], tag.args[0])
    }
    if (m.reply === 'reply') s.asks.set(m.id, { msg: m, tag, night: Number(tag.args[0] ?? 0) })
    if (m.visibility !== 'public') continue
    s.last = { tag, msg: m }
    if (tag.name === 'dawn') {
      const night = Number(tag.args[0])
      const witchAsk = [...s.asks.values()].find(a => a.tag.name === WITCH && a.night === night)
      if (witchAsk !== undefined) {
        const witch = witchAsk.msg.receivers[0]
        const answer = witch === undefined ? undefined : s.answers.get(witchAsk.msg.id)?.get(witch)
        s.potions = resolveNight({ victim: witchAsk.tag.kv.victim === 'none' ? undefined : witchAsk.tag.kv.victim, witch, move: witchMoveOf(answer), potions: s.potions, alive: s.alive }).potions
      }
      for (const dead of listArg(tag.kv.dead)) s.alive.delete(dead)
    }
    if (tag.name === 'dusk') for (const out of listArg(tag.kv.out)) s.alive.delete(out)
  }
  return s
}

function findAsk (s: ModeratorState, name: string, night: number): AskRecord | undefined {
  return [...s.asks.values()].find(a => a.tag.name === name && a.night === night)
}

function answersTo (s: ModeratorState, ask: AskRecord | undefined): ViewMessage[] {
  return ask === undefined ? [] : [...(s.answers.get(ask.msg.id)?.values() ?? [])]
}

function allAnswered (s: ModeratorState, asks: ReadonlyArray<AskRecord | undefined>): boolean {
  return asks.every(a => a === undefined || a.msg.receivers.every(r => s.answers.get(a.msg.id)?.has(r) === true))
}

/** Sends the werewolf game: deals, runs nights and days, announces deaths and the end. */
export class WerewolfModerator implements RoomDecider {
  readonly label = 'heuristic:werewolf-moderator'

  decide (view: RoomView): RoomActionInput {
    const table = wolfTable(view)
    const s = foldModerator(view, table)
    if (s.over) return pass('the game is over')
    const plan = this.plan(view, table, s)
    if (plan === undefined) return pass('waiting for answers')
    return firstUnsent(view, plan) ?? pass('step done')
  }

  private plan (view: RoomView, table: WolfTable, s: ModeratorState): RoomActionInput[] | undefined {
    const last = limitRound(view)
    if (view.trigger.kind === 'turn' && last !== undefined && view.trigger.round >= last && s.last !== undefined) {
      return [this.final(table, s)]
    }
    const ready = (asks: ReadonlyArray<AskRecord | undefined>): boolean =>
      view.mode !== 'concurrent' || view.trigger.kind === 'timeout' || allAnswered(s, asks)
    const step = s.last?.tag
    if (step === undefined) return [...this.deal(view, table), ...this.nightAsks(table, s, s.alive, 1), this.nightFalls(1)]
    const night = Number(step.args[0] ?? 0)
    switch (step.name) {
      case 'night':
      case 'dusk': {
        const n = step.name === 'night' ? night : night + 1
        const wolves = findAsk(s, 'wolves', n)
        const seer = findAsk(s, 'seer', n)
        return ready([wolves, seer]) ? this.resolveNight(table, s, n, wolves, seer) : undefined
      }
      case 'night-witch': {
        const ask = findAsk(s, WITCH, night)
        if (!ready([ask])) return undefined
        const witch = ask?.msg.receivers[0]
        const answer = ask === undefined || witch === undefined ? undefined : s.answers.get(ask.msg.id)?.get(witch)
        const victim = ask?.tag.kv.victim
        return [this.dawn(table, s, night, victim === 'none' ? undefined : victim, witch, witchMoveOf(answer))]
      }
      case 'dawn': {
        const ask = s.asks.get(s.last?.msg.id ?? '')
        if (!ready([ask])) return undefined
        const living = byOrder(view, s.alive)
        return [{ kind: 'public_ask', to: living, content: `${formatTag('vote', [night])} Time to vote. ${nameList(living)}: answer with [vote NAME] to eliminate one living player, or [vote none].` }]
      }
      case 'vote': {
        const ask = s.asks.get(s.last?.msg.id ?? '')
        if (!ready([ask])) return undefined
        return this.dusk(table, s, night, ask)
      }
      default:
        return undefined
    }
  }

  private deal (view: RoomView, table: WolfTable): RoomActionInput[] {
    const roles = dealRoles(table.players, table.cards, seededRng(view.seed, 'werewolf', 'deal'))
    const wolves = table.players.filter(p => isWolfRole(roles.get(p), table.cards))
    return table.players.map(p => {
      const role = roles.get(p) as string
      const card = view.config.roles?.find(r => r.name === role)
      const pack = wolves.filter(w => w !== p)
      const packText = isWolfRole(role, table.cards) ? ` The other werewolves are ${nameList(pack)}.` : ''
      const tag = isWolfRole(role, table.cards) ? formatTag('role', [role], { pack }) : formatTag('role', [role])
      return { kind: 'private_info', to: [p], content: `${tag} Your role is ${role}.${packText} ${card?.prompt ?? ''}`.trim().slice(0, view.config.limits.max_message_chars) }
    })
  }

  private nightAsks (table: WolfTable, s: ModeratorState, alive: ReadonlySet<string>, n: number): RoomActionInput[] {
    const living = table.players.filter(p => alive.has(p))
    const wolves = living.filter(p => isWolfRole(s.roles.get(p), table.cards))
    const prey = living.filter(p => !wolves.includes(p))
    const seer = living.find(p => s.roles.get(p) === SEER)
    const asks: RoomActionInput[] = []
    if (wolves.length > 0) {
      asks.push({ kind: 'private_ask', to: wolves, content: `${formatTag('wolves', [n], { prey })} Night ${n}. Werewolves, choose one of ${nameList(prey)} to kill: answer with [kill NAME].` })
    }
    if (seer !== undefined) {
      asks.push({ kind: 'private_ask', to: [seer], content: `${formatTag('seer', [n])} Seer, name one living player whose nature you want to learn: answer with [check NAME].` })
    }
    return asks
  }

  private nightFalls (n: number): RoomActionInput {
    return { kind: 'public_info', to: [], content: `${formatTag('night', [n])} Night ${n} falls. Everyone closes their eyes.` }
  }

  private resolveNight (table: WolfTable, s: ModeratorState, n: number, wolvesAsk?: AskRecord, seerAsk?: AskRecord): RoomActionInput[] {
    const isWolf = (p: string): boolean => isWolfRole(s.roles.get(p), table.cards)
    // the first valid name given wins when the wolves disagree
    let victim: string | undefined
    for (const answer of answersTo(s, wolvesAsk)) {
      const tag = tagOf(answer)
      const target = tag?.name === 'kill' ? tag.args[0] : undefined
      if (target !== undefined && s.alive.has(target) && !isWolf(target)) { victim = target; break }
    }
    const plan: RoomActionInput[] = []
    const seer = seerAsk?.msg.receivers[0]
    const check = seer === undefined ? undefined : s.answers.get(seerAsk?.msg.id ?? '')?.get(seer)
    const checkTag = check === undefined ? undefined : tagOf(check)
    const target = checkTag?.name === 'check' ? checkTag.args[0] : undefined
    if (seer !== undefined && target !== undefined && table.players.includes(target) && target !== seer) {
      const nature = isWolf(target) ? 'werewolf' : 'not-werewolf'
      plan.push({ kind: 'private_info', to: [seer], content: `${formatTag('seen', [n, target, nature])} ${target} is ${nature === 'werewolf' ? 'a werewolf' : 'not a werewolf'}.` })
    }
    const witch = table.players.find(p => s.alive.has(p) && s.roles.get(p) === WITCH)
    if (witch !== undefined && (s.potions.heal || s.potions.poison)) {
      const kv = { victim: victim ?? 'none', heal: s.potions.heal ? 1 : 0, poison: s.potions.poison ? 1 : 0 }
      const attacked = victim === undefined ? 'Nobody was attacked tonight.' : `The werewolves attacked ${victim}.`
      plan.push({ kind: 'private_ask', to: [witch], content: `${formatTag(WITCH, [n], kv)} ${attacked} Answer [heal], [poison NAME] or [nothing].` })
      plan.push({ kind: 'public_info', to: [], content: `${formatTag('night-witch', [n])} The witch wakes up.` })
      return plan
    }
    plan.push(this.dawn(table, s, n, victim, witch, undefined))
    return plan
  }

  private dawn (table: WolfTable, s: ModeratorState, n: number, victim: string | undefined, witch: string | undefined, move: WitchMove | undefined): RoomActionInput {
    const out = resolveNight({ victim, witch, move, potions: s.potions, alive: s.alive })
    const alive = table.players.filter(p => s.alive.has(p) && !out.dead.includes(p))
    const tag = formatTag('dawn', [n], { dead: out.dead })
    const news = out.dead.length === 0 ? 'Nobody died during the night.' : `${nameList(out.dead)} ${out.dead.length === 1 ? 'was' : 'were'} found dead.`
    const won = winner(alive, s.roles, table.cards)
    if (won !== undefined) {
      return { kind: 'public_info', to: [], content: `${tag} Day ${n}. ${news} ${this.ending(table, s, won)}`, end: sideResult(won) }
    }
    return { kind: 'public_ask', to: alive, content: `${tag} Day ${n}. ${news} ${nameList(alive)}: each say in turn whom you suspect and why.` }
  }

  private dusk (table: WolfTable, s: ModeratorState, n: number, ask: AskRecord | undefined): RoomActionInput[] {
    const votes = new Map<string, string | undefined>()
    for (const answer of answersTo(s, ask)) {
      const tag = tagOf(answer)
      if (s.alive.has(answer.sender)) votes.set(answer.sender, tag?.name === 'vote' ? tag.args[0] : undefined)
    }
    const out = tally(votes, s.alive)
    const alive = new Set([...s.alive].filter(p => p !== out))
    const role = out === undefined ? undefined : s.roles.get(out)
    const tag = formatTag('dusk', [n], { out: out === undefined ? [] : [out], role: role ?? 'none' })
    const news = out === undefined ? 'The vote is tied: nobody is eliminated.' : `${out} is eliminated. ${out} was a ${role ?? 'player'}.`
    const won = winner([...alive], s.roles, table.cards)
    if (won !== undefined) return [{ kind: 'public_info', to: [], content: `${tag} ${news} ${this.ending(table, s, won)}`, end: sideResult(won) }]
    return [
      ...this.nightAsks(table, s, alive, n + 1),
      { kind: 'public_info', to: [], content: `${tag} ${news} Night ${n + 1} falls.` }
    ]
  }

  private final (table: WolfTable, s: ModeratorState): RoomActionInput {
    const alive = table.players.filter(p => s.alive.has(p))
    const won = lastRoundWinner(alive, s.roles, table.cards)
    return { kind: 'public_info', to: [], content: `${formatTag('final')} The last round has come. ${this.ending(table, s, won)}`, end: `${sideResult(won)} (last round)` }
  }

  private ending (table: WolfTable, s: ModeratorState, won: Side): string {
    const cards = table.players.map(p => `${p} ${s.roles.get(p) ?? '?'}`).join(', ')
    return `${formatTag('end', [won])} ${sideText(won)}! The cards were: ${cards}.`.trim()
  }
}

interface PlayerState {
  role?: string
  pack: string[]
  alive: Set<string>
  seen: Map<string, 'werewolf' | 'not-werewolf'>
  /** Public claims "I am the seer, X is a werewolf": claimer -> X. */
  claims: Map<string, string>
  /** Day number -> speaker -> suspect. */
  suspects: Map<number, Map<string, string>>
  /** Latest night/day reached per moderator tag, to tell a stale ask from a live one. */
  reached: Map<string, number>
  proposals: Map<number, string>
}

function foldPlayer (view: RoomView, table: WolfTable): PlayerState {
  const s: PlayerState = { pack: [], alive: new Set(table.players), seen: new Map(), claims: new Map(), suspects: new Map(), reached: new Map(), proposals: new Map() }
  const dawnDay = new Map<string, number>()
  for (const m of view.messages) {
    const tag = tagOf(m)
    if (tag === undefined) continue
    if (m.sender === table.moderator) {
      const n = Number(tag.args[0] ?? 0)
      s.reached.set(tag.name, Math.max(s.reached.get(tag.name) ?? 0, n))
      if (tag.name === 'role' && m.receivers.includes(view.self)) {
        s.role = tag.args[0]
        s.pack = listArg(tag.kv.pack)
      }
      if (tag.name === 'seen' && tag.args[1] !== undefined) s.seen.set(tag.args[1], tag.args[2] === 'werewolf' ? 'werewolf' : 'not-werewolf')
      if (tag.name === 'dawn') {
        for (const d of listArg(tag.kv.dead)) s.alive.delete(d)
        dawnDay.set(m.id, n)
      }
      if (tag.name === 'dusk') for (const d of listArg(tag.kv.out)) s.alive.delete(d)
      continue
    }
    if (tag.name === 'say' && m.visibility === 'public') {
      const day = dawnDay.get(m.re ?? '')
      if (tag.kv.claim === SEER && tag.kv.wolf !== undefined) s.claims.set(m.sender, tag.kv.wolf)
      if (day !== undefined && tag.kv.suspect !== undefined) {
        const said = s.suspects.get(day) ?? new Map<string, string>()
        said.set(m.sender, tag.kv.suspect)
        s.suspects.set(day, said)
      }
    }
    if (tag.name === 'propose' && m.receivers.includes(view.self) && tag.args[1] !== undefined) s.proposals.set(Number(tag.args[0]), tag.args[1])
  }
  return s
}

/** An ask is stale once the moderator has moved to a later step than the one it belongs to. */
function isStale (tag: Tag, s: PlayerState): boolean {
  const n = Number(tag.args[0] ?? 0)
  const dawn = s.reached.get('dawn') ?? 0
  const dusk = s.reached.get('dusk') ?? 0
  const vote = s.reached.get('vote') ?? 0
  switch (tag.name) {
    case 'wolves':
    case 'seer':
    case WITCH: return dawn >= n
    case 'dawn': return vote >= n
    case 'vote': return dusk >= n
    default: return false
  }
}

/** A seat at the werewolf table: plays whatever card the moderator dealt it. */
export class WerewolfPlayer implements RoomDecider {
  readonly label = 'heuristic:werewolf-player'

  decide (view: RoomView): RoomActionInput {
    const table = wolfTable(view)
    const s = foldPlayer(view, table)
    if (!s.alive.has(view.self)) return pass('dead players are silent')
    for (const ask of pendingAsks(view, table.moderator)) {
      const tag = tagOf(ask)
      if (tag === undefined || isStale(tag, s)) continue
      const answer = this.answer(view, table, s, ask, tag)
      if (answer !== undefined) return answer
    }
    return pass('nothing asked of me')
  }

  private answer (view: RoomView, table: WolfTable, s: PlayerState, ask: ViewMessage, tag: Tag): RoomActionInput | undefined {
    const n = Number(tag.args[0] ?? 0)
    const me = view.self
    const isWolf = (p: string): boolean => p === me ? isWolfRole(s.role, table.cards) : s.pack.includes(p)
    const living = byOrder(view, s.alive)
    const others = living.filter(p => p !== me)
    const rng = (purpose: string): (() => number) => seededRng(view.seed, me, purpose, n)
    switch (tag.name) {
      case 'wolves': {
        const prey = listArg(tag.kv.prey).filter(p => s.alive.has(p) && !isWolf(p))
        const victim = this.wolfChoice(view, s, n, prey)
        if (victim === undefined) return { kind: 'private_info', to: [ask.sender], re: ask.id, content: `${formatTag('kill', ['none'])} We find nobody to take.` }
        const pack = s.pack.filter(p => s.alive.has(p))
        const leader = byOrder(view, [me, ...pack])[0]
        const proposed = view.messages.some(m => m.sender === me && tagOf(m)?.name === 'propose' && Number(tagOf(m)?.args[0]) === n)
        if (leader === me && pack.length > 0 && !proposed) {
          return { kind: 'private_info', to: pack, content: `${formatTag('propose', [n, victim])} Let us take ${victim} tonight.` }
        }
        return { kind: 'private_info', to: [ask.sender], re: ask.id, content: `${formatTag('kill', [victim])} ${victim}.` }
      }
      case 'seer': {
        const unknown = others.filter(p => !s.seen.has(p))
        const target = pick(rng('seer'), unknown.length > 0 ? unknown : others)
        if (target === undefined) return undefined
        return { kind: 'private_info', to: [ask.sender], re: ask.id, content: `${formatTag('check', [target])} I want to know about ${target}.` }
      }
      case WITCH: {
        const victim = tag.kv.victim === 'none' ? undefined : tag.kv.victim
        const r = rng('witch')
        if (tag.kv.heal === '1' && victim !== undefined && victim !== me && (n === 1 || r() < 0.5)) {
          return { kind: 'private_info', to: [ask.sender], re: ask.id, content: `${formatTag('heal')} I save ${victim}.` }
        }
        if (tag.kv.poison === '1' && n >= 2 && r() < 0.4) {
          const target = this.suspect(view, s, n, others.filter(p => p !== victim), 'poison')
          if (target !== undefined) return { kind: 'private_info', to: [ask.sender], re: ask.id, content: `${formatTag('poison', [target])} I poison ${target}.` }
        }
        return { kind: 'private_info', to: [ask.sender], re: ask.id, content: `${formatTag('nothing')} I keep my potions.` }
      }
      case 'dawn': {
        const wolf = [...s.seen].find(([p, nature]) => nature === 'werewolf' && s.alive.has(p))?.[0]
        if (s.role === SEER && wolf !== undefined) {
          return { kind: 'public_info', to: [ask.sender], re: ask.id, content: `${formatTag('say', [], { claim: SEER, wolf, suspect: wolf })} I am the seer, and I saw it: ${wolf} is a werewolf.` }
        }
        const pool = isWolfRole(s.role, table.cards) ? others.filter(p => !isWolf(p)) : others.filter(p => s.seen.get(p) !== 'not-werewolf')
        const suspect = pick(rng('say'), pool.length > 0 ? pool : others)
        if (suspect === undefined) return { kind: 'public_info', to: [ask.sender], re: ask.id, content: `${formatTag('say')} I have nothing to add.` }
        return { kind: 'public_info', to: [ask.sender], re: ask.id, content: `${formatTag('say', [], { suspect })} I do not trust ${suspect}: too quiet, and too quick to agree.` }
      }
      case 'vote': {
        const target = this.voteFor(view, table, s, n, others, isWolf)
        return { kind: 'public_info', to: [ask.sender], re: ask.id, content: target === undefined ? `${formatTag('vote', ['none'])} I abstain.` : `${formatTag('vote', [target])} I vote for ${target}.` }
      }
      default:
        return undefined
    }
  }

  /** Every wolf computes the same choice, so they agree even before they hear each other. */
  private wolfChoice (view: RoomView, s: PlayerState, n: number, prey: readonly string[]): string | undefined {
    const proposed = s.proposals.get(n)
    if (proposed !== undefined && prey.includes(proposed)) return proposed
    const claimer = [...s.claims.keys()].find(p => prey.includes(p))
    if (claimer !== undefined) return claimer
    return pick(seededRng(view.seed, 'wolves', n), byOrder(view, prey))
  }

  private voteFor (view: RoomView, table: WolfTable, s: PlayerState, n: number, others: readonly string[], isWolf: (p: string) => boolean): string | undefined {
    const me = view.self
    const wolf = [...s.seen].find(([p, nature]) => nature === 'werewolf' && s.alive.has(p))?.[0]
    if (s.role === SEER && wolf !== undefined) return wolf
    if (isWolfRole(s.role, table.cards)) {
      // a seer who names one of us is the first to go
      const accuser = [...s.claims].find(([claimer, named]) => s.alive.has(claimer) && (named === me || s.pack.includes(named)))?.[0]
      if (accuser !== undefined && !isWolf(accuser)) return accuser
      return this.suspect(view, s, n, others.filter(p => !isWolf(p)), 'vote')
    }
    const claimed = [...s.claims].find(([claimer, named]) => claimer !== me && s.alive.has(named) && named !== me)?.[1]
    if (claimed !== undefined) return claimed
    return this.suspect(view, s, n, others.filter(p => s.seen.get(p) !== 'not-werewolf'), 'vote')
  }

  /** The most suspected of `pool` in today's discussion; ties broken by the seed. */
  private suspect (view: RoomView, s: PlayerState, day: number, pool: readonly string[], purpose: string): string | undefined {
    if (pool.length === 0) return undefined
    const counts = new Map<string, number>()
    for (const suspect of s.suspects.get(day)?.values() ?? []) {
      if (pool.includes(suspect)) counts.set(suspect, (counts.get(suspect) ?? 0) + 1)
    }
    const top = Math.max(0, ...counts.values())
    const best = top === 0 ? [...pool] : pool.filter(p => counts.get(p) === top)
    return pick(seededRng(view.seed, view.self, purpose, day), best)
  }
}

// ---------------------------------------------------------------- debate

type DebateSide = 'pro' | 'con'
const DEBATE_PHASES = ['opening', 'rebuttal'] as const

interface DebateTable {
  chair: string
  judge?: string
  debaters: string[]
  motion: string
}

function debateTable (view: RoomView): DebateTable {
  const chair = view.config.moderator ?? (view.agents[0] as string)
  const judge = view.config.agents.find(a => a.heuristic === 'debate-judge')?.name ?? view.agents.find(a => /judge/i.test(a))
  const order = Array.isArray(view.config.game?.speaking_order) ? (view.config.game.speaking_order as unknown[]).filter((x): x is string => typeof x === 'string') : []
  const seats = byOrder(view, view.agents)
  const ordered = [...order.filter(a => seats.includes(a)), ...seats.filter(a => !order.includes(a))]
  const motion = typeof view.config.game?.motion === 'string' ? view.config.game.motion : (view.config.description ?? view.config.name)
  return { chair, judge, debaters: ordered.filter(a => a !== chair && a !== judge), motion }
}

export function debateSide (view: Pick<RoomView, 'config'>, agent: string): DebateSide {
  const role = view.config.agents.find(a => a.name === agent)?.role ?? ''
  if (/against the motion/i.test(role)) return 'con'
  if (/for the motion/i.test(role)) return 'pro'
  return /^con/i.test(agent) ? 'con' : 'pro'
}

/** Chairs the debate: gives the floor, calls for the verdict, announces it. */
export class DebateChair implements RoomDecider {
  readonly label = 'heuristic:debate-chair'

  decide (view: RoomView): RoomActionInput {
    const t = debateTable(view)
    const mine = view.messages.filter(m => m.sender === view.self)
    if (mine.some(m => m.end !== undefined)) return pass('the debate is closed')
    const asks = mine.filter(m => m.reply === 'reply')
    const lastAsk = asks[asks.length - 1]
    const answered = (ask: ViewMessage): boolean => ask.receivers.every(r => view.messages.some(m => m.sender === r && m.re === ask.id))
    const ready = lastAsk === undefined || view.mode !== 'concurrent' || view.trigger.kind === 'timeout' || answered(lastAsk)
    if (!ready) return pass('waiting for the speaker')
    const lastTag = lastAsk === undefined ? undefined : tagOf(lastAsk)
    if (lastTag?.name === 'verdict-call') return this.close(view, t, lastAsk as ViewMessage)
    // floor is given in both modes by the same script: all debaters at once
    // when turns order them, one at a time when they would otherwise talk over each other
    const steps: Array<{ phase: string, to: string[] }> = view.mode === 'concurrent'
      ? DEBATE_PHASES.flatMap(phase => t.debaters.map(d => ({ phase, to: [d] })))
      : DEBATE_PHASES.map(phase => ({ phase, to: t.debaters }))
    const given = asks.filter(m => tagOf(m)?.name === 'floor').length
    const next = steps[given]
    if (next !== undefined) {
      const intro = given === 0 ? `The motion: "${t.motion}". ` : ''
      const what = next.phase === 'opening' ? 'opening statements' : 'rebuttals and closing statements'
      return { kind: 'public_ask', to: next.to, content: `${formatTag('floor', [next.phase], { speakers: next.to })} ${intro}The floor is yours for ${what}: ${nameList(next.to)}.` }
    }
    if (t.judge !== undefined) {
      return { kind: 'public_ask', to: [t.judge], content: `${formatTag('verdict-call')} ${t.judge}, your verdict please: pro or con.` }
    }
    return { kind: 'public_info', to: [], content: `${formatTag('close', ['draw'])} Without a judge the debate ends in a draw.`, end: 'draw' }
  }

  private close (view: RoomView, t: DebateTable, call: ViewMessage): RoomActionInput {
    const verdict = view.messages.find(m => m.re === call.id && m.sender === t.judge)
    const tag = verdict === undefined ? undefined : tagOf(verdict)
    const side = tag?.name === 'verdict' && (tag.args[0] === 'pro' || tag.args[0] === 'con') ? tag.args[0] : undefined
    if (side === undefined) return { kind: 'public_info', to: [], content: `${formatTag('close', ['draw'])} No verdict was given: the debate is a draw.`, end: 'draw' }
    const outcome = side === 'pro' ? 'carried' : 'defeated'
    return { kind: 'public_info', to: [], content: `${formatTag('close', [side])} The judge has decided: the motion is ${outcome}. Thank you all.`, end: `${side} wins` }
  }
}

const ARGUMENTS: Record<DebateSide, string[]> = {
  pro: [
    'a bridge opens the road to the next town, and trade pays for itself',
    'every spring the ford costs us a cart, a horse or worse',
    'a granary feeds us in a bad year; a bridge makes bad years rarer',
    'stone lasts a century; wheat rots in three winters'
  ],
  con: [
    'a town that starves cannot trade, however fine its bridge',
    'the famine winter is still in living memory',
    'the ford is dangerous for a few weeks a year; hunger is not seasonal',
    'a granary protects everyone, a bridge mostly the merchants'
  ]
}

/** Argues its side when given the floor. */
export class Debater implements RoomDecider {
  readonly label = 'heuristic:debater'

  decide (view: RoomView): RoomActionInput {
    const chair = debateTable(view).chair
    const ask = pendingAsks(view, chair).find(m => tagOf(m)?.name === 'floor')
    if (ask === undefined) return pass('not my floor')
    const phase = tagOf(ask)?.args[0] ?? 'opening'
    const side = debateSide(view, view.self)
    const rng = seededRng(view.seed, view.self, 'speech', phase)
    const point = pick(rng, ARGUMENTS[side]) as string
    const stance = side === 'pro' ? 'for the motion' : 'against the motion'
    const text = phase === 'opening'
      ? `I speak ${stance}: ${point}.`
      : `My opponents have not answered the real question. ${point.charAt(0).toUpperCase()}${point.slice(1)}. I urge you to vote ${side}.`
    return { kind: 'public_info', to: [chair], re: ask.id, content: `${formatTag('speech', [phase], { side })} ${text}` }
  }
}

/** Gives the verdict when the chair asks for it. */
export class DebateJudge implements RoomDecider {
  readonly label = 'heuristic:debate-judge'

  decide (view: RoomView): RoomActionInput {
    const chair = debateTable(view).chair
    const ask = pendingAsks(view, chair).find(m => tagOf(m)?.name === 'verdict-call')
    if (ask === undefined) return pass('no verdict asked yet')
    const speeches = { pro: 0, con: 0 }
    for (const m of view.messages) {
      const tag = tagOf(m)
      if (tag?.name === 'speech' && (tag.kv.side === 'pro' || tag.kv.side === 'con')) speeches[tag.kv.side]++
    }
    const rng = seededRng(view.seed, view.self, 'verdict')
    const side: DebateSide = speeches.pro === speeches.con ? (rng() < 0.5 ? 'pro' : 'con') : (speeches.pro > speeches.con ? 'pro' : 'con')
    return { kind: 'public_info', to: [chair], re: ask.id, content: `${formatTag('verdict', [side])} The ${side} side wins: its case was the more concrete, though the other side's strongest point deserved a better answer.` }
  }
}

// ---------------------------------------------------------------- generic

/** For rooms without a scripted game: answers what is asked of it, briefly, and otherwise listens. */
export class GenericResponder implements RoomDecider {
  readonly label = 'heuristic:generic'

  decide (view: RoomView): RoomActionInput {
    const ask = pendingAsks(view)[0]
    if (ask === undefined) return pass('nothing asked of me')
    const content = `${formatTag('ack')} ${view.self} heard ${ask.sender} and has nothing to add.`
    return ask.visibility === 'public'
      ? { kind: 'public_info', to: [ask.sender], re: ask.id, content }
      : { kind: 'private_info', to: [ask.sender], re: ask.id, content }
  }
}

export const HEURISTICS: Readonly<Record<string, () => RoomDecider>> = {
  'werewolf-moderator': () => new WerewolfModerator(),
  'werewolf-player': () => new WerewolfPlayer(),
  'debate-chair': () => new DebateChair(),
  debater: () => new Debater(),
  'debate-judge': () => new DebateJudge(),
  generic: () => new GenericResponder()
}
