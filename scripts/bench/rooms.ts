/**
 * Rooms: causally delivered public messages per second at every agent (10 agents,
 * concurrent mode, one process running LocalRoom, as `meshtown room run` does),
 * and the vector clock's bytes per message as the room grows: measured on the
 * wire in the 10-agent run, and computed with the runtime's own stampClock and
 * CausalInbox for 10 and 100 agents (every agent hearing every message, which is
 * the worst case: one clock entry per agent that has spoken).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Child } from './lib/child.js'
import { spread, type Spread } from './lib/stats.js'
import { CausalInbox, stampClock } from '../../src/rooms/causal-inbox.js'
import { clockByteSize } from '../../src/rooms/vector-clock.js'

export interface RoomOptions {
  agents: number
  burst: number
  runs: number
  clockSizes: number[]
  profileDir?: string
  log: (line: string) => void
}

export interface RoomResult {
  agents: number
  messages: number
  /** Slowest agent's rate, per run. */
  minPerSec: Spread
  /** Median agent's rate, per run. */
  medianPerSec: Spread
  delivered: Spread
  wireClockBytes: Spread
  wireMessageBytes: Spread
  rssMB: Spread
  gossipShare: Spread
  clockBytes: Array<{ agents: number, bytesPerMessage: number, entries: number }>
  errors: string[]
}

/** Bytes of the clock a public message carries after `rounds` rounds in which every agent spoke once and heard everyone. */
export function simulatedClockBytes (agents: number, rounds = 10): { bytesPerMessage: number, entries: number } {
  const names = Array.from({ length: agents }, (_, i) => `a${i}`)
  const inboxes = names.map(n => new CausalInbox(n, { maxBuffered: agents * rounds + 10 }))
  let bytes = 0
  let count = 0
  let entries = 0
  for (let r = 0; r < rounds; r++) {
    const sent = names.map((name, i) => {
      const clock = stampClock(inboxes[i]!.delivered, name, 'public')
      return { id: `${name}.${r + 1}`, sender: name, clock, visibility: 'public' as const, receivers: [] }
    })
    for (const m of sent) {
      if (r === rounds - 1) { bytes += clockByteSize(m.clock); entries += Object.keys(m.clock).length; count++ }
      for (const inbox of inboxes) inbox.receive(m)
    }
    for (const inbox of inboxes) inbox.drain()
  }
  return { bytesPerMessage: bytes / count, entries: entries / count }
}

export async function benchRooms (o: RoomOptions): Promise<RoomResult> {
  const minPerSec: number[] = []
  const medPerSec: number[] = []
  const delivered: number[] = []
  const wireClock: number[] = []
  const wireMsg: number[] = []
  const rss: number[] = []
  const gossip: number[] = []
  const errors: string[] = []
  let messages = 0
  for (let r = 0; r < o.runs; r++) {
    const dir = await mkdtemp(path.join(tmpdir(), 'meshtown-bench-room-'))
    const profile = o.profileDir != null && r === o.runs - 1 ? path.join(o.profileDir, `rooms-${o.agents}.cpuprofile`) : undefined
    const child = new Child('room', 'room-run.ts', ['--agents', String(o.agents), '--burst', String(o.burst), '--dir', dir, '--timeout-ms', '120000', ...(profile != null ? ['--profile', profile] : [])])
    try {
      const res = await child.waitFor(e => e.ev === 'result', 200_000, 'room result')
      messages = res.total
      const rates = (res.perAgent as any[]).map(a => a.delivered >= res.total ? a.perSec : 0)
      const sorted = [...rates].sort((a, b) => a - b)
      minPerSec.push(sorted[0]!)
      medPerSec.push(sorted[sorted.length >> 1]!)
      delivered.push(Math.min(...(res.perAgent as any[]).map(a => a.delivered)) / res.total)
      wireClock.push((res.perAgent as any[]).reduce((s, a) => s + a.clockBytes, 0) / res.perAgent.length)
      wireMsg.push((res.perAgent as any[]).reduce((s, a) => s + a.msgBytes, 0) / res.perAgent.length)
      const acc = (res.perAgent as any[]).map(a => a.net.accepted)
      gossip.push(acc.reduce((s, a) => s + a.gossip, 0) / Math.max(1, acc.reduce((s, a) => s + a.gossip + a.sync + a.direct, 0)))
      rss.push(res.rss / 1048576)
      o.log(`  room run ${r + 1}/${o.runs}: ${res.total} messages; slowest agent ${sorted[0]!.toFixed(0)} msg/s, median ${sorted[sorted.length >> 1]!.toFixed(0)} msg/s; ${(100 * gossip[gossip.length - 1]!).toFixed(0)}% by gossip, rest by catch-up`)
      await child.exited
    } catch (err: any) {
      errors.push(err.message)
      o.log(`  room run failed: ${err.message}`)
      child.kill()
    } finally {
      await rm(dir, { recursive: true, force: true }).catch(() => {})
    }
  }
  const clockBytes = o.clockSizes.map(n => ({ agents: n, ...simulatedClockBytes(n) }))
  return {
    agents: o.agents, messages, minPerSec: spread(minPerSec), medianPerSec: spread(medPerSec), delivered: spread(delivered),
    wireClockBytes: spread(wireClock), wireMessageBytes: spread(wireMsg), rssMB: spread(rss), gossipShare: spread(gossip), clockBytes, errors
  }
}
