/**
 * The one interface between the room runtime and whatever decides for an
 * agent (heuristic now; an LLM or a person later): given what the agent can
 * see, return one RoomAction. The runtime validates every action with the
 * schema below and the room's rules before anything is signed, so a decider
 * can never put a malformed message on the wire; a bad action becomes a pass.
 *
 * An LLM decider can hand RoomActionSchema (z.toJSONSchema) to the model as
 * the output format and feed validateAction's error text back on a retry.
 */
import { z } from 'zod'
import type { RoomMessage } from '../protocols/room/messages.js'
import { AGENT_NAME, type AgentKind, type RoomConfig, type RoomMode } from './config.js'

const Name = z.string().regex(AGENT_NAME, { error: 'must be an agent name' })
const Content = z.string().trim().min(1, { error: 'must not be empty' }).max(16_000)
const To = z.array(Name).max(64)
const Re = z.string().max(80).optional()

export const RoomActionSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('public_ask'),
    /** Who must answer; everyone reads it. */
    to: To.min(1, { error: 'an ask needs at least one receiver' }),
    content: Content,
    re: Re
  }),
  z.strictObject({
    kind: z.literal('public_info'),
    /** Who it is meant for (informational); everyone reads it. */
    to: To.default([]),
    content: Content,
    re: Re,
    /** Declare the game over with this result (the moderator only, when the room has one). */
    end: z.string().trim().min(1).max(500).optional()
  }),
  z.strictObject({ kind: z.literal('private_ask'), to: To.min(1, { error: 'a private message needs at least one receiver' }), content: Content, re: Re }),
  z.strictObject({ kind: z.literal('private_info'), to: To.min(1, { error: 'a private message needs at least one receiver' }), content: Content, re: Re }),
  z.strictObject({ kind: z.literal('pass'), reason: z.string().max(500).optional() })
])

export type RoomAction = z.infer<typeof RoomActionSchema>
export type RoomActionInput = z.input<typeof RoomActionSchema>
export const PASS: RoomAction = Object.freeze({ kind: 'pass' })

/** A delivered message as a decider sees it (no signature). */
export type ViewMessage = Omit<RoomMessage, 'sig'>

export type RoomTrigger =
  /** Sequential modes: it is this agent's turn. */
  | { kind: 'turn', turn: number, round: number }
  /** Concurrent mode: the room starts and this agent opens it. */
  | { kind: 'start' }
  /** Concurrent mode: a message addressed to this agent was delivered. */
  | { kind: 'message', message: ViewMessage }
  /** Concurrent mode: nothing was delivered for the turn timeout. */
  | { kind: 'timeout' }

export interface RoomView {
  readonly room: string
  readonly self: string
  readonly mode: RoomMode
  readonly config: RoomConfig
  /** Agent names in config order (the speaking order of sequential modes). */
  readonly agents: readonly string[]
  /** Everything delivered to this agent (public and its private messages), in causal delivery order. */
  readonly messages: readonly ViewMessage[]
  readonly trigger: RoomTrigger
  /** What this agent already sent for this trigger (this turn). */
  readonly sentThisTurn: readonly ViewMessage[]
  /** Seed for deterministic deciders; the same for every agent of the room. */
  readonly seed: string
}

export interface DecideOptions {
  /** Aborted when the decision is no longer wanted (the agent stops) or its time is up. */
  signal: AbortSignal
  /**
   * When the answer is due (epoch ms): the runtime stops waiting then and
   * passes. A slow decider (a model, a person) should answer, or fall back,
   * a little before it.
   */
  deadline?: number
}

/**
 * How long a decider may take for one turn (or one concurrent wake-up):
 * below the turn timeout for a model or a person, so the turn does not pass
 * to the next agent while they think; a model's share is also bounded by
 * its request timeout times its tries.
 */
export function decideBudgetMs (limits: Pick<RoomConfig['limits'], 'turn_timeout_ms' | 'llm_timeout_ms' | 'llm_max_retries'>, kind: AgentKind): number {
  const turn = limits.turn_timeout_ms
  if (kind === 'heuristic') return turn
  const margin = Math.min(5_000, Math.max(50, Math.floor(turn / 10)))
  const budget = Math.max(1, turn - margin)
  return kind === 'llm' ? Math.min(budget, limits.llm_timeout_ms * (limits.llm_max_retries + 1)) : budget
}

/** The rules an action of `view.self` is checked against. */
export function actionContext (view: Pick<RoomView, 'self' | 'agents' | 'config'>): ActionContext {
  return { self: view.self, agents: view.agents, maxChars: view.config.limits.max_message_chars, moderator: view.config.moderator }
}

/** What plays an agent's seat. Heuristics, LLMs and humans implement this one method. */
export interface RoomDecider {
  /** Short label for logs, e.g. "heuristic:werewolf-player". */
  readonly label: string
  decide(view: RoomView, options: DecideOptions): Promise<RoomActionInput | RoomAction> | RoomActionInput | RoomAction
}

export interface ActionContext {
  readonly self: string
  readonly agents: readonly string[]
  readonly maxChars: number
  readonly moderator?: string
}

export type ActionCheck = { ok: true, action: RoomAction } | { ok: false, error: string }

/** Schema, then the room's rules: receivers exist, no private message to oneself, length, who may end. */
export function validateAction (input: unknown, ctx: ActionContext): ActionCheck {
  const parsed = RoomActionSchema.safeParse(input)
  if (!parsed.success) {
    return { ok: false, error: parsed.error.issues.slice(0, 5).map(i => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ') }
  }
  const action = parsed.data
  if (action.kind === 'pass') return { ok: true, action }
  const to = [...new Set(action.to)]
  const unknown = to.filter(n => !ctx.agents.includes(n))
  if (unknown.length > 0) return { ok: false, error: `to: not agents of this room: ${unknown.join(', ')}` }
  if ((action.kind === 'private_ask' || action.kind === 'private_info') && to.includes(ctx.self)) {
    return { ok: false, error: 'to: a private message cannot be sent to oneself' }
  }
  if (action.content.length > ctx.maxChars) return { ok: false, error: `content: ${action.content.length} characters, the room allows ${ctx.maxChars}` }
  if (action.kind === 'public_info' && action.end !== undefined && ctx.moderator !== undefined && ctx.moderator !== ctx.self) {
    return { ok: false, error: `end: only the moderator (${ctx.moderator}) ends this game` }
  }
  return { ok: true, action: { ...action, to } }
}

export function visibilityOf (action: Exclude<RoomAction, { kind: 'pass' }>): 'public' | 'private' {
  return action.kind === 'public_ask' || action.kind === 'public_info' ? 'public' : 'private'
}

export function replyOf (action: Exclude<RoomAction, { kind: 'pass' }>): 'reply' | 'no_reply' {
  return action.kind === 'public_ask' || action.kind === 'private_ask' ? 'reply' : 'no_reply'
}

/** The four message kinds of the design, from a message's visibility and reply fields. */
export function kindOf (msg: Pick<ViewMessage, 'visibility' | 'reply' | 'pass'>): 'public_ask' | 'public_info' | 'private_ask' | 'private_info' | 'pass' {
  if (msg.pass === true) return 'pass'
  return `${msg.visibility}_${msg.reply === 'reply' ? 'ask' : 'info'}`
}
