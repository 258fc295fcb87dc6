/**
 * Human room agents: a person plays a seat from the terminal. The messages
 * the seat can see are shown as they arrive (HumanTerminal.show, fed by the
 * CLI from the agent's deliveries); when it is the seat's turn, or an ask
 * addressed to it arrives (concurrent mode), the person types one line:
 *
 *   say TEXT                       public_info (answers a pending public ask)
 *   ask NAME[,NAME] TEXT           public_ask: everyone reads it, they must answer
 *   tell NAME[,NAME] TEXT          private_info (answers a pending ask from NAME)
 *   ask-private NAME[,NAME] TEXT   private_ask
 *   reply TEXT                     answers the oldest pending ask, as it was asked
 *   end RESULT                     declares the game over (the moderator)
 *   pass [REASON] | done           says nothing more now
 *   who | help
 *
 * Each line is checked with the same schema and room rules as every other
 * agent's action (validateAction); a mistake is explained and the prompt
 * comes back, until the turn's time is up (then the seat passes).
 */
import { createInterface, type Interface } from 'node:readline'
import {
  actionContext, PASS, validateAction, type DecideOptions, type RoomAction, type RoomActionInput, type RoomDecider, type RoomView, type ViewMessage
} from '../rooms/actions.js'
import { formatMessage } from '../rooms/format.js'
import { pendingAsks } from './room-heuristic.js'

export const HUMAN_SYNTAX = [
  'say TEXT                      public message to everyone (answers a pending public ask)',
  'ask NAME[,NAME] TEXT          public question: everyone reads it, NAME must answer',
  'tell NAME[,NAME] TEXT         private message to NAME (answers a pending ask from NAME)',
  'ask-private NAME[,NAME] TEXT  private question to NAME, who must answer',
  'reply TEXT                    answer the oldest pending ask, publicly or privately as it was asked',
  'end RESULT                    declare the game over with RESULT (the moderator only)',
  'pass [REASON]                 say nothing (ends your turn); "done" too',
  'who                           the agents of the room',
  'help                          this list'
]

const SHORT_SYNTAX = 'say TEXT | ask NAME[,NAME] TEXT | tell NAME[,NAME] TEXT | ask-private NAME TEXT | reply TEXT | pass | help'

export type HumanCommand =
  | { kind: 'action', action: RoomActionInput }
  | { kind: 'help' }
  | { kind: 'who' }
  | { kind: 'empty' }
  | { kind: 'error', error: string }

/** Reads one typed line into an action (not yet checked against the room's rules). Pure. */
export function parseHumanCommand (input: string, view: Pick<RoomView, 'self' | 'agents' | 'messages'>): HumanCommand {
  const text = input.trim()
  if (text === '') return { kind: 'empty' }
  const space = text.search(/\s/)
  const word = (space < 0 ? text : text.slice(0, space)).toLowerCase()
  const rest = space < 0 ? '' : text.slice(space).trim()
  const pending = pendingAsks(view as RoomView)
  const names = (list: string): string[] => list.split(',').map(n => n.trim()).filter(n => n !== '').map(n => view.agents.find(a => a.toLowerCase() === n.toLowerCase()) ?? n)
  /** `NAME[,NAME] TEXT` */
  const addressed = (usage: string): { to: string[], content: string } | { error: string } => {
    const m = /^(\S+)\s+([\s\S]+)$/.exec(rest)
    if (m === null) return { error: `usage: ${usage}` }
    const to = names(m[1] as string)
    const unknown = to.filter(n => !view.agents.includes(n))
    if (unknown.length > 0) return { error: `${unknown.join(', ')}: not ${unknown.length > 1 ? 'agents' : 'an agent'} of this room (agents: ${view.agents.join(', ')}); usage: ${usage}` }
    return { to, content: (m[2] as string).trim() }
  }
  switch (word) {
    case 'help':
    case '?':
      return { kind: 'help' }
    case 'who':
      return { kind: 'who' }
    case 'pass':
    case 'done':
      return { kind: 'action', action: rest === '' ? { kind: 'pass' } : { kind: 'pass', reason: rest } }
    case 'say': {
      if (rest === '') return { kind: 'error', error: 'usage: say TEXT' }
      const ask = pending.find(m => m.visibility === 'public')
      return { kind: 'action', action: { kind: 'public_info', to: ask === undefined ? [] : [ask.sender], content: rest, ...(ask === undefined ? {} : { re: ask.id }) } }
    }
    case 'ask':
    case 'ask-private':
    case 'pask': {
      const usage = `${word === 'ask' ? 'ask' : 'ask-private'} NAME[,NAME] TEXT`
      const a = addressed(usage)
      if ('error' in a) return { kind: 'error', error: a.error }
      return { kind: 'action', action: { kind: word === 'ask' ? 'public_ask' : 'private_ask', to: a.to, content: a.content } }
    }
    case 'tell': {
      const a = addressed('tell NAME[,NAME] TEXT')
      if ('error' in a) return { kind: 'error', error: a.error }
      const ask = a.to.length === 1 ? pending.find(m => m.sender === a.to[0]) : undefined
      return { kind: 'action', action: { kind: 'private_info', to: a.to, content: a.content, ...(ask === undefined ? {} : { re: ask.id }) } }
    }
    case 'reply': {
      if (rest === '') return { kind: 'error', error: 'usage: reply TEXT' }
      const ask = pending[0]
      if (ask === undefined) return { kind: 'error', error: 'no ask is waiting for your answer: use say or tell' }
      return { kind: 'action', action: { kind: ask.visibility === 'public' ? 'public_info' : 'private_info', to: [ask.sender], content: rest, re: ask.id } }
    }
    case 'end': {
      if (rest === '') return { kind: 'error', error: 'usage: end RESULT (e.g. end village wins)' }
      return { kind: 'action', action: { kind: 'public_info', to: [], content: `The game is over: ${rest}`, end: rest } }
    }
    default:
      return { kind: 'error', error: `unknown command "${word.slice(0, 30)}": ${SHORT_SYNTAX}` }
  }
}

export interface HumanTerminalOptions {
  input?: NodeJS.ReadableStream
  output?: NodeJS.WritableStream
}

/**
 * The terminal human seats share: one line reader, one output, one question
 * at a time (several human seats of a `room run` take turns at it).
 */
export class HumanTerminal {
  private readonly input: NodeJS.ReadableStream
  private readonly output: NodeJS.WritableStream
  private readonly tty: boolean
  private rl?: Interface
  private waiter?: (line: string | undefined) => void
  private prompting?: string
  private queue: Promise<unknown> = Promise.resolve()
  private closedValue = false

  constructor (options: HumanTerminalOptions = {}) {
    this.input = options.input ?? process.stdin
    this.output = options.output ?? process.stdout
    this.tty = (this.input as { isTTY?: boolean }).isTTY === true && (this.output as { isTTY?: boolean }).isTTY === true
  }

  /** The input ended (EOF): the seats pass from now on. */
  get closed (): boolean {
    return this.closedValue
  }

  /** Print a line; a prompt being answered is shown again below it. */
  show (text: string): void {
    if (this.prompting !== undefined && this.tty && this.rl !== undefined) {
      this.output.write(`\r\x1b[K${text}\n`)
      this.rl.prompt(true)
      return
    }
    this.output.write(`${text}\n`)
  }

  /**
   * Ask for one line. Resolves with it, or undefined when the input ends or
   * `signal` aborts. Questions are answered one at a time, in order.
   */
  async ask (prompt: string, signal: AbortSignal): Promise<string | undefined> {
    const turn = this.queue.then(async () => await this.askNow(prompt, signal))
    this.queue = turn.catch(() => {})
    return await turn
  }

  close (): void {
    this.closedValue = true
    this.rl?.close()
    this.rl = undefined
  }

  private reader (): Interface {
    if (this.rl !== undefined) return this.rl
    const rl = createInterface({ input: this.input, ...(this.tty ? { output: this.output, terminal: true } : { terminal: false }) })
    rl.on('line', (text) => {
      const waiter = this.waiter
      if (waiter === undefined) {
        if (text.trim() !== '') this.output.write('(not your turn: wait for the prompt)\n')
        return
      }
      this.waiter = undefined
      waiter(text)
    })
    rl.on('close', () => {
      this.closedValue = true
      const waiter = this.waiter
      this.waiter = undefined
      waiter?.(undefined)
    })
    // readline on a terminal keeps Ctrl-C for itself: hand it to the process (stop the room)
    rl.on('SIGINT', () => { process.kill(process.pid, 'SIGINT') })
    this.rl = rl
    return rl
  }

  private async askNow (prompt: string, signal: AbortSignal): Promise<string | undefined> {
    if (this.closedValue || signal.aborted) return undefined
    const rl = this.reader()
    return await new Promise<string | undefined>(resolve => {
      const done = (line: string | undefined): void => {
        signal.removeEventListener('abort', onAbort)
        this.prompting = undefined
        resolve(line)
      }
      const onAbort = (): void => {
        if (this.waiter === done) this.waiter = undefined
        if (this.tty) this.output.write('\n')
        done(undefined)
      }
      this.waiter = done
      this.prompting = prompt
      signal.addEventListener('abort', onAbort, { once: true })
      if (this.tty) {
        rl.setPrompt(prompt)
        rl.prompt()
      } else {
        // not a terminal (a pipe, a script): whole lines only, so messages arriving meanwhile never share the prompt's line
        this.output.write(`${prompt}\n`)
      }
    })
  }
}

export interface HumanRoomDeciderOptions {
  terminal: HumanTerminal
}

/** A seat played by a person at a HumanTerminal. */
export class HumanRoomDecider implements RoomDecider {
  readonly label = 'human'
  private readonly terminal: HumanTerminal
  private greeted = false

  constructor (options: HumanRoomDeciderOptions) {
    this.terminal = options.terminal
  }

  /** Whether this wake-up needs the person at all. */
  private wanted (view: RoomView): boolean {
    const t = view.trigger
    if (t.kind === 'turn' || t.kind === 'start') return true
    if (view.sentThisTurn.length > 0) return true
    const pending = pendingAsks(view)
    if (t.kind === 'message') return pending.some(m => m.id === t.message.id)
    return pending.length > 0
  }

  async decide (view: RoomView, options: DecideOptions): Promise<RoomAction> {
    const term = this.terminal
    if (term.closed || !this.wanted(view)) return PASS
    const me = view.self
    if (!this.greeted) {
      this.greeted = true
      const role = view.config.agents.find(a => a.name === me)?.role.trim()
      term.show(`== you play ${me}${role === undefined ? '' : `: ${role.replace(/\s+/g, ' ')}`}`)
      term.show(`== type one of:\n   ${HUMAN_SYNTAX.join('\n   ')}`)
    }
    term.show(this.situation(view, options))
    const ctx = actionContext(view)
    while (true) {
      const line = await term.ask(`${me}> `, options.signal)
      if (line === undefined) {
        term.show(term.closed ? `== input closed: ${me} passes` : `== time is up: ${me} passes`)
        return PASS
      }
      const command = parseHumanCommand(line, view)
      switch (command.kind) {
        case 'help':
          term.show(`   ${HUMAN_SYNTAX.join('\n   ')}`)
          continue
        case 'who':
          term.show(`agents: ${view.agents.map(a => a === me ? `${a} (you)` : a).join(', ')}${view.config.moderator === undefined ? '' : `; moderator ${view.config.moderator}`}`)
          continue
        case 'empty':
          term.show(`(type a message, or "pass"; "help" lists the commands)`)
          continue
        case 'error':
          term.show(`usage error: ${command.error}`)
          continue
        case 'action': {
          const checked = validateAction(command.action, ctx)
          if (!checked.ok) {
            term.show(`usage error: ${checked.error}`)
            continue
          }
          return checked.action
        }
      }
    }
  }

  private situation (view: RoomView, options: DecideOptions): string {
    const t = view.trigger
    const seconds = options.deadline === undefined ? '' : ` (${Math.max(0, Math.round((options.deadline - Date.now()) / 1000))} s)`
    const head = t.kind === 'turn'
      ? `== your turn, ${view.self}: turn ${t.turn}, round ${t.round + 1}${seconds}`
      : `== ${view.self}, your move${seconds}`
    const lines = [head]
    if (view.sentThisTurn.length > 0) {
      lines.push(view.mode === 'concurrent'
        ? '   sent; another message, or "pass" when you are done'
        : '   your turn goes on: a public message (say/ask/reply) or "pass" ends it')
    }
    const pending = pendingAsks(view)
    for (const m of pending) lines.push(`   waiting for your answer: [${m.id}] ${formatMessage(m as ViewMessage)}`)
    return lines.join('\n')
  }
}

export function createHumanRoomDecider (terminal: HumanTerminal): HumanRoomDecider {
  return new HumanRoomDecider({ terminal })
}
