/**
 * The one place that maps an agent kind to an implementation and runs it
 * against a villager's control API: what `meshtown agent` and
 * `meshtown villager --agent` both use.
 */
import { createHeuristicAgent } from './heuristic.js'
import { createOpenAIAgent, type OpenAIAgentOptions } from './openai-agent.js'
import { runVillagerAgent, type TurnRecord } from './villager-driver.js'
import type { AgentLog, VillagerAgent } from './villager-agent.js'

export const AGENT_KINDS = ['heuristic', 'openai'] as const
export type AgentKind = (typeof AGENT_KINDS)[number]

/** The model when neither --model nor $OPENAI_MODEL says. */
export const DEFAULT_MODEL = 'gpt-4o-mini'

export interface StartAgentOptions {
  /** The villager's control API, e.g. http://127.0.0.1:5002 */
  apiUrl: string
  log: AgentLog
  /** Seeds the heuristic (as agent and as fallback) and the back-off jitter. */
  seed?: string | number
  /** openai: the model name; default $OPENAI_MODEL, else DEFAULT_MODEL. */
  model?: string
  /** openai: anything else (endpoint, key, bounds); the endpoint defaults to $OPENAI_BASE_URL / $OPENAI_API_KEY. */
  openai?: Partial<OpenAIAgentOptions>
  pollIntervalMs?: number
  turnDeadlineMs?: number
  /** Wait for this many members before the town's first day (RunVillagerAgentOptions.minMembers). */
  minMembers?: number
  onTurn?: (record: TurnRecord) => void
}

export interface RunningAgent {
  agent: VillagerAgent
  /** Settles when the agent has stopped. */
  done: Promise<void>
  /** Stop polling and cut a turn in progress short; resolves once stopped. */
  stop: () => Promise<void>
}

/** Throws a UsageError when the kind cannot run here (openai without an endpoint). */
export function createVillagerAgent (kind: AgentKind, options: Pick<StartAgentOptions, 'seed' | 'model' | 'openai'> = {}): VillagerAgent {
  if (kind === 'heuristic') return createHeuristicAgent({ seed: options.seed })
  const model = options.model ?? options.openai?.model ?? (process.env.OPENAI_MODEL?.trim() || DEFAULT_MODEL)
  return createOpenAIAgent({ seed: options.seed, ...options.openai, model })
}

/** Attach an agent of `kind` to the villager at `options.apiUrl` until stopped. */
export function startAgent (kind: AgentKind, options: StartAgentOptions): RunningAgent {
  const agent = createVillagerAgent(kind, options)
  const controller = new AbortController()
  const done = runVillagerAgent({
    apiUrl: options.apiUrl,
    agent,
    log: options.log,
    signal: controller.signal,
    seed: options.seed,
    pollIntervalMs: options.pollIntervalMs,
    turnDeadlineMs: options.turnDeadlineMs,
    minMembers: options.minMembers,
    onTurn: options.onTurn
  })
  return {
    agent,
    done,
    stop: async () => {
      controller.abort()
      await done
    }
  }
}
