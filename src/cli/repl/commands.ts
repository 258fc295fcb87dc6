/**
 * The REPL's commands: one row each (name, aliases, usage, what it does, handler),
 * in the older design's vocabulary. Handlers check their words, make one control
 * API call and print its answer; errors are printed by the dispatcher (index.ts).
 */
import { CommandUsageError, expectArgCount, parseItem, parseQuantity, parseSide, parseUnitPrice } from './args.js'
import { createDialog } from './create-dialog.js'
import { COMMAND_GROUPS, type CommandSpec, type ReplContext } from './context.js'
import { describeTrade, formatMessages, formatOutcome, formatPrices, formatStatus, formatTime, formatTradeTable, formatVillager } from './format.js'

/** A period action: it uses up the period, and publishes this villager's vote. */
function periodAction (name: 'produce' | 'sleep' | 'idle', aliases: string[], summary: string): CommandSpec {
  return {
    name,
    aliases,
    usage: name,
    summary,
    group: 'your villager',
    run: async (ctx, args) => {
      expectArgCount(args, 0)
      ctx.print(formatOutcome(await ctx.api.act(name)))
    }
  }
}

function merchantOrder (op: 'buy' | 'sell'): CommandSpec {
  return {
    name: op,
    aliases: [],
    usage: `${op} ITEM QTY`,
    group: 'your villager',
    summary: op === 'buy' ? 'buy from the merchant (does not use the period)' : 'sell to the merchant (does not use the period)',
    run: async (ctx, args) => {
      expectArgCount(args, 2)
      const item = parseItem(args[0]!)
      const quantity = parseQuantity(args[1]!)
      ctx.print(formatOutcome(await ctx.api.order(op, item, quantity)))
    }
  }
}

function tradeStep (step: 'accept' | 'reject' | 'confirm' | 'cancel', summary: string): CommandSpec {
  return {
    name: step,
    aliases: [],
    usage: `${step} ID`,
    summary,
    group: 'trades with villagers',
    run: async (ctx, args) => {
      expectArgCount(args, 1)
      const trade = await ctx.api.tradeStep(step, args[0]!)
      ctx.watcher.noteTrade(trade)
      ctx.print(describeTrade(trade))
    }
  }
}

async function showInfo (ctx: ReplContext): Promise<void> {
  const villager = await ctx.api.villager()
  const time = await ctx.api.time().catch(() => undefined)
  ctx.print(formatVillager(villager, time))
}

export const COMMANDS: readonly CommandSpec[] = [
  // ---- looking around
  { name: 'info', group: 'looking around', aliases: ['i'], usage: 'info', summary: 'your villager: stamina, coins, items', run: async (ctx, args) => { expectArgCount(args, 0); await showInfo(ctx) } },
  { name: 'time', group: 'looking around', aliases: ['t'], usage: 'time', summary: 'the day and period, and whether you have acted', run: async (ctx, args) => { expectArgCount(args, 0); ctx.print(formatTime(await ctx.api.time(), ctx.watcher.health?.villager ?? undefined)) } },
  { name: 'status', group: 'looking around', aliases: ['s'], usage: 'status', summary: 'every villager: who has acted, who is awaited', run: async (ctx, args) => { expectArgCount(args, 0); ctx.print(formatStatus(await ctx.api.status(), ctx.watcher.health?.villager ?? undefined)) } },
  { name: 'prices', group: 'looking around', aliases: ['p'], usage: 'prices', summary: "the merchant's prices", run: async (ctx, args) => { expectArgCount(args, 0); ctx.print(formatPrices(await ctx.api.prices())) } },
  {
    name: 'help',
    aliases: ['h', '?'],
    usage: 'help [COMMAND]',
    group: 'this session',
    summary: 'this list, or one command in detail',
    local: true,
    run: async (ctx, args) => {
      expectArgCount(args, 0, 1)
      if (args.length === 0) {
        ctx.print(helpText())
        return
      }
      const spec = findCommand(args[0]!)
      if (spec == null) throw new CommandUsageError(`no command "${args[0]}"`)
      ctx.print(`usage: ${spec.usage}\n${spec.summary}${spec.aliases.length > 0 ? `\nalso: ${spec.aliases.join(', ')}` : ''}`)
    }
  },
  { name: 'quit', group: 'this session', aliases: ['q', 'exit'], usage: 'quit', summary: 'leave (the villager keeps running)', local: true, run: async () => 'quit' },
  // ---- the villager
  {
    name: 'create',
    aliases: [],
    usage: 'create',
    summary: 'make this peer\'s villager: asks name, occupation, gender, personality (or: create NAME OCCUPATION)',
    group: 'your villager',
    run: async (ctx, args) => { await createDialog(ctx, args) }
  },
  periodAction('produce', ['work'], "the period's action: make your occupation's goods"),
  periodAction('sleep', ['rest'], "the period's action: sleep (needs a house or a temp_room)"),
  periodAction('idle', [], "the period's action: do nothing"),
  {
    name: 'eat',
    aliases: ['e'],
    usage: 'eat [N]',
    group: 'your villager',
    summary: 'eat N bread, 1 by default (does not use the period)',
    run: async (ctx, args) => {
      expectArgCount(args, 0, 1)
      const quantity = args.length === 0 ? 1 : parseQuantity(args[0]!)
      ctx.print(formatOutcome(await ctx.api.eat(quantity)))
    }
  },
  merchantOrder('buy'),
  merchantOrder('sell'),
  // ---- trades between villagers
  {
    name: 'trade',
    aliases: [],
    usage: 'trade NAME buy|sell ITEM QTY PRICE',
    group: 'trades with villagers',
    summary: 'propose a trade to a villager: you buy from or sell to them, PRICE coins per unit',
    run: async (ctx, args) => {
      expectArgCount(args, 5)
      const [name, sideWord, itemWord, quantityWord, priceWord] = args as [string, string, string, string, string]
      const side = parseSide(sideWord)
      const item = parseItem(itemWord)
      const trade = await ctx.api.proposeTrade(name, side, item, parseQuantity(quantityWord), parseUnitPrice(priceWord))
      ctx.watcher.noteTrade(trade)
      ctx.print(`proposed ${describeTrade(trade)}`)
    }
  },
  {
    name: 'trades',
    aliases: [],
    usage: 'trades',
    group: 'trades with villagers',
    summary: 'trades other villagers proposed to you',
    run: async (ctx, args) => {
      expectArgCount(args, 0)
      const trades = await ctx.api.receivedTrades()
      ctx.print(trades.length === 0 ? 'no trade requests received yet' : formatTradeTable(trades))
    }
  },
  {
    name: 'mytrades',
    aliases: [],
    usage: 'mytrades',
    group: 'trades with villagers',
    summary: 'trades you proposed',
    run: async (ctx, args) => {
      expectArgCount(args, 0)
      const trades = await ctx.api.initiatedTrades()
      ctx.print(trades.length === 0 ? 'you have proposed no trades yet' : formatTradeTable(trades))
    }
  },
  tradeStep('accept', 'accept a trade proposed to you (reserves what you give)'),
  tradeStep('reject', 'turn down a trade proposed to you'),
  tradeStep('confirm', 'complete a trade you proposed, once accepted'),
  tradeStep('cancel', 'withdraw a trade you proposed, before you confirm it'),
  // ---- messages
  {
    name: 'send',
    aliases: [],
    usage: 'send NAME MESSAGE...',
    group: 'messages',
    summary: 'a private message to one villager',
    run: async (ctx, args, rest) => {
      const match = /^(\S+)\s+(\S[\s\S]*)$/.exec(rest)
      if (match == null) throw new CommandUsageError(args.length === 0 ? 'missing the name and the message' : 'missing the message')
      const sent = await ctx.api.send(match[1]!, match[2]!.trim())
      ctx.print(`sent to ${sent.to}`)
    }
  },
  {
    name: 'broadcast',
    aliases: [],
    usage: 'broadcast MESSAGE...',
    group: 'messages',
    summary: 'a message to the whole town',
    run: async (ctx, _args, rest) => {
      if (rest.trim() === '') throw new CommandUsageError('missing the message')
      const sent = await ctx.api.broadcast(rest.trim())
      ctx.print(`broadcast to the town (${sent.recipients} peer${sent.recipients === 1 ? '' : 's'} listening)`)
    }
  },
  {
    name: 'messages',
    aliases: [],
    usage: 'messages',
    group: 'messages',
    summary: 'messages you received (the latest 20)',
    run: async (ctx, args) => { expectArgCount(args, 0); ctx.print(formatMessages(await ctx.api.messages())) }
  }
]

/** A command by name or alias, any case. */
export function findCommand (word: string): CommandSpec | undefined {
  const w = word.toLowerCase()
  return COMMANDS.find(c => c.name === w || c.aliases.includes(w))
}

/** Every word that runs a command, for suggestions and completion. */
export function commandWords (): string[] {
  return COMMANDS.flatMap(c => [c.name, ...c.aliases])
}

export function helpText (): string {
  const label = (c: CommandSpec): string => c.aliases.length > 0 ? `${c.usage} (${c.aliases.join(', ')})` : c.usage
  const width = Math.max(...COMMANDS.map(c => label(c).length))
  const lines: string[] = []
  for (const group of COMMAND_GROUPS) {
    lines.push(`${group}:`)
    for (const c of COMMANDS.filter(c => c.group === group)) lines.push(`  ${label(c).padEnd(width)}  ${c.summary}`)
  }
  return lines.join('\n')
}
