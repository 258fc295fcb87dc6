/**
 * How a room message reads on a terminal and in a prompt: one line,
 * `[t12] Moderator -> Alice (private_ask): ...`. Shared by the CLI (room run,
 * join, transcript), the human agent's terminal and the LLM agent's prompt.
 */
import { kindOf, type ViewMessage } from './actions.js'

export function oneLine (text: string): string {
  return text.replace(/\s+/g, ' ').trim()
}

/** One transcript line: `[t12] Moderator -> Alice (private_ask): ...`. */
export function formatMessage (m: ViewMessage): string {
  const turn = m.turn === undefined ? '' : `[t${m.turn}] `
  if (m.pass === true) return `${turn}${m.sender} passes`
  const kind = kindOf(m)
  const to = m.visibility === 'private' || kind === 'public_ask' ? ` -> ${m.receivers.join(', ')}` : ''
  const end = m.end === undefined ? '' : `  <<end: ${m.end}>>`
  return `${turn}${m.sender}${to} (${kind}): ${oneLine(m.content)}${end}`
}
