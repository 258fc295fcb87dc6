/**
 * Per-agent causal delivery buffer: no agent ever reads a message before
 * everything that causally precedes it and that it is supposed to receive.
 *
 * Private messages and the clock
 * ------------------------------
 * One counter per sender cannot work once some messages reach only some
 * agents: an agent that is not a receiver would wait forever for a gap in
 * the sender's counter. So the clock counts per *channel*, each channel a
 * sequential stream that exactly one sender writes and a fixed set reads:
 *   - "alice"      : alice's public messages (every agent reads them);
 *   - "alice>bob"  : alice's private messages that bob receives.
 * Agent names cannot contain ">" (see config.ts), so keys never collide.
 * A public message ticks its sender's public channel; a private message to
 * {bob, carol} ticks "alice>bob" and "alice>carol". Every message carries
 * the full merged clock of everything its sender had delivered or sent, so
 * knowledge of private traffic travels transitively, like any vector clock.
 *
 * At agent j only the channels j reads (public ones, "*>j") and writes
 * ("j>*") matter: a message is deliverable when its own channel entry is
 * exactly the next one and every other relevant entry is already delivered.
 * Entries "x>y" for other receivers are ignored at j, so a private message
 * never blocks anyone who does not receive it; but a public message sent
 * after alice->bob is held at bob until bob has that private message, and a
 * private reply is never delivered before the (public or private) message it
 * answers. This is the Raynal-Schiper-Toueg matrix clock in sparse form;
 * the clock grows with the pairs that actually talk privately, not with n².
 *
 * Because clock(m1) < clock(m2) exactly when m1 -> m2, compareForDelivery
 * (sum of entries, then sender, then id) is a linear extension of causality,
 * and an agent that drains a set all at once delivers it in that order.
 * Agents that receive concurrent messages in different drains may deliver
 * them in different orders; sortForDelivery of the delivered public set is
 * the transcript that is the same everywhere.
 */
import {
  compareStrings,
  get,
  isValidClock,
  merge,
  sumOfEntries,
  tick,
  type VectorClock,
} from './vector-clock.js'

export type Visibility = 'public' | 'private'

export interface CausalMessage {
  readonly id: string
  readonly sender: string
  readonly clock: VectorClock
  readonly visibility: Visibility
  /** Who receives a private message; informational only for public ones. */
  readonly receivers: readonly string[]
}

export const CHANNEL_SEPARATOR = '>'
export const DEFAULT_MAX_BUFFERED = 1024

export function privateChannel(sender: string, receiver: string): string {
  return `${sender}${CHANNEL_SEPARATOR}${receiver}`
}

function privateReceivers(msg: Pick<CausalMessage, 'sender' | 'receivers'>): string[] {
  return [...new Set(msg.receivers)].filter((r) => r !== msg.sender)
}

/**
 * The clock for a message `sender` is about to send, given everything it has
 * delivered (its inbox's `delivered`, which includes its own sent messages).
 */
export function stampClock(
  known: VectorClock,
  sender: string,
  visibility: Visibility,
  receivers: readonly string[] = [],
): VectorClock {
  if (visibility === 'public') return tick(known, sender)
  return privateReceivers({ sender, receivers }).reduce(
    (clock, r) => tick(clock, privateChannel(sender, r)),
    known,
  )
}

/** The channels a message advances at `agent`; empty when `agent` does not get it. */
export function channelsAt(msg: CausalMessage, agent: string): string[] {
  if (msg.visibility === 'public') return [msg.sender]
  const receivers = privateReceivers(msg)
  if (agent === msg.sender) return receivers.map((r) => privateChannel(msg.sender, r))
  return receivers.includes(agent) ? [privateChannel(msg.sender, agent)] : []
}

/** Whether `agent` reads or writes the channel, i.e. can count its messages. */
export function isRelevantAt(channel: string, agent: string): boolean {
  const cut = channel.indexOf(CHANNEL_SEPARATOR)
  if (cut < 0) return true
  return channel.slice(0, cut) === agent || channel.slice(cut + 1) === agent
}

function senderOf(channel: string): string {
  const cut = channel.indexOf(CHANNEL_SEPARATOR)
  return cut < 0 ? channel : channel.slice(0, cut)
}

export function isDeliverable(msg: CausalMessage, delivered: VectorClock, agent: string): boolean {
  const own = channelsAt(msg, agent)
  if (own.length === 0) return false
  if (!own.every((c) => get(msg.clock, c) === get(delivered, c) + 1)) return false
  return Object.entries(msg.clock).every(
    ([k, n]) => own.includes(k) || !isRelevantAt(k, agent) || n <= get(delivered, k),
  )
}

export class InboxFullError extends Error {
  readonly code = 'INBOX_FULL'
  constructor(
    readonly limit: number,
    readonly messageId: string,
  ) {
    super(`inbox full: ${limit} messages already waiting for their causal past; refused ${messageId}`)
    this.name = 'InboxFullError'
  }
}

export type ReceiveOutcome = 'buffered' | 'duplicate' | 'not-addressed' | 'invalid'

/** Seqs fromSeq..toSeq (inclusive) of a channel that the buffer waits for. */
export interface MissingRange {
  readonly channel: string
  readonly sender: string
  /** Set for a private channel: the agent the messages were sent to. */
  readonly receiver?: string
  readonly fromSeq: number
  readonly toSeq: number
}

export interface CausalInboxOptions {
  /**
   * Most messages held back waiting for their causal past; past it receive()
   * throws InboxFullError, except for messages deliverable on arrival.
   */
  readonly maxBuffered?: number
  /** Restored state after a restart: what was already delivered. */
  readonly delivered?: VectorClock
}

function isWellFormed(msg: CausalMessage): boolean {
  if (!Array.isArray(msg.receivers)) return false
  const names = [msg.sender, ...msg.receivers]
  return (
    names.every((n) => typeof n === 'string' && n.length > 0 && !n.includes(CHANNEL_SEPARATOR)) &&
    isValidClock(msg.clock) &&
    (msg.visibility === 'public' || (msg.visibility === 'private' && privateReceivers(msg).length > 0))
  )
}

export class CausalInbox<M extends CausalMessage = CausalMessage> {
  readonly maxBuffered: number
  #delivered: VectorClock
  readonly #buffered = new Map<string, M>()
  /** channel -> seq -> message, so the next candidate of each channel is one lookup. */
  readonly #byChannel = new Map<string, Map<number, M>>()
  readonly #deliveredIds = new Set<string>()
  #duplicates = 0
  #rejected = 0

  constructor(
    readonly self: string,
    options: CausalInboxOptions = {},
  ) {
    this.maxBuffered = options.maxBuffered ?? DEFAULT_MAX_BUFFERED
    this.#delivered = options.delivered ?? {}
  }

  /** Merged clock of every delivered message: the base for stampClock. */
  get delivered(): VectorClock {
    return this.#delivered
  }

  get duplicates(): number {
    return this.#duplicates
  }

  /** Malformed messages and private messages not addressed to this agent. */
  get rejected(): number {
    return this.#rejected
  }

  pending(): number {
    return this.#buffered.size
  }

  receive(msg: M): ReceiveOutcome {
    if (!isWellFormed(msg)) return this.#reject('invalid')
    const own = channelsAt(msg, this.self)
    if (own.length === 0) return this.#reject('not-addressed')
    if (own.some((c) => get(msg.clock, c) < 1)) return this.#reject('invalid')
    const seen =
      this.#buffered.has(msg.id) ||
      this.#deliveredIds.has(msg.id) ||
      own.some((c) => get(msg.clock, c) <= get(this.#delivered, c)) ||
      own.some((c) => this.#byChannel.get(c)?.has(get(msg.clock, c)))
    if (seen) {
      this.#duplicates++
      return 'duplicate'
    }
    // At the bound only a message deliverable right now gets in: it unblocks
    // instead of growing (one per channel at most), and refusing it could
    // leave a full buffer waiting forever for the very message it refused.
    const full = this.#buffered.size >= this.maxBuffered
    if (full && !isDeliverable(msg, this.#delivered, this.self)) {
      throw new InboxFullError(this.maxBuffered, msg.id)
    }
    this.#buffered.set(msg.id, msg)
    for (const c of own) {
      const seqs = this.#byChannel.get(c) ?? new Map<number, M>()
      seqs.set(get(msg.clock, c), msg)
      this.#byChannel.set(c, seqs)
    }
    return 'buffered'
  }

  /**
   * Delivers everything now deliverable, always the least (compareForDelivery) ready one next.
   *
   * A delivery changes what is deliverable only through the channels it advances (every other
   * relevant entry of a deliverable message is already delivered): a ready message stays ready,
   * a waiting one may become ready, and each advanced channel may offer its next message. So
   * each candidate is checked when it comes up and the waiting ones again after each delivery;
   * checking every candidate again after every delivery made a drain of k messages over c
   * channels k·c checks of whole clocks (100 agents, a round of 100 messages: ~60 ms an agent).
   */
  drain(): M[] {
    const out: M[] = []
    const ready: M[] = []
    const waiting = new Set<M>()
    // compareForDelivery sums a clock at every comparison; each ready message's sum, once
    const sums = new Map<M, number>()
    const makeReady = (m: M): void => {
      ready.push(m)
      sums.set(m, sumOfEntries(m.clock))
    }
    const consider = (m: M): void => {
      if (isDeliverable(m, this.#delivered, this.self)) makeReady(m)
      else waiting.add(m)
    }
    const before = (a: M, b: M): boolean =>
      (sums.get(a)! - sums.get(b)! || compareStrings(a.sender, b.sender) || compareStrings(a.id, b.id)) < 0
    for (const m of this.#candidates()) consider(m)
    while (ready.length > 0) {
      let least = 0
      for (let i = 1; i < ready.length; i++) if (before(ready[i]!, ready[least]!)) least = i
      const next = ready.splice(least, 1)[0]!
      // one check more per delivery keeps the order exact should a clock break the reasoning above
      if (!isDeliverable(next, this.#delivered, this.self)) {
        waiting.add(next)
        continue
      }
      this.#deliver(next)
      out.push(next)
      for (const m of waiting) {
        if (!isDeliverable(m, this.#delivered, this.self)) continue
        waiting.delete(m)
        makeReady(m)
      }
      for (const c of channelsAt(next, this.self)) {
        const m = this.#byChannel.get(c)?.get(get(this.#delivered, c) + 1)
        if (m !== undefined && !waiting.has(m) && !ready.includes(m)) consider(m)
      }
    }
    return out
  }

  /** What to fetch (catch-up) so the buffer can drain: gaps below what is buffered. */
  missing(): MissingRange[] {
    const wanted = new Map<string, number>()
    for (const msg of this.#buffered.values()) {
      const own = channelsAt(msg, this.self)
      for (const [k, n] of Object.entries(msg.clock)) {
        if (!isRelevantAt(k, this.self)) continue
        const needed = own.includes(k) ? n - 1 : n
        wanted.set(k, Math.max(wanted.get(k) ?? 0, needed))
      }
    }
    const ranges: MissingRange[] = []
    for (const [channel, upTo] of [...wanted].sort(([a], [b]) => compareStrings(a, b))) {
      const after = get(this.#delivered, channel)
      // Walk the buffered seqs, not the seq range: a clock entry can be huge.
      const held = [...(this.#byChannel.get(channel)?.keys() ?? [])]
        .filter((seq) => seq > after && seq <= upTo)
        .sort((a, b) => a - b)
      let next = after + 1
      for (const seq of [...held, upTo + 1]) {
        if (seq > next) ranges.push(rangeOf(channel, next, seq - 1))
        next = seq + 1
      }
    }
    return ranges
  }

  #candidates(): M[] {
    const found = new Set<M>()
    for (const [channel, seqs] of this.#byChannel) {
      const next = seqs.get(get(this.#delivered, channel) + 1)
      if (next !== undefined) found.add(next)
    }
    return [...found]
  }

  #deliver(msg: M): void {
    this.#buffered.delete(msg.id)
    for (const c of channelsAt(msg, this.self)) {
      const seqs = this.#byChannel.get(c)
      seqs?.delete(get(msg.clock, c))
      if (seqs?.size === 0) this.#byChannel.delete(c)
    }
    this.#delivered = merge(this.#delivered, msg.clock)
    this.#deliveredIds.add(msg.id)
  }

  #reject(outcome: 'invalid' | 'not-addressed'): ReceiveOutcome {
    this.#rejected++
    return outcome
  }
}

function rangeOf(channel: string, fromSeq: number, toSeq: number): MissingRange {
  const cut = channel.indexOf(CHANNEL_SEPARATOR)
  const base = { channel, sender: senderOf(channel), fromSeq, toSeq }
  return cut < 0 ? base : { ...base, receiver: channel.slice(cut + 1) }
}
