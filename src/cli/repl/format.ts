/**
 * How the REPL shows the villager's world: plain text, no colour, so it reads the
 * same in a terminal, a pipe and a log file.
 */
import { STAMINA } from '../../town/constants.js'
import { ITEMS, type RuleEffect, type VillagerState } from '../../town/rules.js'
import type { ActionOutcome, MessageView, PriceTable, StatusView, TimeView, TradeView } from './api-client.js'

/** Left-aligned columns, two spaces apart; numbers are right-aligned so they line up. */
export function table (headers: string[], rows: Array<Array<string | number>>): string {
  const cells = rows.map(r => r.map(String))
  const numeric = headers.map((_, c) => rows.length > 0 && rows.every(r => typeof r[c] === 'number'))
  const widths = headers.map((h, c) => Math.max(h.length, ...cells.map(r => r[c]!.length)))
  const line = (r: string[]): string => r.map((cell, c) => numeric[c] ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)).join('  ').trimEnd()
  return [line(headers), ...cells.map(line)].join('\n')
}

/** `day 2 noon`, or what stands in for it before the clock is known. */
export function timeLabel (time: TimeView | undefined): string {
  if (time == null) return 'time unknown'
  if (!time.synced || time.day == null) return 'not synced yet'
  return `day ${time.day} ${time.period}`
}

/** Whether this villager still owes the period its action, in a word. */
export function actedLabel (time: TimeView): string {
  if (time.member === false) return 'joining'
  return time.voted === true ? 'acted' : 'to act'
}

/** `self` is this villager's name, shown as "you". */
export function formatTime (time: TimeView, self?: string): string {
  if (!time.synced) return `${time.town}: the town's time is not known yet (create a villager, or wait for a town peer)`
  const lines = [`${time.town}: day ${time.day} ${time.period}`]
  if (time.member === false) lines.push('not yet a member of the town: this villager joins at the next period boundary')
  else if (time.voted === true) lines.push(`you have acted this period; ${awaitingSentence(time.awaiting, self)}`)
  else lines.push(`you have not acted yet this period (produce, sleep or idle); ${awaitingSentence(time.awaiting, self)}`)
  return lines.join('\n')
}

export function awaitingSentence (awaiting: string[] | undefined, self?: string): string {
  if (awaiting == null || awaiting.length === 0) return 'nobody is awaited: time is about to advance'
  const names = awaiting.filter(n => n !== self)
  if (names.length < awaiting.length) names.push('you')
  return `waiting for ${names.length === 1 ? names[0] : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`}`
}

export function formatItems (items: VillagerState['items']): string {
  const held = ITEMS.filter(i => items[i] > 0).map(i => `${i} ${items[i]}`)
  return held.length > 0 ? held.join(', ') : 'nothing'
}

export function formatVillager (v: VillagerState, time?: TimeView): string {
  const about = [v.gender, v.personality === '' ? undefined : `"${v.personality}"`].filter(Boolean).join(', ')
  const rows: Array<[string, string]> = [
    ['stamina', `${v.stamina}/${STAMINA.max}`],
    ['coins', String(v.coins)],
    ['items', formatItems(v.items)]
  ]
  if (time?.synced === true) rows.push(['time', `${timeLabel(time)}, ${actedLabel(time)}`])
  return [`${v.name} the ${v.occupation}${about === '' ? '' : ` (${about})`}`, ...rows.map(([k, val]) => `  ${k.padEnd(8)} ${val}`)].join('\n')
}

export function formatStatus (s: StatusView, self?: string): string {
  if (!s.synced) return formatTime(s, self)
  const header = `${s.town}: day ${s.day} ${s.period}, ${s.members.length} member${s.members.length === 1 ? '' : 's'}${s.majority == null ? '' : `, majority ${s.majority}`}`
  const rows = s.members.map(m => [m.name === self ? `${m.name} (you)` : m.name, m.occupation, m.voted ? `acted (${m.action ?? '?'})` : 'awaited'])
  return [header, table(['villager', 'occupation', 'this period'], rows), awaitingSentence(s.awaiting, self)].join('\n')
}

export function formatPrices (p: PriceTable): string {
  const rows = ITEMS.filter(i => p.sells[i] != null || p.buys[i] != null).map(i => [i, p.sells[i] ?? '-', p.buys[i] ?? '-'])
  return `merchant prices (coins per unit):\n${table(['item', 'you buy at', 'you sell at'], rows)}`
}

export function formatEffect (effect: RuleEffect): string {
  switch (effect.kind) {
    case 'produced':
      return `produced ${effect.produced.quantity} ${effect.produced.item} from ${effect.consumed.quantity} ${effect.consumed.item}: -${effect.staminaSpent} stamina${effect.eveningSurcharge > 0 ? ` (${effect.eveningSurcharge} of it for working in the evening)` : ''}`
    case 'slept':
      return `slept in ${effect.bed === 'house' ? 'your house' : 'a temp_room (used up)'}: +${effect.staminaRestored} stamina`
    case 'idled':
      return 'idled this period'
    case 'ate':
      return `ate ${effect.bread} bread: +${effect.staminaRestored} stamina`
    case 'bought':
      return `bought ${effect.quantity} ${effect.item} at ${effect.unitPrice} each: -${effect.coinsPaid} coins`
    case 'sold':
      return `sold ${effect.quantity} ${effect.item} at ${effect.unitPrice} each: +${effect.coinsReceived} coins`
    case 'hunger':
      return `hunger: -${effect.staminaLost} stamina`
    case 'created':
      return 'created'
  }
}

export function formatOutcome (o: ActionOutcome): string {
  return `${formatEffect(o.effect)} (now stamina ${o.villager.stamina}, coins ${o.villager.coins})`
}

// ---------------------------------------------------------------------------------------
// trades

/** The other villager in a trade. */
export function tradePartner (t: TradeView): string {
  return t.role === 'initiator' ? t.counterpartyName : t.initiatorName
}

/** Whether *this* villager buys or sells: a trade's `side` is the initiator's. */
export function mySide (t: TradeView): 'buy' | 'sell' {
  if (t.role === 'initiator') return t.side
  return t.side === 'buy' ? 'sell' : 'buy'
}

export function formatTradeTable (trades: TradeView[]): string {
  const rows = trades.map(t => [t.id, tradePartner(t), mySide(t), t.item, t.quantity, t.unitPrice, t.status])
  return table(['id', 'with', 'side', 'item', 'qty', 'price', 'status'], rows)
}

/** `you buy 5 wheat from bob at 10 each (50 coins)` */
export function describeTerms (t: TradeView): string {
  const side = mySide(t)
  return `you ${side} ${t.quantity} ${t.item} ${side === 'buy' ? 'from' : 'to'} ${tradePartner(t)} at ${t.unitPrice} each (${t.quantity * t.unitPrice} coins)`
}

/** What this villager can do next with a trade, if anything. */
export function nextStepHint (t: TradeView): string | undefined {
  const other = tradePartner(t)
  if (t.role === 'counterparty') {
    if (t.status === 'received') return `accept ${t.id} or reject ${t.id}`
    if (t.status === 'accepted') return `waiting for ${other} to confirm`
  } else {
    if (t.status === 'proposed') return `waiting for ${other} to accept (cancel ${t.id} to withdraw)`
    if (t.status === 'accepted') return `confirm ${t.id} to complete it, or cancel ${t.id}`
    if (t.status === 'confirming') return `waiting for ${other}'s decision`
  }
  return undefined
}

/** One line about a trade's latest state, as a command's answer or an unasked notice. */
export function describeTrade (t: TradeView): string {
  const hint = nextStepHint(t)
  const reason = t.reason != null && t.status !== 'committed' ? ` (${t.reason})` : ''
  return `trade ${t.id}: ${describeTerms(t)}: ${t.status}${reason}${hint == null ? '' : `; ${hint}`}`
}

export function formatMessages (messages: MessageView[], limit = 20): string {
  if (messages.length === 0) return 'no messages yet'
  const shown = messages.slice(-limit)
  const older = messages.length - shown.length
  return [...(older > 0 ? [`(${older} older not shown)`] : []), ...shown.map(formatMessage)].join('\n')
}

export function formatMessage (m: MessageView): string {
  const at = new Date(m.time).toTimeString().slice(0, 8)
  return `${at} ${m.kind === 'broadcast' ? 'broadcast from' : 'message from'} ${m.fromName}: ${m.text}`
}
