/**
 * When a room is over: a pure function of the public transcript, so every
 * agent that holds the same public messages reaches the same verdict at the
 * same message, with nobody announcing it for the others.
 *
 * The game's own end (all wolves dead, a verdict given) is known only to an
 * agent with private knowledge (the moderator), so it reaches the transcript
 * as a public message carrying `end`; the room's limits need nobody.
 */
import type { ViewMessage } from './actions.js'
import type { RoomConfig } from './config.js'
import { turnLimit } from './turns.js'
import { compareForDelivery, sortForDelivery } from './vector-clock.js'

export type EndReason = 'declared' | 'max_messages' | 'max_rounds'

export interface RoomEnd {
  readonly reason: EndReason
  readonly result: string
  /** Who declared it (reason "declared"). */
  readonly by?: string
  /** The last message of the game. */
  readonly lastId: string
  /** Public messages in the game, passes included. */
  readonly count: number
}

type EndConfig = Pick<RoomConfig, 'mode' | 'limits' | 'agents' | 'moderator'>

/** Who may end the game by declaring it: the moderator, or anyone in a room without one. */
export function mayDeclareEnd (config: Pick<RoomConfig, 'moderator'>, sender: string): boolean {
  return config.moderator === undefined || config.moderator === sender
}

/**
 * `ordered` must be the public messages in transcript order (sortForDelivery).
 * `from`: the messages before it are known to end nothing (an agent rescans only
 * from where its last delivery went in, not the whole transcript every time).
 */
export function findEnd (config: EndConfig, ordered: readonly ViewMessage[], from = 0): RoomEnd | undefined {
  const limit = turnLimit(config)
  for (let i = from; i < ordered.length; i++) {
    const m = ordered[i]!
    const count = i + 1
    if (m.end !== undefined && mayDeclareEnd(config, m.sender)) {
      return { reason: 'declared', result: m.end, by: m.sender, lastId: m.id, count }
    }
    if (limit !== undefined && m.turn !== undefined && m.turn >= limit - 1) {
      return { reason: 'max_rounds', result: `round limit reached (${config.limits.max_rounds} rounds)`, lastId: m.id, count }
    }
    if (count >= config.limits.max_messages) {
      return { reason: 'max_messages', result: `message limit reached (${config.limits.max_messages} public messages)`, lastId: m.id, count }
    }
  }
  return undefined
}

export interface GameTranscript<M extends ViewMessage = ViewMessage> {
  /** Public messages of the game in transcript order, cut at the end. */
  readonly messages: readonly M[]
  readonly end?: RoomEnd
}

/** The shared public transcript: the same at every agent holding the same public messages. */
export function publicTranscript<M extends ViewMessage> (config: EndConfig, publicMessages: readonly M[]): GameTranscript<M> {
  return cutAtEnd(config, sortForDelivery(publicMessages))
}

/** publicTranscript for messages already in transcript order. */
export function cutAtEnd<M extends ViewMessage> (config: EndConfig, ordered: readonly M[]): GameTranscript<M> {
  const end = findEnd(config, ordered)
  return end === undefined ? { messages: [...ordered] } : { messages: ordered.slice(0, end.count), end }
}

/**
 * Insert into a list kept in transcript order, and say where it went. A new
 * message almost always goes last (it was sent after what its sender had seen),
 * so this is cheap where re-sorting after every delivery was not.
 */
export function insertInOrder<M extends ViewMessage> (ordered: M[], msg: M): number {
  let lo = 0
  let hi = ordered.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (compareForDelivery(ordered[mid] as M, msg) <= 0) lo = mid + 1
    else hi = mid
  }
  ordered.splice(lo, 0, msg)
  return lo
}
