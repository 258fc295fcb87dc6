/**
 * What an LLM villager is told and how its answers are checked: the tools it may
 * call (their JSON Schemas come from the same zod schemas that check the calls),
 * the prompts, and the validation of every tool call it makes. Pure: no client,
 * no network.
 */
import { z } from 'zod'
import { MERCHANT_PRICES, RECIPES, STAMINA } from '../town/constants.js'
import { OCCUPATIONS, type VillagerState } from '../town/rules.js'
import { describeZodError } from '../protocols/wire.js'
import { ACTION_ARGUMENTS, type AgentAction, type FreeActionType, type TurnReason, type VillagerView } from './villager-agent.js'

const NO_ARGUMENTS = z.object({})

const TOOL_SPECS = {
  get_status: { args: NO_ARGUMENTS, description: 'See your state, the time, who is awaited, the merchant\'s prices, open trades and new messages.' },
  produce: { args: NO_ARGUMENTS, description: 'Period action: work at your occupation (uses inputs and stamina). Ends your turn.' },
  sleep: { args: NO_ARGUMENTS, description: 'Period action: sleep in your house or a temp_room (+stamina). Ends your turn.' },
  idle: { args: NO_ARGUMENTS, description: 'Period action: do nothing this period. Ends your turn.' },
  eat: { args: ACTION_ARGUMENTS.eat, description: 'Eat bread you hold (+stamina each). Does not use the period.' },
  buy: { args: ACTION_ARGUMENTS.buy, description: 'Buy an item from the merchant at its selling price.' },
  sell: { args: ACTION_ARGUMENTS.sell, description: 'Sell an item to the merchant at its buying price.' },
  propose_trade: { args: ACTION_ARGUMENTS.propose_trade, description: 'Offer another villager a trade. They accept or reject; you then confirm an accepted trade to complete it.' },
  accept_trade: { args: ACTION_ARGUMENTS.accept_trade, description: 'Accept a trade offered to you (reserves what you give).' },
  reject_trade: { args: ACTION_ARGUMENTS.reject_trade, description: 'Reject a trade offered to you.' },
  confirm_trade: { args: ACTION_ARGUMENTS.confirm_trade, description: 'Complete a trade you proposed that the other villager accepted.' },
  cancel_trade: { args: ACTION_ARGUMENTS.cancel_trade, description: 'Withdraw a trade you proposed, before you confirm it.' },
  send_message: { args: ACTION_ARGUMENTS.send_message, description: 'Send a private message to a villager.' },
  broadcast: { args: ACTION_ARGUMENTS.broadcast, description: 'Send a message to the whole town.' },
  end_turn: { args: z.object({ summary: z.string().max(2000).optional() }), description: 'End your turn. In a period turn, take a period action instead (it ends the turn).' }
} as const

export type ToolName = keyof typeof TOOL_SPECS
export const TOOL_NAMES = Object.keys(TOOL_SPECS) as ToolName[]
const PERIOD_TOOLS: readonly ToolName[] = ['produce', 'sleep', 'idle']

/** The tools of a turn: after the villager has acted, the period actions are not on offer. */
export function toolsFor (reason: TurnReason): ToolName[] {
  return reason === 'period' ? TOOL_NAMES : TOOL_NAMES.filter(t => !PERIOD_TOOLS.includes(t))
}

export interface FunctionTool {
  type: 'function'
  function: { name: string, description: string, parameters: Record<string, unknown> }
}

export function toolDefinitions (names: readonly ToolName[]): FunctionTool[] {
  return names.map(name => {
    const { $schema: _ignored, ...parameters } = z.toJSONSchema(TOOL_SPECS[name].args, { io: 'input' }) as Record<string, unknown>
    return { type: 'function', function: { name, description: TOOL_SPECS[name].description, parameters } }
  })
}

/** The shape of a model's answer message and of each tool call in it. */
export const ToolCallSchema = z.object({
  id: z.string().min(1),
  type: z.literal('function'),
  function: z.object({ name: z.string(), arguments: z.string() })
})
export type ToolCall = z.infer<typeof ToolCallSchema>
export const ModelMessageSchema = z.object({
  content: z.string().nullish(),
  tool_calls: z.array(ToolCallSchema).nullish()
})

export type ParsedToolCall =
  | { kind: 'status' }
  | { kind: 'end', summary?: string }
  | { kind: 'action', action: AgentAction }

export type ToolCallCheck = { ok: true, call: ParsedToolCall } | { ok: false, error: string }

/** Validate one tool call: a tool of this turn, arguments that are JSON, and that its schema accepts. */
export function parseToolCall (call: ToolCall, allowed: readonly ToolName[]): ToolCallCheck {
  const name = call.function.name
  if (!(allowed as readonly string[]).includes(name)) {
    const why = (TOOL_NAMES as readonly string[]).includes(name)
      ? `${name} is not available now: you have already taken this period's action`
      : `unknown tool "${name.slice(0, 60)}"`
    return { ok: false, error: `${why}; the tools are: ${allowed.join(', ')}` }
  }
  const tool = name as ToolName
  let args: unknown
  try {
    args = call.function.arguments.trim() === '' ? {} : JSON.parse(call.function.arguments)
  } catch (err) {
    return { ok: false, error: `the arguments of ${tool} are not valid JSON (${(err as Error).message}): send a JSON object` }
  }
  const checked = TOOL_SPECS[tool].args.safeParse(args)
  if (!checked.success) return { ok: false, error: `invalid arguments for ${tool}: ${describeZodError(checked.error)}` }
  if (tool === 'get_status') return { ok: true, call: { kind: 'status' } }
  if (tool === 'end_turn') {
    const summary = (checked.data as { summary?: string }).summary
    return { ok: true, call: summary === undefined ? { kind: 'end' } : { kind: 'end', summary } }
  }
  if (tool === 'produce' || tool === 'sleep' || tool === 'idle') return { ok: true, call: { kind: 'action', action: { type: tool } } }
  return { ok: true, call: { kind: 'action', action: { ...(checked.data as object), type: tool as FreeActionType } as AgentAction } }
}

// ---------------------------------------------------------------------------------------
// prompts

export function systemPrompt (self: VillagerState): string {
  const recipes = OCCUPATIONS.map(o => {
    const r = RECIPES[o]
    return `${o}: ${r.input.quantity} ${r.input.item} -> ${r.output.quantity} ${r.output.item}, ${r.stamina} stamina`
  }).join('; ')
  const mine = RECIPES[self.occupation]
  return [
    `You are ${self.name}, a ${self.occupation} in Meshtown, a village whose time moves in periods (morning, noon, evening) and moves on only when every villager has acted.`,
    self.personality === '' ? '' : `Your personality: ${self.personality}.`,
    'Rules:',
    `- Each period you take exactly one period action: produce, sleep or idle. Taking it ends your turn. Before it you may take free actions: eat, buy, sell (with the merchant), trades with villagers, messages.`,
    `- Stamina is ${STAMINA.min} to ${STAMINA.max}; at ${STAMINA.min} you can no longer work. Hunger takes ${STAMINA.hungerPerDay} at the end of each day. Sleeping restores ${STAMINA.sleepRestore} and needs a house (kept) or a temp_room (used up). Each bread eaten restores ${STAMINA.breadRestore}. Producing in the evening costs ${STAMINA.eveningWorkSurcharge} more.`,
    `- Recipes: ${recipes}. Yours: ${mine.input.quantity} ${mine.input.item} -> ${mine.output.quantity} ${mine.output.item}.`,
    `- The merchant sells ${Object.entries(MERCHANT_PRICES.sells).map(([i, p]) => `${i} at ${p}`).join(', ')} and buys ${Object.entries(MERCHANT_PRICES.buys).map(([i, p]) => `${i} at ${p}`).join(', ')} (get_status shows today's prices).`,
    '- A trade with a villager: propose_trade; they accept_trade or reject_trade; the proposer then confirm_trade to complete it. Prices between the merchant\'s buying and selling prices are fair to both.',
    'Your goals: stay alive (stamina above 0) and grow your coins.',
    'Work by calling tools, one step at a time; you see each result before the next. Before calling tools, say in one or two short sentences why.'
  ].filter(line => line !== '').join('\n')
}

export function turnPrompt (view: VillagerView, reason: TurnReason): string {
  const situation = JSON.stringify(view)
  if (reason === 'period') {
    return `It is day ${view.time.day}, ${view.time.period}, and you have not acted yet. What you see:\n${situation}\n` +
      'Take any free actions you want, then exactly one period action (produce, sleep or idle).'
  }
  return `It is day ${view.time.day}, ${view.time.period}; you have already acted this period. Trades need your answer. What you see:\n${situation}\n` +
    'Answer the trades offered to you (accept_trade or reject_trade) and those you proposed that were accepted (confirm_trade or cancel_trade), then call end_turn.'
}
