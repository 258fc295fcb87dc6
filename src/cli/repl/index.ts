/**
 * The villager REPL: a player's shell over a running villager's control API.
 * `meshtown attach` runs it against a villager in another process; `meshtown
 * villager` can run it in-process when stdin is a terminal. Either way it only
 * speaks HTTP to the control API, so both see exactly what scripts and agents see.
 */
import type { Readable, Writable } from 'node:stream'
import { ITEMS } from '../../town/rules.js'
import { ApiError, ControlApiClient, VillagerUnreachableError } from './api-client.js'
import { CommandUsageError } from './args.js'
import { commandWords, findCommand } from './commands.js'
import type { CommandOutcome, ReplContext } from './context.js'
import { LineInput } from './line-input.js'
import { closest } from './suggest.js'
import { TownWatcher } from './town-watcher.js'

export { COMMANDS, findCommand, helpText } from './commands.js'
export { ControlApiClient, ApiError, VillagerUnreachableError } from './api-client.js'

export interface ReplOptions {
  /** The villager's control API, e.g. http://127.0.0.1:5002 */
  apiUrl: string
  input: Readable
  output: Writable
  /** A terminal: prompt, line editing, Ctrl-C. Otherwise commands are read line by line from a pipe. */
  interactive: boolean
  /** Aborting ends the session (the command in flight finishes first); runRepl then resolves 0. */
  signal?: AbortSignal
  /** How often to poll for news, in ms (default 500). */
  pollIntervalMs?: number
}

/**
 * Run the REPL until `quit`, end of input (EOF, Ctrl-D, Ctrl-C twice) or `signal`.
 * Resolves with the exit code: 0 for all of these. A villager that does not answer
 * is not an error: it is reported and retried until it is back.
 */
export async function runRepl (options: ReplOptions): Promise<number> {
  if (options.signal?.aborted === true) return 0
  const api = new ControlApiClient(options.apiUrl)
  const input = new LineInput(options.input, options.output, options.interactive, complete)
  const print = (text: string): void => { input.print(text) }
  const watcher = new TownWatcher(api, {
    notify: (lines) => { print(lines.join('\n')) },
    onChange: () => { input.refreshPrompt() },
    intervalMs: options.pollIntervalMs
  })
  const ctx: ReplContext = {
    api,
    watcher,
    print,
    ask: async (question) => input.read(() => question, { cancellable: true })
  }
  const onAbort = (): void => { input.close() }
  options.signal?.addEventListener('abort', onAbort, { once: true })
  // output gone (`meshtown attach | head`): nobody is reading, so stop rather than crash on EPIPE
  const onOutputError = (): void => { input.close() }
  options.output.on('error', onOutputError)
  try {
    if (options.interactive) print(`meshtown: playing the villager at ${api.apiUrl}; type help for the commands, quit to leave`)
    await watcher.start()
    while (true) {
      const line = await input.read(() => watcher.prompt())
      if (line == null) {
        if (input.closed) break
        continue
      }
      const outcome = await runLine(ctx, line)
      if (outcome === 'quit') break
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort)
    options.output.off('error', onOutputError)
    watcher.stop()
    input.close()
  }
  return 0
}

/** Run one line typed by the player; every failure becomes a printed sentence. */
export async function runLine (ctx: ReplContext, line: string): Promise<CommandOutcome> {
  const trimmed = line.trim()
  if (trimmed === '' || trimmed.startsWith('#')) return 'continue'
  const word = trimmed.split(/\s+/, 1)[0]!
  const rest = trimmed.slice(word.length).trimStart()
  const args = rest === '' ? [] : rest.split(/\s+/)
  const spec = findCommand(word)
  if (spec == null) {
    const guess = closest(word, commandWords())
    ctx.print(`unknown command "${word}"${guess == null ? '' : `: did you mean ${guess}?`} (type help for the commands)`)
    return 'continue'
  }
  let outcome: CommandOutcome = 'continue'
  try {
    outcome = (await spec.run(ctx, args, rest)) ?? 'continue'
  } catch (err) {
    ctx.print(describeFailure(err, spec.usage))
  }
  // what the command set off (time advancing, a trade moving) shows up right after its answer
  if (spec.local !== true && outcome === 'continue') await ctx.watcher.pollNow()
  return outcome
}

function describeFailure (err: unknown, usage: string): string {
  if (err instanceof CommandUsageError) return `${err.message}\nusage: ${usage}`
  if (err instanceof ApiError) {
    // the REST wording tells a script to POST /villager; a player types create
    if (err.code === 'NO_VILLAGER') return 'error: no villager on this peer yet: type create to make one'
    return `error: ${err.message}`
  }
  if (err instanceof VillagerUnreachableError) return `error: ${err.message}; retrying in the background`
  return `error: ${(err as Error)?.message ?? String(err)}`
}

/** Tab completion: command words first, then items where a command takes one. */
function complete (line: string): [string[], string] {
  const words = line.split(/\s+/)
  const current = words[words.length - 1] ?? ''
  let candidates: readonly string[] = []
  if (words.length === 1) candidates = commandWords()
  else if ((words[0] === 'buy' || words[0] === 'sell') && words.length === 2) candidates = ITEMS
  else if (words[0] === 'trade' && words.length === 3) candidates = ['buy', 'sell']
  else if (words[0] === 'trade' && words.length === 4) candidates = ITEMS
  else if (words[0] === 'help' && words.length === 2) candidates = commandWords()
  const hits = candidates.filter(c => c.startsWith(current))
  return [hits.length > 0 ? hits.map(h => h + ' ') : [], current]
}
