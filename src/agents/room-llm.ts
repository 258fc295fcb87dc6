/**
 * LLM room agents: a RoomDecider that asks a model, through the `openai`
 * client, against any OpenAI-compatible endpoint ($OPENAI_BASE_URL,
 * $OPENAI_API_KEY; Ollama, vLLM, llama.cpp server, OpenAI itself).
 *
 * The prompt is what the older design fed its model (a seat's identity
 * prompt, the rule prompt, the end-game prompt, and the private and public
 * messages the agent has seen), plus the room's shape and the answer format.
 * The answer is one JSON object (response_format json_object; a tool call's
 * arguments are read too) that must pass the room's own action schema and
 * rules (validateAction) and refer only to messages the agent has seen.
 *
 * Two kinds of trouble, two bounds, as in the villager's openai agent:
 * - A bad answer (not JSON, the wrong shape, an unknown receiver, a private
 *   message to nobody, too long...) goes back to the model with the error,
 *   at most `maxInvalidRetries` times (the room's llm_max_retries); then the
 *   seat plays its fallback: the heuristic named in its config, else a pass.
 *   Nothing malformed is ever returned.
 * - A failed request (connection error, timeout, 408/409/429/5xx) is retried
 *   with back-off (Retry-After honoured), never past the decision's deadline,
 *   which is below the room's turn timeout; past it the fallback plays.
 */
import { setTimeout as delay } from 'node:timers/promises'
import OpenAI, { APIConnectionError, APIError, APIUserAbortError } from 'openai'
import type { ChatCompletion, ChatCompletionMessageParam } from 'openai/resources/chat/completions'
import { UsageError } from '../node/errors.js'
import {
  actionContext, decideBudgetMs, PASS, validateAction, type ActionCheck, type DecideOptions, type RoomAction, type RoomDecider, type RoomTrigger, type RoomView, type ViewMessage
} from '../rooms/actions.js'
import type { RoomConfig } from '../rooms/config.js'
import { formatMessage } from '../rooms/format.js'
import { seededRng, type Rng } from '../rooms/rng.js'
import { OPENAI_AGENT_DEFAULTS, openAIClient, retryAfterMs } from './openai-agent.js'
import { pendingAsks } from './room-heuristic.js'
import { oneLine, type AgentLog } from './villager-agent.js'

export interface LlmRoomDeciderOptions {
  model: string
  /** The endpoint; default $OPENAI_BASE_URL (one is required: see resolveLlmEndpoint). */
  baseURL?: string
  /** Default $OPENAI_API_KEY; a local endpoint needs none. */
  apiKey?: string
  /** A ready client (tests, proxies); baseURL and apiKey are then ignored. */
  client?: OpenAI
  /** Bad answers sent back to the model per decision; default the room's llm_max_retries. */
  maxInvalidRetries?: number
  /** One request gives up after this long (and is retried); default the room's llm_timeout_ms. */
  requestTimeoutMs?: number
  /** Failed requests retried per model call. */
  maxNetworkRetries?: number
  backoffInitialMs?: number
  backoffMaxMs?: number
  /** Bound on one decision when the runtime gives no deadline; default decideBudgetMs(limits, 'llm'). */
  budgetMs?: number
  temperature?: number
  /** `json_object` (default) asks the server for JSON; `none` leaves it to the prompt (servers without response_format). */
  responseFormat?: 'json_object' | 'none'
  /** Plays the seat when the model gives no valid answer in time; a pass without one. */
  fallback?: RoomDecider
  /** Messages sent for one turn or wake-up before the agent is made to stop (a pass). */
  maxActionsPerTurn?: number
  /** Bounds on the transcript in the prompt (newest kept; own private messages first). */
  maxPromptMessages?: number
  maxPromptChars?: number
  log?: AgentLog
  /** Seeds the back-off jitter. */
  seed?: string | number
}

export const LLM_ROOM_DEFAULTS = {
  maxNetworkRetries: OPENAI_AGENT_DEFAULTS.maxNetworkRetries,
  backoffInitialMs: OPENAI_AGENT_DEFAULTS.backoffInitialMs,
  backoffMaxMs: OPENAI_AGENT_DEFAULTS.backoffMaxMs,
  maxActionsPerTurn: 16,
  maxPromptMessages: 300,
  maxPromptChars: 60_000
} as const

/** An llm seat with nowhere to send its prompts. */
export class LlmEndpointError extends UsageError {
  override name = 'LlmEndpointError'
}

export interface LlmEndpoint {
  baseURL: string
  apiKey?: string
}

/**
 * The endpoint llm seats talk to: `overrides`, else $OPENAI_BASE_URL and
 * $OPENAI_API_KEY. A base URL is required, so that a room file never sends
 * prompts somewhere its runner did not choose.
 */
export function resolveLlmEndpoint (env: NodeJS.ProcessEnv = process.env, overrides: Partial<LlmEndpoint> = {}, seat?: string): LlmEndpoint {
  const baseURL = overrides.baseURL ?? nonEmpty(env.OPENAI_BASE_URL)
  if (baseURL === undefined) {
    const who = seat === undefined ? 'llm agents need' : `agent ${seat} is kind: llm and needs`
    throw new LlmEndpointError(`${who} an OpenAI-compatible endpoint, and OPENAI_BASE_URL is not set: set OPENAI_BASE_URL (e.g. http://localhost:11434/v1 for Ollama, https://api.openai.com/v1 with OPENAI_API_KEY), or play the seat with --agent heuristic`)
  }
  const apiKey = overrides.apiKey ?? nonEmpty(env.OPENAI_API_KEY)
  return apiKey === undefined ? { baseURL } : { baseURL, apiKey }
}

/** The model of an llm seat: its own, else the room's default_model, else $OPENAI_MODEL. */
export function seatModel (config: RoomConfig, seat: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const agent = config.agents.find(a => a.name === seat)
  return agent?.model ?? config.default_model ?? nonEmpty(env.OPENAI_MODEL)
}

function nonEmpty (value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim()
}

// ---------------------------------------------------------------- prompt

const KIND_LINES = [
  '{"kind": "public_info", "to": [], "content": "...", "re": "ID"}  everyone reads it; nobody has to answer',
  '{"kind": "public_ask", "to": ["NAME"], "content": "...", "re": "ID"}  everyone reads it; the agents in "to" must answer',
  '{"kind": "private_info", "to": ["NAME"], "content": "...", "re": "ID"}  only the agents in "to" read it',
  '{"kind": "private_ask", "to": ["NAME"], "content": "...", "re": "ID"}  only the agents in "to" read it, and they must answer',
  '{"kind": "pass", "reason": "..."}  say nothing now'
]

function modeText (view: RoomView): string {
  const limit = view.config.limits.max_rounds
  switch (view.mode) {
    case 'rounds':
      return `Agents speak in turns, in the order above${limit === undefined ? '' : `, for at most ${limit} rounds (a round is every agent's turn once)`}. On your turn you may send private messages; a public message or a pass ends your turn.`
    case 'ordered':
      return 'Agents speak in turns, in the order above, until the game ends. On your turn you may send private messages; a public message or a pass ends your turn.'
    case 'concurrent':
      return 'There are no turns: you are woken when the room starts (if you open it), when a message is addressed to you, or when the room has been quiet. Answer every ask addressed to you; pass when you have nothing to add.'
  }
}

function triggerText (trigger: RoomTrigger): string {
  switch (trigger.kind) {
    case 'turn': return `It is your turn (turn ${trigger.turn}, round ${trigger.round + 1}).`
    case 'start': return 'The room starts, and you open it.'
    case 'message': return `A message addressed to you has arrived: [${trigger.message.id}] ${formatMessage(trigger.message)}`
    case 'timeout': return 'The room has been quiet for a while. Move the game on if that is your part, answer what you still owe, or pass.'
  }
}

function line (m: ViewMessage, self: string): string {
  const text = formatMessage(m)
  return `[${m.id}] ${m.sender === self ? text.replace(self, `${self} (you)`) : text}`
}

/** The transcript for the prompt: newest first kept, the agent's own private messages before public ones. */
function promptMessages (view: RoomView, maxMessages: number, maxChars: number): { shown: ViewMessage[], omitted: number } {
  const visible = view.messages.filter(m => m.pass !== true)
  const own = (m: ViewMessage): boolean => m.visibility === 'private'
  const keep = new Set<ViewMessage>()
  let chars = 0
  for (const pass of [own, (m: ViewMessage) => !own(m)]) {
    for (let i = visible.length - 1; i >= 0; i--) {
      const m = visible[i] as ViewMessage
      if (!pass(m) || keep.has(m)) continue
      const size = m.content.length + 80
      if (keep.size >= maxMessages || chars + size > maxChars) break
      keep.add(m)
      chars += size
    }
  }
  const shown = visible.filter(m => keep.has(m))
  return { shown, omitted: visible.length - shown.length }
}

export interface PromptOptions {
  maxPromptMessages?: number
  maxPromptChars?: number
}

/** The chat messages of one decision: a system prompt (who, rules, end, format) and the agent's view. */
export function buildRoomPrompt (view: RoomView, options: PromptOptions = {}): ChatCompletionMessageParam[] {
  const { config, self } = view
  const seat = config.agents.find(a => a.name === self)
  const moderator = config.moderator
  const maySend = moderator === undefined || moderator === self
  const system: string[] = [
    `You are ${self}, an agent in the room "${config.name}"${config.description === undefined ? '' : ` (${oneLine(config.description)})`}. Every agent is a separate player; you only know what is shown to you.`,
    '',
    '# Your role',
    seat?.role.trim() ?? '',
    '',
    '# The rules',
    config.rule_prompt.trim(),
    '',
    '# How the game ends',
    config.end_game_prompt.trim(),
    '',
    '# The room',
    `Agents, in speaking order: ${view.agents.map(a => a === self ? `${a} (you)` : a).join(', ')}.${moderator === undefined ? '' : ` The moderator is ${moderator === self ? 'you' : moderator}.`}`,
    modeText(view)
  ]
  if (config.roles !== undefined) {
    system.push('Role cards in this game (the moderator deals them privately, one per player):')
    for (const r of config.roles) system.push(`- ${r.name} (x${r.count}${r.team === undefined ? '' : `, team ${r.team}`}): ${oneLine(r.prompt)}`)
  }
  if (config.phases !== undefined) {
    system.push('Phases:')
    for (const p of config.phases) system.push(`- ${p.name} (${p.visibility}; ${p.actors.join(', ')}): ${oneLine(p.prompt)}`)
  }
  system.push(
    '',
    '# How to answer',
    'Answer with exactly one JSON object and nothing else, one of:',
    ...KIND_LINES,
    `- "to" lists agents of this room by name (${view.agents.join(', ')}); a private message needs at least one receiver and never yourself.`,
    '- "re" (optional) is the id, in brackets in the transcript, of the message you answer. Always set it when you answer an ask.',
    `- "content" is at most ${config.limits.max_message_chars} characters.`,
    maySend
      ? '- On a public_info you may add "end": "RESULT" to declare the game over with that result, only when the end-game condition holds.'
      : `- Only ${moderator ?? 'the moderator'} may declare the game over; never add "end".`,
    '- When an ask says how to answer (for example "answer with [vote NAME]"), start "content" with exactly that bracketed tag.'
  )

  const { shown, omitted } = promptMessages(view, options.maxPromptMessages ?? LLM_ROOM_DEFAULTS.maxPromptMessages, options.maxPromptChars ?? LLM_ROOM_DEFAULTS.maxPromptChars)
  const user: string[] = []
  if (shown.length === 0) user.push('Nothing has been said yet.')
  else {
    user.push(`What you have seen so far, oldest first${omitted > 0 ? ` (${omitted} older messages not shown)` : ''}:`)
    for (const m of shown) user.push(line(m, self))
  }
  const asks = pendingAsks(view)
  user.push('')
  if (asks.length > 0) {
    user.push('Asks addressed to you that you have not answered yet:')
    for (const m of asks) user.push(line(m, self))
  } else {
    user.push('No ask addressed to you is waiting for your answer.')
  }
  if (view.sentThisTurn.length > 0) {
    user.push('', 'You have already sent, for this turn:')
    for (const m of view.sentThisTurn) user.push(line(m, self))
    user.push(view.mode === 'concurrent' ? 'Pass if you have nothing more to send.' : 'Send a public message or pass to end your turn, unless another private message is needed first.')
  }
  user.push('', triggerText(view.trigger), 'Your answer (one JSON object):')
  return [
    { role: 'system', content: system.join('\n') },
    { role: 'user', content: user.join('\n') }
  ]
}

// ---------------------------------------------------------------- answers

/** The text of a model answer: its content, or the arguments of its first tool call. */
export function answerText (completion: unknown): { ok: true, text: string } | { ok: false, error: string } {
  const message = (completion as ChatCompletion | undefined)?.choices?.[0]?.message as { content?: unknown, tool_calls?: Array<{ function?: { arguments?: unknown } }> } | undefined
  if (message == null || typeof message !== 'object') return { ok: false, error: 'the response holds no answer message' }
  const args = message.tool_calls?.[0]?.function?.arguments
  const text = typeof args === 'string' && args.trim() !== '' ? args : message.content
  if (typeof text !== 'string' || text.trim() === '') return { ok: false, error: 'the answer is empty: answer with one JSON object' }
  return { ok: true, text }
}

/** Checks a model's answer text: JSON, one action of the schema, the room's rules, and `re` among the messages seen. */
export function checkModelAnswer (text: string, view: RoomView): ActionCheck {
  const fenced = /^\s*```(?:json)?\s*([\s\S]*?)\s*```\s*$/i.exec(text)
  const body = (fenced?.[1] ?? text).trim()
  let input: unknown
  try {
    input = JSON.parse(body)
  } catch (err) {
    return { ok: false, error: `the answer is not valid JSON (${(err as Error).message}): answer with one JSON object and nothing else` }
  }
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    return { ok: false, error: `the answer must be one JSON object with a "kind", not ${Array.isArray(input) ? 'an array' : JSON.stringify(input)}` }
  }
  const checked = validateAction(input, actionContext(view))
  if (!checked.ok) return checked
  const action = checked.action
  if (action.kind !== 'pass' && action.re !== undefined && !view.messages.some(m => m.id === action.re)) {
    return { ok: false, error: `re: "${action.re}" is not the id of a message you have seen (ids are in brackets, e.g. ${view.messages[view.messages.length - 1]?.id ?? 'none yet'})` }
  }
  return checked
}

// ---------------------------------------------------------------- decider

export interface LlmRoomStats {
  decisions: number
  requests: number
  invalidAnswers: number
  networkRetries: number
  /** Decisions the fallback (or a pass) took over. */
  fallbacks: number
}

const noLog: AgentLog = { info: () => {}, warn: () => {}, debug: () => {} }

class TurnOver extends Error {}

export class LlmRoomDecider implements RoomDecider {
  readonly label: string
  readonly stats: LlmRoomStats = { decisions: 0, requests: 0, invalidAnswers: 0, networkRetries: 0, fallbacks: 0 }
  private readonly client: OpenAI
  private readonly jitter: Rng
  private readonly log: AgentLog

  constructor (private readonly options: LlmRoomDeciderOptions) {
    this.client = options.client ?? openAIClient({ baseURL: options.baseURL ?? resolveLlmEndpoint().baseURL, apiKey: options.apiKey, requestTimeoutMs: options.requestTimeoutMs })
    this.label = `llm:${options.model}`
    this.jitter = seededRng('room-llm-backoff', options.seed ?? 0)
    this.log = options.log ?? noLog
  }

  async decide (view: RoomView, decideOptions: DecideOptions): Promise<RoomAction> {
    this.stats.decisions++
    const o = this.options
    const who = `${view.self} (${this.label})`
    const maxActions = o.maxActionsPerTurn ?? LLM_ROOM_DEFAULTS.maxActionsPerTurn
    if (view.sentThisTurn.length >= maxActions) {
      this.log.info(`${who}: ${view.sentThisTurn.length} messages this turn, the most allowed; passing`)
      return PASS
    }
    const now = Date.now()
    const budget = o.budgetMs ?? decideBudgetMs(view.config.limits, 'llm')
    const due = Math.min(decideOptions.deadline ?? now + budget, now + budget)
    // keep a moment to play the fallback before the runtime stops waiting
    const deadline = due - Math.min(250, Math.max(10, Math.floor((due - now) / 20)))
    const signal = AbortSignal.any([decideOptions.signal, AbortSignal.timeout(Math.max(1, deadline - now))])
    const maxInvalid = o.maxInvalidRetries ?? view.config.limits.llm_max_retries
    const requestTimeoutMs = o.requestTimeoutMs ?? view.config.limits.llm_timeout_ms
    const messages = buildRoomPrompt(view, o)
    for (let invalid = 0; ;) {
      let completion: ChatCompletion
      try {
        completion = await this.complete(messages, signal, deadline, requestTimeoutMs, who)
      } catch (err: any) {
        return await this.fallback(view, decideOptions, `${err instanceof TurnOver ? 'no answer in time' : 'no answer'}: ${err?.message ?? err}`)
      }
      const answer = answerText(completion)
      const checked = answer.ok ? checkModelAnswer(answer.text, view) : answer
      if (checked.ok) {
        this.log.debug(`${who}: ${checked.action.kind}${checked.action.kind === 'pass' ? '' : ` -> ${checked.action.to.join(',') || 'all'}`}`)
        return checked.action
      }
      invalid++
      this.stats.invalidAnswers++
      this.log.info(`${who}: invalid answer (${invalid}/${maxInvalid + 1}): ${oneLine(checked.error, 300)}`)
      if (invalid > maxInvalid) return await this.fallback(view, decideOptions, `${invalid} invalid answers; the last: ${checked.error}`)
      if (answer.ok) messages.push({ role: 'assistant', content: answer.text.slice(0, 8_000) })
      messages.push({
        role: 'user',
        content: `Your answer was refused: ${checked.error}\nAnswer again with exactly one JSON object of one of the five kinds described (or {"kind": "pass"}), and nothing else.`
      })
    }
  }

  /** The seat's heuristic move when it has one that the room accepts, else a pass. */
  private async fallback (view: RoomView, options: DecideOptions, why: string): Promise<RoomAction> {
    this.stats.fallbacks++
    const fallback = this.options.fallback
    if (fallback !== undefined) {
      try {
        const checked = validateAction(await fallback.decide(view, options), actionContext(view))
        if (checked.ok) {
          this.log.warn(`${view.self} (${this.label}): ${oneLine(why, 300)}; ${fallback.label} plays this move`)
          return checked.action
        }
      } catch {}
    }
    this.log.warn(`${view.self} (${this.label}): ${oneLine(why, 300)}; passing`)
    return PASS
  }

  /** One model call, retried on network trouble until the deadline. */
  private async complete (messages: ChatCompletionMessageParam[], signal: AbortSignal, deadline: number, requestTimeoutMs: number, who: string): Promise<ChatCompletion> {
    const o = this.options
    const maxRetries = o.maxNetworkRetries ?? LLM_ROOM_DEFAULTS.maxNetworkRetries
    for (let attempt = 0; ; attempt++) {
      const left = deadline - Date.now()
      if (signal.aborted || left <= 0) throw new TurnOver('the turn\'s time is up')
      try {
        this.stats.requests++
        return await this.client.chat.completions.create({
          model: o.model,
          messages,
          ...(o.responseFormat === 'none' ? {} : { response_format: { type: 'json_object' as const } }),
          ...(o.temperature == null ? {} : { temperature: o.temperature })
        }, { signal, timeout: Math.max(1, Math.min(requestTimeoutMs, left)), maxRetries: 0 })
      } catch (err) {
        if (signal.aborted || err instanceof APIUserAbortError) throw new TurnOver('the turn\'s time ran out waiting for the model')
        const wait = this.retryDelay(err, attempt)
        const what = describeRequestError(err)
        if (wait === undefined) throw new Error(`the model request failed: ${what}`)
        if (attempt >= maxRetries) throw new Error(`the model request failed ${attempt + 1} times; the last: ${what}`)
        if (Date.now() + wait >= deadline) throw new TurnOver(`the model request failed (${what}) and a retry in ${wait} ms would pass the turn's deadline`)
        this.stats.networkRetries++
        this.log.info(`${who}: model request failed (${what}); retry ${attempt + 1}/${maxRetries} in ${wait} ms`)
        try {
          await delay(wait, undefined, { signal })
        } catch {
          throw new TurnOver('the turn\'s time ran out waiting to retry the model')
        }
      }
    }
  }

  /** How long to wait before retrying `err`, or undefined when retrying cannot help (same policy as the villager's agent). */
  private retryDelay (err: unknown, attempt: number): number | undefined {
    const o = this.options
    const initial = o.backoffInitialMs ?? LLM_ROOM_DEFAULTS.backoffInitialMs
    const max = o.backoffMaxMs ?? LLM_ROOM_DEFAULTS.backoffMaxMs
    const backoff = Math.round(Math.min(initial * 2 ** attempt, max) * (1 - 0.25 * this.jitter()))
    if (err instanceof APIConnectionError) return backoff
    if (!(err instanceof APIError) || err.status == null) return undefined
    if (err.status !== 408 && err.status !== 409 && err.status !== 429 && err.status < 500) return undefined
    return retryAfterMs(err.headers) ?? backoff
  }
}

function describeRequestError (err: unknown): string {
  if (err instanceof APIError) return `${err.status ?? err.constructor.name}: ${oneLine(err.message, 200)}`
  return oneLine(String((err as Error)?.message ?? err), 200)
}

export function createLlmRoomDecider (options: LlmRoomDeciderOptions): LlmRoomDecider {
  return new LlmRoomDecider(options)
}
