/**
 * The rules of werewolf as pure functions over plain data: dealing, the
 * night's outcome, the vote, who has won. The heuristic moderator applies
 * them; an LLM moderator could be checked against them.
 */
import { shuffle, type Rng } from '../rng.js'

export interface RoleCard {
  readonly name: string
  readonly count: number
  readonly team?: string
}

export type Side = 'village' | 'wolves'

export const WEREWOLF = 'werewolf'
export const SEER = 'seer'
export const WITCH = 'witch'

export function isWolfRole (role: string | undefined, cards: readonly RoleCard[]): boolean {
  if (role === undefined) return false
  const card = cards.find(c => c.name === role)
  return card?.team === 'wolves' || role === WEREWOLF
}

/** One card per player, shuffled by `rng`. Throws when the deck does not fit the table. */
export function dealRoles (players: readonly string[], cards: readonly RoleCard[], rng: Rng): Map<string, string> {
  const deck = cards.flatMap(c => Array.from({ length: c.count }, () => c.name))
  if (deck.length !== players.length) throw new Error(`${deck.length} role cards for ${players.length} players`)
  const dealt = shuffle(rng, deck)
  return new Map(players.map((p, i) => [p, dealt[i] as string]))
}

function count (alive: readonly string[], roles: ReadonlyMap<string, string>, cards: readonly RoleCard[]): { wolves: number, others: number } {
  const wolves = alive.filter(p => isWolfRole(roles.get(p), cards)).length
  return { wolves, others: alive.length - wolves }
}

/** Checked after every death: no wolf left, or wolves at least as many as everyone else. */
export function winner (alive: readonly string[], roles: ReadonlyMap<string, string>, cards: readonly RoleCard[]): Side | undefined {
  const { wolves, others } = count(alive, roles, cards)
  if (wolves === 0) return 'village'
  if (wolves >= others) return 'wolves'
  return undefined
}

/** When the last round ends undecided: the larger side wins, a tie goes to the village. */
export function lastRoundWinner (alive: readonly string[], roles: ReadonlyMap<string, string>, cards: readonly RoleCard[]): Side {
  const { wolves, others } = count(alive, roles, cards)
  return wolves > others ? 'wolves' : 'village'
}

/** Most votes is out; a tie or no vote eliminates nobody. Votes for anyone not in `candidates` do not count. */
export function tally (votes: ReadonlyMap<string, string | undefined>, candidates: ReadonlySet<string>): string | undefined {
  const counts = new Map<string, number>()
  for (const target of votes.values()) {
    if (target !== undefined && candidates.has(target)) counts.set(target, (counts.get(target) ?? 0) + 1)
  }
  let best: string | undefined
  let bestCount = 0
  let tie = false
  for (const [target, n] of counts) {
    if (n > bestCount) { best = target; bestCount = n; tie = false } else if (n === bestCount) tie = true
  }
  return tie ? undefined : best
}

export interface Potions {
  readonly heal: boolean
  readonly poison: boolean
}

export interface WitchMove {
  readonly heal?: boolean
  readonly poison?: string
}

export interface NightOutcome {
  readonly dead: string[]
  readonly potions: Potions
  readonly saved?: string
  readonly poisoned?: string
}

/**
 * The wolves' victim dies unless the witch heals it (not herself); she may
 * instead poison a living player. One potion a night, each once a game.
 */
export function resolveNight (input: {
  victim?: string
  witch?: string
  move?: WitchMove
  potions: Potions
  alive: ReadonlySet<string>
}): NightOutcome {
  const { victim, witch, move, potions, alive } = input
  const canHeal = potions.heal && victim !== undefined && victim !== witch && move?.heal === true
  const canPoison = !canHeal && potions.poison && move?.poison !== undefined && alive.has(move.poison) && move.poison !== witch
  const dead: string[] = []
  if (victim !== undefined && alive.has(victim) && !canHeal) dead.push(victim)
  if (canPoison && move?.poison !== undefined && !dead.includes(move.poison)) dead.push(move.poison)
  return {
    dead,
    potions: { heal: potions.heal && !canHeal, poison: potions.poison && !canPoison },
    ...(canHeal ? { saved: victim } : {}),
    ...(canPoison ? { poisoned: move?.poison } : {})
  }
}
