/**
 * An LLM villager: a ReAct loop with the `openai` client against any
 * OpenAI-compatible endpoint (OpenAI, Ollama, vLLM, llama.cpp server, ...).
 * The model calls tools that map to the control API; each call is executed at
 * once and its result is the model's next observation, until it takes the
 * period's action (or calls end_turn in a turn about trades).
 *
 * Two kinds of trouble, two bounds:
 * - A bad answer (not a tool call, an unknown tool, arguments that are not JSON or
 *   that the tool's zod schema refuses) goes back to the model as the tool's
 *   result, with the validation error, at most `maxInvalidRetries` times per turn;
 *   then the agent gives up and the driver falls back to the heuristic.
 * - A failed request (connection error, timeout, 429, 5xx) is retried with
 *   exponential back-off, honouring Retry-After, at most `maxNetworkRetries` times
 *   and never past the turn's deadline. The client's own retries are off, since
 *   its waits cannot be cut short by the deadline.
 */
import { setTimeout as delay } from 'node:timers/promises'
import OpenAI, { APIConnectionError, APIError, APIUserAbortError } from 'openai'
import type { ChatCompletion, ChatCompletionMessageParam } from 'openai/resources/chat/completions'
import { UsageError } from '../node/errors.js'
import { seededRng, type Rng } from '../rooms/rng.js'
import { ModelMessageSchema, parseToolCall, systemPrompt, toolDefinitions, toolsFor, turnPrompt, type FunctionTool } from './openai-tools.js'
import { isPeriodAction, oneLine, type ActionResult, type AgentSession, type AgentTurn, type VillagerAgent, type VillagerView } from './villager-agent.js'

export interface OpenAIAgentOptions {
  model: string
  /** Default: $OPENAI_BASE_URL, else OpenAI's own. */
  baseURL?: string
  /** Default: $OPENAI_API_KEY; a local endpoint (a base URL given) needs none. */
  apiKey?: string
  /** A ready client (tests, proxies); baseURL and apiKey are then ignored. */
  client?: OpenAI
  /** Bad answers sent back to the model for another try, per turn. */
  maxInvalidRetries?: number
  /** Model calls per turn, good or bad: a model that never ends its turn is cut off. */
  maxSteps?: number
  /** One request to the model gives up after this long (and is retried). */
  requestTimeoutMs?: number
  /** Failed requests retried per model call. */
  maxNetworkRetries?: number
  backoffInitialMs?: number
  backoffMaxMs?: number
  temperature?: number
  /** Seeds the back-off jitter, so runs can be replayed. */
  seed?: string | number
}

export const OPENAI_AGENT_DEFAULTS = {
  maxInvalidRetries: 3,
  maxSteps: 16,
  requestTimeoutMs: 30_000,
  maxNetworkRetries: 5,
  backoffInitialMs: 500,
  backoffMaxMs: 8_000
} as const

/** The model kept answering with calls that do not validate. */
export class InvalidModelOutputError extends Error {
  override name = 'InvalidModelOutputError'
}

export function createOpenAIAgent (options: OpenAIAgentOptions): VillagerAgent {
  return new OpenAIVillagerAgent(options)
}

/** The client for `options`, refusing clearly when there is no endpoint to talk to. */
export function openAIClient (options: Pick<OpenAIAgentOptions, 'baseURL' | 'apiKey' | 'requestTimeoutMs'>): OpenAI {
  const baseURL = options.baseURL ?? nonEmpty(process.env.OPENAI_BASE_URL)
  const apiKey = options.apiKey ?? nonEmpty(process.env.OPENAI_API_KEY) ?? (baseURL != null ? 'unused' : undefined)
  if (apiKey == null) throw new UsageError('the openai agent needs an endpoint: set OPENAI_API_KEY (and OPENAI_BASE_URL for another OpenAI-compatible server, e.g. http://localhost:11434/v1 for Ollama)')
  return new OpenAI({ apiKey, baseURL, maxRetries: 0, timeout: options.requestTimeoutMs ?? OPENAI_AGENT_DEFAULTS.requestTimeoutMs })
}

function nonEmpty (value: string | undefined): string | undefined {
  return value == null || value.trim() === '' ? undefined : value
}

class OpenAIVillagerAgent implements VillagerAgent {
  readonly name: string
  private readonly client: OpenAI
  private readonly o: Required<Omit<OpenAIAgentOptions, 'baseURL' | 'apiKey' | 'client' | 'temperature' | 'seed'>> & Pick<OpenAIAgentOptions, 'temperature'>
  private readonly jitter: Rng

  constructor (options: OpenAIAgentOptions) {
    this.o = { ...OPENAI_AGENT_DEFAULTS, ...stripUndefined(options), model: options.model }
    this.client = options.client ?? openAIClient(options)
    this.name = `openai:${options.model}`
    this.jitter = seededRng('openai-backoff', options.seed ?? 0)
  }

  async decide (view: VillagerView, session: AgentSession): Promise<AgentTurn> {
    const allowed = toolsFor(session.reason)
    const tools = toolDefinitions(allowed)
    const messages: ChatCompletionMessageParam[] = [
      { role: 'system', content: systemPrompt(view.self) },
      { role: 'user', content: turnPrompt(view, session.reason) }
    ]
    const thoughts: string[] = []
    let invalid = 0
    /** Count a bad answer; past the bound the turn is the fallback's. */
    const refuse = (why: string): void => {
      invalid++
      session.log.info(`${session.label}: invalid model output (${invalid}/${this.o.maxInvalidRetries + 1}): ${oneLine(why, 300)}`)
      if (invalid > this.o.maxInvalidRetries) throw new InvalidModelOutputError(`the model gave ${invalid} invalid answers; the last: ${why}`)
    }
    for (let step = 0; step < this.o.maxSteps; step++) {
      const completion = await this.complete(messages, tools, session)
      const answer = ModelMessageSchema.safeParse(completion?.choices?.[0]?.message)
      if (!answer.success) {
        refuse('the answer is not a chat message with function tool calls')
        messages.push({ role: 'user', content: 'Your last answer was malformed. Answer by calling one of the tools.' })
        continue
      }
      const { content, tool_calls: calls } = answer.data
      if (content != null && content.trim() !== '') {
        thoughts.push(content.trim())
        session.log.info(`${session.label}: reasoning: ${oneLine(content, 600)}`)
      }
      if (calls == null || calls.length === 0) {
        messages.push({ role: 'assistant', content: content ?? '' })
        refuse('no tool call')
        messages.push({ role: 'user', content: `Answer by calling a tool: ${allowed.join(', ')}.` })
        continue
      }
      messages.push({ role: 'assistant', content: content ?? null, tool_calls: calls })
      for (const call of calls) {
        const reply = (payload: unknown): void => { messages.push({ role: 'tool', tool_call_id: call.id, content: JSON.stringify(payload) }) }
        const checked = parseToolCall(call, allowed)
        if (!checked.ok) {
          reply({ ok: false, error: { code: 'INVALID_TOOL_CALL', message: checked.error } })
          refuse(checked.error)
          continue
        }
        const parsed = checked.call
        if (parsed.kind === 'status') {
          reply(await session.observe())
          continue
        }
        if (parsed.kind === 'end') {
          if (session.reason === 'period' && !session.voted) {
            const why = 'end_turn before this period\'s action: call produce, sleep or idle'
            reply({ ok: false, error: { code: 'NO_PERIOD_ACTION', message: why } })
            refuse(why)
            continue
          }
          return { reasoning: parsed.summary ?? thoughts.join(' '), actions: [], period: null }
        }
        const result = await session.execute(parsed.action)
        reply(toolResult(result))
        // the vote is cast and time may move on: nothing more belongs to this period
        if (isPeriodAction(parsed.action) && session.voted) return { reasoning: thoughts.join(' '), actions: [], period: null }
      }
    }
    throw new Error(`the model did not finish its turn within ${this.o.maxSteps} calls`)
  }

  /** One model call, retried on network trouble within the turn's deadline. */
  private async complete (messages: ChatCompletionMessageParam[], tools: FunctionTool[], session: AgentSession): Promise<ChatCompletion> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.client.chat.completions.create({
          model: this.o.model,
          messages,
          tools,
          tool_choice: 'auto',
          ...(this.o.temperature == null ? {} : { temperature: this.o.temperature })
        }, { signal: session.signal, timeout: this.o.requestTimeoutMs, maxRetries: 0 })
      } catch (err) {
        if (session.signal.aborted || err instanceof APIUserAbortError) throw new Error('the turn ran out of time waiting for the model')
        const wait = this.retryDelay(err, attempt)
        const what = describeRequestError(err)
        if (wait === undefined) throw new Error(`the model request failed: ${what}`)
        if (attempt >= this.o.maxNetworkRetries) throw new Error(`the model request failed ${attempt + 1} times; the last: ${what}`)
        if (Date.now() + wait >= session.deadline) throw new Error(`the model request failed (${what}) and waiting ${wait} ms more would pass the turn's deadline`)
        session.log.info(`${session.label}: model request failed (${what}); retry ${attempt + 1}/${this.o.maxNetworkRetries} in ${wait} ms`)
        try {
          await delay(wait, undefined, { signal: session.signal })
        } catch {
          throw new Error('the turn ran out of time waiting to retry the model')
        }
      }
    }
  }

  /** How long to wait before retrying `err`, or undefined when retrying cannot help. */
  private retryDelay (err: unknown, attempt: number): number | undefined {
    const backoff = Math.round(Math.min(this.o.backoffInitialMs * 2 ** attempt, this.o.backoffMaxMs) * (1 - 0.25 * this.jitter()))
    if (err instanceof APIConnectionError) return backoff
    if (!(err instanceof APIError) || err.status == null) return undefined
    if (err.status !== 408 && err.status !== 409 && err.status !== 429 && err.status < 500) return undefined
    return retryAfterMs(err.headers) ?? backoff
  }
}

/** Retry-After (seconds or an HTTP date) or the non-standard retry-after-ms, as a wait in ms. */
export function retryAfterMs (headers: Headers | undefined, now = Date.now()): number | undefined {
  const ms = Number.parseFloat(headers?.get('retry-after-ms') ?? '')
  if (Number.isFinite(ms) && ms >= 0) return Math.round(ms)
  const value = headers?.get('retry-after')
  if (value == null) return undefined
  const seconds = Number.parseFloat(value)
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000)
  const at = Date.parse(value)
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined
}

function describeRequestError (err: unknown): string {
  if (err instanceof APIError) return `${err.status ?? err.constructor.name}: ${oneLine(err.message, 200)}`
  return oneLine(String((err as Error)?.message ?? err), 200)
}

/** What the model observes after an action: the API's answer, or the refusal with its reason. */
function toolResult (result: ActionResult): unknown {
  if (result.ok) return { ok: true, result: result.result }
  return { ok: false, error: { code: result.code, message: result.message } }
}

function stripUndefined<T extends object> (o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}
