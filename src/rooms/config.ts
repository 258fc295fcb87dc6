/**
 * Room config: a YAML file that defines a whole game (agents, prompts, mode,
 * limits, and the data heuristic agents need, such as werewolf role cards).
 *
 * Every problem is reported as `file:line:col: path: message`, one per line,
 * so that whoever wrote the YAML can jump straight to it: zod issue paths are
 * mapped back onto the YAML node they came from.
 */
import { readFile } from 'node:fs/promises'
import { LineCounter, isMap, isNode, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml'
import { z } from 'zod'

/** Also what makes agent names safe as clock keys: no ">" (see causal-inbox.ts). */
export const AGENT_NAME = /^[A-Za-z0-9_-]{1,32}$/
export const MAX_CONFIG_BYTES = 256 * 1024
/** Phase actors may name this instead of listing every agent. */
export const ALL_ACTORS = 'all'

const name = z.string().regex(AGENT_NAME, { error: 'must be 1..32 characters of A-Z a-z 0-9 _ -' })
const text = z.string().trim().min(1)

export const AgentKindSchema = z.enum(['llm', 'heuristic', 'human'])
export const RoomModeSchema = z.enum(['rounds', 'ordered', 'concurrent'])

export const AgentConfigSchema = z.strictObject({
  name,
  /** Identity prompt: who this agent is and how it behaves. */
  role: text,
  kind: AgentKindSchema,
  /** Model name for an llm agent; falls back to default_model. */
  model: text.optional(),
  /** Strategy name for a heuristic agent; the agent's default when absent. */
  heuristic: text.optional(),
})

export const LimitsSchema = z
  .strictObject({
    /** Required in rounds mode: the game stops after this many rounds. */
    max_rounds: z.int().min(1).optional(),
    /** A hard stop in every mode, so a game that never reaches its end condition still ends. */
    max_messages: z.int().min(1).default(500),
    turn_timeout_ms: z.int().min(1).default(120_000),
    llm_timeout_ms: z.int().min(1).default(60_000),
    /** Times an answer that fails the message schema is sent back before the safe default. */
    llm_max_retries: z.int().min(0).max(10).default(2),
    max_message_chars: z.int().min(1).default(4_000),
    /** Bound of each agent's causal inbox. */
    max_buffered_messages: z.int().min(1).default(1_024),
  })
  .prefault({})

/** A role card; `count` copies are dealt, one card per non-moderator agent. */
export const RoleCardSchema = z.strictObject({
  name,
  count: z.int().min(1).default(1),
  team: text.optional(),
  prompt: text,
})

export const PhaseSchema = z.strictObject({
  name,
  visibility: z.enum(['public', 'private']),
  /** Role names, agent names, or "all". */
  actors: z.array(z.string().min(1)).min(1),
  prompt: text,
})

export const RoomConfigSchema = z.strictObject({
  name: z.string().trim().min(1).max(64),
  description: text.optional(),
  mode: RoomModeSchema,
  default_model: text.optional(),
  agents: z.array(AgentConfigSchema).min(2).max(64),
  rule_prompt: text,
  end_game_prompt: text,
  limits: LimitsSchema,
  /** Agent who runs the game (deals roles, announces phases); still just a peer. */
  moderator: name.optional(),
  roles: z.array(RoleCardSchema).min(1).optional(),
  phases: z.array(PhaseSchema).min(1).optional(),
  /** Free-form, game-specific data for heuristic agents (e.g. a debate motion). */
  game: z.record(z.string(), z.unknown()).optional(),
})

export type AgentKind = z.infer<typeof AgentKindSchema>
export type RoomMode = z.infer<typeof RoomModeSchema>
export type AgentConfig = z.infer<typeof AgentConfigSchema>
export type RoomConfig = z.infer<typeof RoomConfigSchema>

export interface ConfigProblem {
  readonly file: string
  readonly line: number
  readonly col: number
  /** e.g. "agents[3].kind"; "(root)" for the document itself. */
  readonly path: string
  readonly message: string
}

export class RoomConfigError extends Error {
  readonly code = 'ROOM_CONFIG_INVALID'
  constructor(readonly problems: readonly ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'))
    this.name = 'RoomConfigError'
  }
}

export function formatProblem(p: ConfigProblem): string {
  return `${p.file}:${p.line}:${p.col}: ${p.path}: ${p.message}`
}

export interface LoadOptions {
  /** Model for llm agents that name none and have no default_model (e.g. from the environment). */
  readonly defaultModel?: string
}

type Path = readonly PropertyKey[]
interface PathProblem {
  readonly path: Path
  readonly message: string
  /** Point at the key itself (unknown field) rather than its value. */
  readonly atKey?: boolean
}

/** Parses and checks a room config; throws RoomConfigError listing every problem found. */
export function loadRoomConfig(source: string, fileName: string, options: LoadOptions = {}): RoomConfig {
  if (Buffer.byteLength(source, 'utf8') > MAX_CONFIG_BYTES) {
    throw new RoomConfigError([
      { file: fileName, line: 1, col: 1, path: '(root)', message: `file is larger than ${MAX_CONFIG_BYTES} bytes` },
    ])
  }
  const lineCounter = new LineCounter()
  const doc = parseDocument(source, { lineCounter, prettyErrors: false, uniqueKeys: true })
  const at = (offset: number) => lineCounter.linePos(offset)
  if (doc.errors.length > 0) {
    throw new RoomConfigError(
      doc.errors.map((e) => ({ file: fileName, ...at(e.pos[0]), path: 'yaml', message: firstLine(e.message) })),
    )
  }
  let data: unknown
  try {
    data = doc.toJS({ maxAliasCount: 100 })
  } catch (error) {
    throw new RoomConfigError([{ file: fileName, line: 1, col: 1, path: 'yaml', message: String(error) }])
  }

  const fail = (problems: readonly PathProblem[]): never => {
    throw new RoomConfigError(
      problems
        .map((p) => ({ file: fileName, ...locate(doc, p, lineCounter), path: formatPath(p.path), message: p.message }))
        .sort((x, y) => x.line - y.line || x.col - y.col),
    )
  }
  const parsed = RoomConfigSchema.safeParse(data, { reportInput: true })
  if (!parsed.success) return fail(parsed.error.issues.flatMap(describeIssue))
  const problems = crossFieldProblems(parsed.data, options)
  if (problems.length > 0) return fail(problems)
  return withResolvedModels(parsed.data, options)
}

/** Reads `path` and loads it; problems name the path as given. */
export async function readRoomConfigFile(path: string, options: LoadOptions = {}): Promise<RoomConfig> {
  return loadRoomConfig(await readFile(path, 'utf8'), path, options)
}

function crossFieldProblems(config: RoomConfig, options: LoadOptions): PathProblem[] {
  const problems: PathProblem[] = []
  const firstIndex = new Map<string, number>()
  config.agents.forEach((agent, i) => {
    const first = firstIndex.get(agent.name)
    if (first !== undefined) {
      problems.push({ path: ['agents', i, 'name'], message: `duplicate agent name "${agent.name}" (first at agents[${first}])` })
    } else firstIndex.set(agent.name, i)
    if (agent.kind === 'llm' && !(agent.model ?? config.default_model ?? options.defaultModel)) {
      problems.push({ path: ['agents', i, 'model'], message: 'an llm agent needs a model (or set default_model)' })
    }
  })
  if (config.moderator !== undefined && !firstIndex.has(config.moderator)) {
    problems.push({ path: ['moderator'], message: `"${config.moderator}" is not one of the agents` })
  }
  if (config.mode === 'rounds' && config.limits.max_rounds === undefined) {
    problems.push({ path: ['limits', 'max_rounds'], message: 'required when mode is rounds' })
  }
  const roleNames = new Set<string>()
  if (config.roles !== undefined) {
    config.roles.forEach((role, i) => {
      if (roleNames.has(role.name)) problems.push({ path: ['roles', i, 'name'], message: `duplicate role "${role.name}"` })
      roleNames.add(role.name)
    })
    if (config.moderator === undefined) {
      problems.push({ path: ['roles'], message: 'role cards need a moderator to deal them' })
    } else {
      const cards = config.roles.reduce((sum, r) => sum + r.count, 0)
      const players = config.agents.filter((a) => a.name !== config.moderator).length
      if (cards !== players) {
        problems.push({ path: ['roles'], message: `${cards} role cards for ${players} players (one card per non-moderator agent)` })
      }
    }
  }
  config.phases?.forEach((phase, i) =>
    phase.actors.forEach((actor, j) => {
      if (actor !== ALL_ACTORS && !roleNames.has(actor) && !firstIndex.has(actor)) {
        problems.push({ path: ['phases', i, 'actors', j], message: `"${actor}" is neither "${ALL_ACTORS}", a role nor an agent` })
      }
    }),
  )
  return problems
}

function withResolvedModels(config: RoomConfig, options: LoadOptions): RoomConfig {
  const fallback = config.default_model ?? options.defaultModel
  return {
    ...config,
    agents: config.agents.map((a) => (a.kind === 'llm' && a.model === undefined ? { ...a, model: fallback } : a)),
  }
}

function describeIssue(issue: z.core.$ZodIssue): PathProblem[] {
  const path = issue.path
  switch (issue.code) {
    case 'invalid_type':
      return [
        {
          path,
          message:
            issue.input === undefined
              ? `missing required field (expected ${issue.expected})`
              : `expected ${issue.expected}, got ${describeValue(issue.input)}`,
        },
      ]
    case 'invalid_value':
      return [{ path, message: `expected one of ${issue.values.map(String).join(' | ')}, got ${describeValue(issue.input)}` }]
    case 'unrecognized_keys':
      return issue.keys.map((key) => ({ path: [...path, key], message: 'unknown field', atKey: true }))
    case 'too_small':
      return [{ path, message: `must be ${bound('at least', issue.minimum, issue.origin)}` }]
    case 'too_big':
      return [{ path, message: `must be ${bound('at most', issue.maximum, issue.origin)}` }]
    default:
      return [{ path, message: issue.message }]
  }
}

function bound(word: string, limit: number | bigint, origin: string): string {
  const unit = origin === 'string' ? ' characters' : origin === 'array' ? ' items' : ''
  return `${word} ${limit}${unit}`
}

function describeValue(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a mapping'
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)
  return `${typeof value} ${String(value)}`
}

function formatPath(path: Path): string {
  if (path.length === 0) return '(root)'
  return path
    .map((seg, i) => (typeof seg === 'number' ? `[${seg}]` : `${i === 0 ? '' : '.'}${String(seg)}`))
    .join('')
}

function firstLine(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/ at line \d+, column \d+:?$/, '')
}

/**
 * The line:col of the deepest YAML node on the path. A missing field has no
 * node, so it points at the mapping that should hold it; an empty value
 * (`kind:`) points at its key.
 */
function locate(doc: Document, problem: PathProblem, lineCounter: LineCounter): { line: number; col: number } {
  let node: unknown = doc.contents
  let found: Node | undefined = isNode(node) ? node : undefined
  for (const [i, seg] of problem.path.entries()) {
    let child: unknown
    let key: Node | undefined
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg))
      child = pair?.value
      key = isNode(pair?.key) ? pair.key : undefined
    } else if (isSeq(node) && typeof seg === 'number') {
      child = node.items[seg]
    }
    const wantsKey = problem.atKey === true && i === problem.path.length - 1
    if (key !== undefined && (wantsKey || !isNode(child))) {
      found = key
      break
    }
    if (!isNode(child)) break
    found = child
    node = child
  }
  const offset = found?.range?.[0]
  return offset === undefined ? { line: 1, col: 1 } : lineCounter.linePos(offset)
}
