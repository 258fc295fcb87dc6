/**
 * Public room messages a peer publishes while its previous gossip publish is
 * still under way go out together, as one gossip message: in a busy room each
 * gossip message costs every receiver a decryption, a signature check and a
 * forward, whatever it carries, so batching cuts that cost by the batch size.
 * A lone message leaves at once (after the current tick), so an idle room pays
 * no latency for it.
 */
export interface OutboxLimits {
  maxMessages: number
  maxBytes: number
}

interface Pending<T> {
  item: T
  size: number
  resolve: () => void
  reject: (err: unknown) => void
}

export class GossipOutbox<T> {
  private pending: Array<Pending<T>> = []
  private flushing = false

  constructor (
    private readonly publish: (items: T[]) => Promise<void>,
    private readonly sizeOf: (item: T) => number,
    private readonly limits: OutboxLimits
  ) {}

  /** Resolves once the gossip message carrying `item` is published. */
  async send (item: T): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.pending.push({ item, size: this.sizeOf(item), resolve, reject })
      if (!this.flushing) {
        this.flushing = true
        setImmediate(() => { void this.flush() })
      }
    })
  }

  private async flush (): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.takeBatch()
      try {
        await this.publish(batch.map(p => p.item))
        for (const p of batch) p.resolve()
      } catch (err) {
        for (const p of batch) p.reject(err)
      }
    }
    this.flushing = false
  }

  private takeBatch (): Array<Pending<T>> {
    let bytes = 0
    let n = 0
    while (n < this.pending.length && n < this.limits.maxMessages) {
      const size = this.pending[n]!.size
      if (n > 0 && bytes + size > this.limits.maxBytes) break
      bytes += size
      n++
    }
    return this.pending.splice(0, Math.max(1, n))
  }
}
