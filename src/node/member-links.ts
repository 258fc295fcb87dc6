/**
 * Keeps a direct link to every member of the town. The town directory finds
 * members through the DHT, whose provider lookups stop at 20 answers, so in a
 * town past ~20 members two later members were linked only if one happened to
 * dial the other. The clock's roster names every member, and a clock message
 * sent straight to each member needs no copies forwarded through the mesh
 * (reach.ts): this service dials the members it is given whose link has been
 * missing a while, a few at a time, backing off per peer while one cannot be
 * reached.
 */
import { serviceCapabilities, type ComponentLogger, type Logger, type PeerId, type Startable } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'
import { peerIdFromString } from '@libp2p/peer-id'
import { PeerQueue, repeatingTask, type RepeatingTask } from '@libp2p/utils'

export interface MemberLinksInit {
  /** ms between checks of which members are unlinked */
  checkInterval?: number
  /** first wait after a failed dial; doubles per failure up to maxBackoff */
  minBackoff?: number
  maxBackoff?: number
  /**
   * Dials in flight at once. A dial mostly waits: on a machine busy with a town of
   * 50 processes each handshake step waits for a turn of both event loops (lagging
   * ~0.1 s at the median, seconds at the tail), so a dial took 5-25 s; two at a
   * time, a newcomer linked a few members a minute and hundreds of member pairs
   * were still unlinked three minutes after the start (each of their messages then
   * forwarded by every peer). Eight at a time: 20-121 unlinked instead of 472-765.
   */
  concurrency?: number
  /**
   * How long one dial may take, handshakes included. Long: on a machine busy with a
   * forming town a handshake waits seconds for each turn of both event loops, and a
   * dial cut short is all its work lost and done again at the next try.
   */
  dialTimeout?: number
  /**
   * A link must be missing this long before it is dialled. A town forming links
   * itself through the directory and the DHT within seconds; dialling at once as
   * well, each dial a DHT lookup for an address on a machine busy with forming,
   * timed out by the thousand in a town of 35 processes and only added load.
   */
  missingFor?: number
  /**
   * Of two unlinked members, the one with the lower PeerId dials first; the
   * other waits this much longer, so two members do not open two links to each
   * other at the same moment.
   */
  higherIdGrace?: number
}

export interface MemberLinksComponents {
  peerId: PeerId
  connectionManager: ConnectionManager
  logger: ComponentLogger
}

export interface MemberLinksService {
  /** Keep a link to each of these peers (PeerId strings); replaces the previous set. */
  keep(peers: Iterable<string>): void
  /** Dial every missing link now, forgetting backoffs (the network just healed). */
  retryNow(): void
  /** A kept peer's PeerId if a link to it is open now (nothing is dialled). */
  openLink(id: string): PeerId | undefined
  /** Members kept linked, without ourselves. */
  readonly wanted: number
  /** Dials started, and of those, failed. */
  readonly dials: number
  readonly failures: number
  /** Why the latest failed dial failed (for status output). */
  readonly lastFailure?: string
}

export const DEFAULT_CHECK_INTERVAL_MS = 2_000
export const DEFAULT_MIN_BACKOFF_MS = 2_000
export const DEFAULT_MAX_BACKOFF_MS = 60_000
export const DEFAULT_DIAL_CONCURRENCY = 8
export const DEFAULT_DIAL_TIMEOUT_MS = 30_000
export const DEFAULT_MISSING_FOR_MS = 10_000
export const DEFAULT_HIGHER_ID_GRACE_MS = 10_000

interface Want {
  peerId: PeerId
  /** when we last found it unlinked with no earlier gap open */
  missingSince?: number
  /** no dial before this time (after failures) */
  notBefore: number
  backoff: number
}

export class MemberLinks implements MemberLinksService, Startable {
  readonly [serviceCapabilities] = ['@meshtown/member-links']
  readonly [Symbol.toStringTag] = '@meshtown/member-links'
  dials = 0
  failures = 0
  lastFailure?: string

  private readonly components: MemberLinksComponents
  private readonly log: Logger
  private readonly self: string
  private readonly minBackoff: number
  private readonly maxBackoff: number
  private readonly missingFor: number
  private readonly grace: number
  private readonly dialTimeout: number
  private readonly want = new Map<string, Want>()
  private readonly queue: PeerQueue
  private readonly task: RepeatingTask

  constructor (components: MemberLinksComponents, init: MemberLinksInit = {}) {
    this.components = components
    this.log = components.logger.forComponent('meshtown:member-links')
    this.self = components.peerId.toString()
    this.minBackoff = init.minBackoff ?? DEFAULT_MIN_BACKOFF_MS
    this.maxBackoff = Math.max(this.minBackoff, init.maxBackoff ?? DEFAULT_MAX_BACKOFF_MS)
    this.missingFor = init.missingFor ?? DEFAULT_MISSING_FOR_MS
    this.grace = init.higherIdGrace ?? DEFAULT_HIGHER_ID_GRACE_MS
    this.dialTimeout = init.dialTimeout ?? DEFAULT_DIAL_TIMEOUT_MS
    this.queue = new PeerQueue({ concurrency: init.concurrency ?? DEFAULT_DIAL_CONCURRENCY })
    this.task = repeatingTask(() => { this.check() }, init.checkInterval ?? DEFAULT_CHECK_INTERVAL_MS, { debounce: 50 })
  }

  get wanted (): number {
    return this.want.size
  }

  start (): void {
    this.task.start()
  }

  stop (): void {
    this.task.stop()
    this.queue.abort()
  }

  keep (peers: Iterable<string>): void {
    const next = new Set(peers)
    next.delete(this.self)
    for (const id of this.want.keys()) if (!next.has(id)) this.want.delete(id)
    let added = false
    for (const id of next) {
      if (this.want.has(id)) continue
      let peerId: PeerId
      try {
        peerId = peerIdFromString(id)
      } catch {
        continue // the roster only holds PeerIds its signatures were checked against
      }
      this.want.set(id, { peerId, notBefore: 0, backoff: this.minBackoff })
      added = true
    }
    if (added) this.task.run()
  }

  retryNow (): void {
    for (const want of this.want.values()) {
      want.notBefore = 0
      want.backoff = this.minBackoff
      // a healed link is not left to the directory first: dial it now
      if (want.missingSince != null) want.missingSince = -Infinity
    }
    this.task.run()
  }

  openLink (id: string): PeerId | undefined {
    const want = this.want.get(id)
    return want != null && this.linked(want.peerId) ? want.peerId : undefined
  }

  private linked (peerId: PeerId): boolean {
    return this.components.connectionManager.getConnections(peerId).some(c => c.status === 'open')
  }

  private check (): void {
    const now = Date.now()
    for (const [id, want] of this.want) {
      if (this.linked(want.peerId)) {
        want.missingSince = undefined
        want.backoff = this.minBackoff
        continue
      }
      want.missingSince ??= now
      if (now < want.notBefore || this.queue.has(want.peerId)) continue
      if (now - want.missingSince < this.missingFor + (id > this.self ? this.grace : 0)) continue
      this.dial(id, want)
    }
  }

  private dial (id: string, want: Want): void {
    this.dials++
    this.queue.add(async (options) => {
      const timeout = AbortSignal.timeout(this.dialTimeout)
      const signal = options.signal == null ? timeout : AbortSignal.any([options.signal, timeout])
      await this.components.connectionManager.openConnection(want.peerId, { ...options, signal })
    }, { peerId: want.peerId }).then(() => {
      want.backoff = this.minBackoff
    }, (err: any) => {
      this.failures++
      this.lastFailure = `${err.name ?? 'Error'}: ${err.message}`
      // a member dropped from the roster meanwhile is no longer our business
      if (this.want.get(id) !== want) return
      want.notBefore = Date.now() + want.backoff
      this.log('could not link town member %p (next try in %d ms) - %s', want.peerId, want.backoff, err.message)
      want.backoff = Math.min(want.backoff * 2, this.maxBackoff)
    })
  }
}

export function memberLinks (init: MemberLinksInit = {}): (components: MemberLinksComponents) => MemberLinksService {
  return (components) => new MemberLinks(components, init)
}
