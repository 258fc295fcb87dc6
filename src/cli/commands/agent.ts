import { Option, type Command } from 'commander'
import { AGENT_KINDS, createVillagerAgent, DEFAULT_MODEL, startAgent, type AgentKind, type RunningAgent } from '../../agents/start-agent.js'
import { DRIVER_DEFAULTS } from '../../agents/villager-driver.js'
import type { Logger } from '../../node/logger.js'
import { addLogOptions, loggerFor, parsePort, parsePositiveInt, runUntilSignal, type LogOptions } from '../common.js'

/** The flags that choose and tune an agent, shared by `meshtown agent` and `meshtown villager --agent`. */
export interface AgentFlags {
  agent: AgentKind | 'none'
  model?: string
  seed: string
  pollInterval: number
  turnDeadline: number
  minMembers: number
}

/**
 * Add --agent, --model, --seed, --poll-interval, --turn-deadline and --min-members to `cmd`.
 * `meshtown villager` passes defaultKind 'none' (a person drives it unless asked).
 */
export function addAgentOptions (cmd: Command, { defaultKind = 'heuristic' as AgentKind | 'none' } = {}): Command {
  const kinds: string[] = defaultKind === 'none' ? [...AGENT_KINDS, 'none'] : [...AGENT_KINDS]
  return cmd
    .addOption(new Option('--agent <kind>', 'what plays the villager: heuristic (offline, deterministic) or openai (an OpenAI-compatible endpoint from $OPENAI_BASE_URL / $OPENAI_API_KEY)').choices(kinds).default(defaultKind))
    .option('--model <model>', `openai: the model (default $OPENAI_MODEL, else ${DEFAULT_MODEL})`)
    .option('--seed <seed>', 'seed of the heuristic (as agent and as fallback): the same seed plays the same way', '0')
    .option('--poll-interval <ms>', 'how often the control API is asked for something to decide', parsePositiveInt, DRIVER_DEFAULTS.pollIntervalMs)
    .option('--turn-deadline <ms>', 'the agent\'s time for one turn before the heuristic plays it (keep it under the town\'s --evict-after)', parsePositiveInt, DRIVER_DEFAULTS.turnDeadlineMs)
    .option('--min-members <n>', 'in a new town, wait for this many villagers before playing day 1 (alone, a villager is the whole town and plays on)', parsePositiveInt, DRIVER_DEFAULTS.minMembers)
}

/**
 * Check that the agent the flags ask for can run here (openai needs an endpoint),
 * before any peer is started: throws the UsageError `startAgentFromFlags` would.
 */
export function assertAgentFlags (flags: AgentFlags): void {
  if (flags.agent !== 'none') createVillagerAgent(flags.agent, { seed: flags.seed, model: flags.model })
}

/**
 * Start the agent the flags ask for on the villager at `apiUrl`, or nothing for
 * `--agent none`. Throws a UsageError (exit 2) when it cannot run, e.g. openai
 * without an endpoint. Stop it before closing the control API.
 */
export function startAgentFromFlags (flags: AgentFlags, apiUrl: string, log: Logger): RunningAgent | undefined {
  if (flags.agent === 'none') return undefined
  return startAgent(flags.agent, {
    apiUrl,
    log,
    seed: flags.seed,
    model: flags.model,
    pollIntervalMs: flags.pollInterval,
    turnDeadlineMs: flags.turnDeadline,
    minMembers: flags.minMembers
  })
}

interface AgentCommandOptions extends LogOptions, AgentFlags {
  apiPort: number
  apiHost: string
}

export function agentCommand (program: Command): void {
  addAgentOptions(addLogOptions(program.command('agent')
    .description('attach an AI agent to a running villager through its control API')
    .requiredOption('--api-port <port>', 'the villager\'s control API port (printed by `meshtown villager`)', parsePort)
    .option('--api-host <host>', 'the control API host (it answers loopback only)', '127.0.0.1')))
    .action(async (opts: AgentCommandOptions) => {
      const apiUrl = `http://${opts.apiHost.includes(':') ? `[${opts.apiHost}]` : opts.apiHost}:${opts.apiPort}`
      const log = loggerFor(opts, 'agent')
      const running = startAgentFromFlags(opts, apiUrl, log)!
      await runUntilSignal(running.stop, log)
    })
}
