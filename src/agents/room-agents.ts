/**
 * Which decider plays a seat: the one place that maps an agent's `kind` to an
 * implementation.
 * - heuristic: room-heuristic.ts, offline and deterministic.
 * - llm: room-llm.ts, a model behind an OpenAI-compatible endpoint
 *   ($OPENAI_BASE_URL required); the seat's `heuristic`, when it names one,
 *   plays the moves the model fails to make.
 * - human: room-human.ts, a person at a HumanTerminal (the CLI's stdin).
 */
import type { RoomDecider } from '../rooms/actions.js'
import type { AgentConfig, AgentKind, RoomConfig } from '../rooms/config.js'
import { UsageError } from '../node/errors.js'
import { HEURISTICS } from './room-heuristic.js'
import { HumanRoomDecider, type HumanTerminal } from './room-human.js'
import { LlmRoomDecider, resolveLlmEndpoint, seatModel, type LlmRoomDeciderOptions } from './room-llm.js'
import type { AgentLog } from './villager-agent.js'

export class UnsupportedAgentError extends UsageError {
  override name = 'UnsupportedAgentError'
}

export interface DeciderOptions {
  /** Play the seat with a heuristic whatever its configured kind (`--agent heuristic`). */
  forceHeuristic?: boolean
  /** Play the seat with this kind whatever the room file says (`--human`, `--agent llm`). */
  kind?: AgentKind
  /** Where llm seats find their endpoint and model; default process.env. */
  env?: NodeJS.ProcessEnv
  /** For llm seats: a model instead of the seat's, and anything else of the LLM decider (a client, bounds). */
  llm?: Partial<Omit<LlmRoomDeciderOptions, 'fallback'>>
  /** The terminal human seats play from; without one a human seat cannot be played here. */
  human?: HumanTerminal
  log?: AgentLog
}

/** The heuristic a seat gets when its config names none. */
export function defaultHeuristic (config: RoomConfig, agent: AgentConfig): string {
  if (config.roles !== undefined && config.moderator !== undefined) {
    return agent.name === config.moderator ? 'werewolf-moderator' : 'werewolf-player'
  }
  return 'generic'
}

function heuristicFor (agent: AgentConfig, name: string): RoomDecider {
  const make = HEURISTICS[name]
  if (make === undefined) {
    throw new UsageError(`agent ${agent.name}: unknown heuristic "${name}" (known: ${Object.keys(HEURISTICS).join(', ')})`)
  }
  return make()
}

export function createRoomDecider (config: RoomConfig, agentName: string, options: DeciderOptions = {}): RoomDecider {
  const agent = config.agents.find(a => a.name === agentName)
  if (agent === undefined) throw new UsageError(`${agentName} is not an agent of room "${config.name}" (agents: ${config.agents.map(a => a.name).join(', ')})`)
  const kind = options.forceHeuristic === true ? 'heuristic' : (options.kind ?? agent.kind)
  if (kind === 'heuristic') return heuristicFor(agent, agent.heuristic ?? defaultHeuristic(config, agent))
  if (kind === 'llm') {
    const env = options.env ?? process.env
    const llm = options.llm ?? {}
    const model = llm.model ?? seatModel(config, agent.name, env)
    if (model === undefined) throw new UnsupportedAgentError(`agent ${agent.name} is played by a model but none is named: set model (or default_model) in the room file, or OPENAI_MODEL`)
    const endpoint = llm.client === undefined ? resolveLlmEndpoint(env, { baseURL: llm.baseURL, apiKey: llm.apiKey }, agent.name) : undefined
    return new LlmRoomDecider({
      log: options.log,
      ...llm,
      model,
      ...(endpoint === undefined ? {} : endpoint),
      // only a heuristic the seat names explicitly: a default one may not follow a game the model started
      ...(agent.heuristic === undefined ? {} : { fallback: heuristicFor(agent, agent.heuristic) })
    })
  }
  if (options.human === undefined) {
    throw new UnsupportedAgentError(`agent ${agent.name} is kind: human and there is no terminal to play it from: run \`meshtown room join ROOMID --human --as ${agent.name}\` (or \`meshtown room run\`) in a terminal, or play the seat with --agent heuristic`)
  }
  return new HumanRoomDecider({ terminal: options.human })
}

/** Every seat that cannot be played with these options, as one message per seat. */
export function unsupportedSeats (config: RoomConfig, options: DeciderOptions = {}): string[] {
  const problems: string[] = []
  for (const agent of config.agents) {
    try {
      createRoomDecider(config, agent.name, options)
    } catch (err: any) {
      problems.push(err.message)
    }
  }
  return problems
}

/** The seats of each kind, in config order. */
export function seatsOfKind (config: RoomConfig, kind: AgentKind): string[] {
  return config.agents.filter(a => a.kind === kind).map(a => a.name)
}
