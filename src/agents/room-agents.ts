/**
 * Which decider plays a seat: the one place that maps an agent's `kind` to an
 * implementation. LLM and human agents plug in here (a RoomDecider each:
 * build the prompt from role, rule and end-game prompts and the view's
 * messages, validate the answer with validateAction, retry, fall back to a
 * pass); until they exist, asking for one fails with a clear message.
 */
import type { RoomDecider } from '../rooms/actions.js'
import type { AgentConfig, RoomConfig } from '../rooms/config.js'
import { UsageError } from '../node/errors.js'
import { HEURISTICS } from './room-heuristic.js'

export class UnsupportedAgentError extends UsageError {
  override name = 'UnsupportedAgentError'
}

export interface DeciderOptions {
  /** Play the seat with a heuristic whatever its configured kind (`--agent heuristic`). */
  forceHeuristic?: boolean
}

/** The heuristic a seat gets when its config names none. */
export function defaultHeuristic (config: RoomConfig, agent: AgentConfig): string {
  if (config.roles !== undefined && config.moderator !== undefined) {
    return agent.name === config.moderator ? 'werewolf-moderator' : 'werewolf-player'
  }
  return 'generic'
}

export function createRoomDecider (config: RoomConfig, agentName: string, options: DeciderOptions = {}): RoomDecider {
  const agent = config.agents.find(a => a.name === agentName)
  if (agent === undefined) throw new UsageError(`${agentName} is not an agent of room "${config.name}" (agents: ${config.agents.map(a => a.name).join(', ')})`)
  if (agent.kind === 'heuristic' || options.forceHeuristic === true) {
    const name = agent.heuristic ?? defaultHeuristic(config, agent)
    const make = HEURISTICS[name]
    if (make === undefined) {
      throw new UsageError(`agent ${agent.name}: unknown heuristic "${name}" (known: ${Object.keys(HEURISTICS).join(', ')})`)
    }
    return make()
  }
  if (agent.kind === 'llm') {
    throw new UnsupportedAgentError(`agent ${agent.name} is kind: llm, and LLM agents are not available in this version yet; set kind: heuristic in the room file (or join that seat with --agent heuristic)`)
  }
  throw new UnsupportedAgentError(`agent ${agent.name} is kind: human, and human agents (\`meshtown room join ROOMID --human\`) are not available in this version yet; set kind: heuristic in the room file (or join that seat with --agent heuristic)`)
}

/** Every seat a local run cannot play, as one message per seat. */
export function unsupportedSeats (config: RoomConfig): string[] {
  const problems: string[] = []
  for (const agent of config.agents) {
    try {
      createRoomDecider(config, agent.name)
    } catch (err: any) {
      problems.push(err.message)
    }
  }
  return problems
}
