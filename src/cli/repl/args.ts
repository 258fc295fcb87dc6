/**
 * Checking a command's words before anything is sent, so a slip gets the
 * command's usage and a precise reason instead of a server error.
 */
import { LIMITS } from '../../town/constants.js'
import { ITEMS, type Item } from '../../town/rules.js'
import { TRADE_LIMITS } from '../../town/trades.js'
import { closest } from './suggest.js'

/** The words do not fit the command: the REPL prints the reason and the usage. */
export class CommandUsageError extends Error {
  override name = 'CommandUsageError'
}

export function expectArgCount (args: string[], min: number, max = min): void {
  const missing = min - args.length
  if (missing > 0) throw new CommandUsageError(`missing ${missing === 1 ? 'an argument' : `${missing} arguments`}`)
  if (args.length > max) throw new CommandUsageError(max === 0 ? 'takes no arguments' : `too many arguments (at most ${max})`)
}

function wholeNumber (text: string, what: string, max: number): number {
  const n = /^\d+$/.test(text) ? Number(text) : NaN
  if (!Number.isSafeInteger(n) || n < 1 || n > max) throw new CommandUsageError(`${what} must be a whole number from 1 to ${max}, got "${text}"`)
  return n
}

export function parseQuantity (text: string): number {
  return wholeNumber(text, 'QTY', LIMITS.maxOrderQuantity)
}

export function parseUnitPrice (text: string): number {
  return wholeNumber(text, 'PRICE (coins per unit)', TRADE_LIMITS.maxUnitPrice)
}

export function parseItem (text: string): Item {
  const item = text.toLowerCase()
  if ((ITEMS as readonly string[]).includes(item)) return item as Item
  const guess = closest(item, ITEMS)
  throw new CommandUsageError(`unknown item "${text}"${guess == null ? '' : `: did you mean ${guess}?`} (items: ${ITEMS.join(', ')})`)
}

export function parseSide (text: string): 'buy' | 'sell' {
  const side = text.toLowerCase()
  if (side === 'buy' || side === 'sell') return side
  throw new CommandUsageError(`the second word must be buy or sell, got "${text}"`)
}
