import type { ControlApiClient } from './api-client.js'
import type { TownWatcher } from './town-watcher.js'

/** What a command handler gets to work with. */
export interface ReplContext {
  api: ControlApiClient
  watcher: TownWatcher
  /** Print lines for the player (above the prompt if one is showing). */
  print: (text: string) => void
  /** Ask one question and read the answer; null when the player gave up or input ended. */
  ask: (question: string) => Promise<string | null>
}

export const COMMAND_GROUPS = ['looking around', 'your villager', 'trades with villagers', 'messages', 'this session'] as const
export type CommandGroup = (typeof COMMAND_GROUPS)[number]

/** A command either carries on with the session or ends it. */
export type CommandOutcome = 'continue' | 'quit'

export interface CommandSpec {
  name: string
  aliases: readonly string[]
  /** How to call it, as printed on a usage error: `buy ITEM QTY`. */
  usage: string
  summary: string
  /** The heading it is listed under in `help`. */
  group: CommandGroup
  /** Commands that only show things or leave need no fresh poll afterwards. */
  local?: boolean
  /**
   * `args` are the words after the command; `rest` is everything after it as typed,
   * for commands whose last argument is free text (send, broadcast).
   */
  run: (ctx: ReplContext, args: string[], rest: string) => Promise<CommandOutcome | void>
}
