/**
 * Turn passing in the sequential modes (rounds, ordered), as pure functions.
 *
 * Turn t belongs to agents[t mod n]; a turn is over when its public message
 * (an answer or a pass) is delivered. Nobody hands the turn on: each agent
 * looks at the highest turn it has seen end and works out when it may speak.
 * The agent k places after the expected speaker may take its own turn once k
 * turn timeouts have passed since that last turn ended (at this agent), so a
 * silent agent is skipped by the next one, the same way at every agent, and
 * the skip is visible in the transcript as a jump in turn numbers.
 */
import type { RoomConfig } from './config.js'

export interface TurnClaim {
  /** The turn this agent would speak in. */
  readonly turn: number
  /** Turn timeouts to wait, counted from when the last turn ended here. */
  readonly waitSteps: number
  /**
   * The round limit falls before this agent's next turn: after the wait it
   * closes the game with a pass in the last turn, so a game whose last
   * speakers are gone still ends.
   */
  readonly closing: boolean
}

export function usesTurns (config: Pick<RoomConfig, 'mode'>): boolean {
  return config.mode !== 'concurrent'
}

/** Turns in the whole game, or undefined when only the end condition stops it. */
export function turnLimit (config: Pick<RoomConfig, 'mode' | 'limits' | 'agents'>): number | undefined {
  if (!usesTurns(config) || config.limits.max_rounds === undefined) return undefined
  return config.limits.max_rounds * config.agents.length
}

export function roundOf (turn: number, agentCount: number): number {
  return Math.floor(turn / agentCount)
}

export function speakerOf (turn: number, agents: readonly string[]): string {
  return agents[turn % agents.length] as string
}

/** `nextTurn` is one more than the highest turn seen ended (0 at the start). */
export function claimTurn (nextTurn: number, selfIndex: number, agentCount: number, limit?: number): TurnClaim | undefined {
  if (limit !== undefined && nextTurn >= limit) return undefined
  const k = (((selfIndex - nextTurn) % agentCount) + agentCount) % agentCount
  const mine = nextTurn + k
  if (limit !== undefined && mine >= limit) return { turn: limit - 1, waitSteps: k, closing: true }
  return { turn: mine, waitSteps: k, closing: false }
}

/**
 * Whether `sender` may send a message stamped with `turn`: its own turns, or
 * a closing pass in the very last turn.
 */
export function isTurnAllowed (turn: number, sender: string, agents: readonly string[], limit: number | undefined, pass: boolean): boolean {
  if (limit !== undefined && turn >= limit) return false
  if (speakerOf(turn, agents) === sender) return true
  return pass && limit !== undefined && turn === limit - 1
}
