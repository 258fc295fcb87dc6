/**
 * An agent's delivered messages by channel and sequence number, for answering
 * catch-up requests (a room's sync protocol) without scanning the transcript.
 *
 * A busy room asks often: an agent whose inbox holds a message it cannot deliver yet
 * asks the senders for the gap 150 ms later, and on a saturated process that was every
 * agent a few times a second, each answer a scan of every message delivered so far
 * (quadratic in the room's length). Here a request costs what it names.
 */
import { channelsAt, type CausalMessage } from './causal-inbox.js'
import { get, type VectorClock } from './vector-clock.js'

/** A channel's messages (public: its sender's; private: "sender>receiver"), from..to inclusive. */
export interface ChannelRange {
  readonly channel: string
  readonly from: number
  readonly to: number
}

interface Entry {
  readonly seq: number
  /** Position in the delivery order. */
  readonly at: number
}

export class DeliveredIndex<M extends CausalMessage> {
  readonly #messages: M[] = []
  /** Per channel, ascending by sequence number. */
  private readonly byChannel = new Map<string, Entry[]>()

  /** The next delivered message (delivery order). */
  add (msg: M): void {
    const at = this.#messages.length
    this.#messages.push(msg)
    // every channel the message is on, not only this agent's: another receiver of a
    // private message asks for it by its own channel
    for (const channel of channelsAt(msg, msg.sender)) {
      let entries = this.byChannel.get(channel)
      if (entries === undefined) this.byChannel.set(channel, (entries = []))
      const entry = { seq: get(msg.clock, channel), at }
      // delivery is causal, so a channel's numbers arrive ascending; kept sorted regardless
      const last = entries[entries.length - 1]
      if (last === undefined || last.seq < entry.seq) entries.push(entry)
      else entries.splice(firstAtOrAfter(entries, entry.seq), 0, entry)
    }
  }

  /** Every message added, in delivery order (the agent's transcript; not to be changed). */
  get messages (): readonly M[] {
    return this.#messages
  }

  /** What `requester` may see of the named ranges, each message once, in delivery order. */
  inRanges (requester: string, ranges: readonly ChannelRange[]): M[] {
    const found = new Set<number>()
    for (const r of ranges) {
      const entries = this.byChannel.get(r.channel)
      if (entries === undefined) continue
      for (let i = firstAtOrAfter(entries, r.from); i < entries.length && entries[i]!.seq <= r.to; i++) {
        this.collect(found, requester, entries[i]!.at, r.channel)
      }
    }
    return this.inOrder(found)
  }

  /** What `requester` may see of every channel past its number in `since`, in delivery order. */
  since (requester: string, since: VectorClock): M[] {
    const found = new Set<number>()
    for (const [channel, entries] of this.byChannel) {
      for (let i = firstAtOrAfter(entries, get(since, channel) + 1); i < entries.length; i++) {
        this.collect(found, requester, entries[i]!.at, channel)
      }
    }
    return this.inOrder(found)
  }

  /** Everything `requester` may see, in delivery order. */
  all (requester: string): M[] {
    return this.#messages.filter(m => visibleTo(m, requester))
  }

  private collect (found: Set<number>, requester: string, at: number, channel: string): void {
    const msg = this.#messages[at]!
    if (visibleTo(msg, requester) && channelsAt(msg, requester).includes(channel)) found.add(at)
  }

  private inOrder (found: Set<number>): M[] {
    return [...found].sort((a, b) => a - b).map(at => this.#messages[at]!)
  }
}

/** Public messages to anyone; private ones to their sender and receivers. */
export function visibleTo (msg: CausalMessage, agent: string): boolean {
  return msg.visibility === 'public' || msg.sender === agent || msg.receivers.includes(agent)
}

/** Index of the first entry numbered `seq` or more (entries ascending). */
function firstAtOrAfter (entries: readonly Entry[], seq: number): number {
  let lo = 0
  let hi = entries.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (entries[mid]!.seq < seq) lo = mid + 1
    else hi = mid
  }
  return lo
}
