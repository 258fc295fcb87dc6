/**
 * One room for the rooms benchmark, in its own process: LocalRoom (every agent its
 * own peer over TCP on 127.0.0.1, its own causal inbox and store), concurrent
 * mode, deciders that answer instantly. The starter opens with one public
 * message to everyone; each agent then sends `--burst` public messages as fast
 * as its runtime lets it. Every agent counts what its inbox delivers.
 *
 *   node --import tsx scripts/bench/room-run.ts --agents 10 --burst 100 --dir DIR
 */
import { emit, parseArgs } from './lib/child.js'
import { nowMs } from './lib/stats.js'

const args = parseArgs(process.argv.slice(2))
const agentsN = Number(args.agents ?? 10)
const burst = Number(args.burst ?? 100)
const content = 'x'.repeat(Number(args.chars ?? 200))

import type { RoomActionInput, RoomDecider, RoomView } from '../../src/rooms/actions.js'

const { RoomConfigSchema } = await import('../../src/rooms/config.js')
const { LocalRoom } = await import('../../src/rooms/local-room.js')
const { clockByteSize } = await import('../../src/rooms/vector-clock.js')

const names = Array.from({ length: agentsN }, (_, i) => `a${i}`)
// the starter's opening message counts in its burst: a turn may send at most `burst` messages
const total = agentsN * burst
const config = RoomConfigSchema.parse({
  name: 'bench',
  mode: 'concurrent',
  agents: names.map(name => ({ name, role: 'bench agent', kind: 'heuristic' })),
  rule_prompt: 'bench',
  end_game_prompt: 'bench',
  limits: { max_messages: total + 100, turn_timeout_ms: 600_000, max_message_chars: 4_000, max_buffered_messages: total + 100 }
})

let goAt = 0
// the starter opens the room only once every agent runs, so that start-up is not counted
let allRunning!: () => void
const running = new Promise<void>(resolve => { allRunning = resolve })
const decider = (self: string): RoomDecider => ({
  label: 'bench',
  decide: async (view: RoomView): Promise<RoomActionInput> => {
    const trigger = view.trigger
    const sent = view.sentThisTurn.length
    if (trigger.kind === 'start') {
      if (sent === 0) { await running; goAt = nowMs(); return { kind: 'public_info', to: names.filter(n => n !== self), content: 'go' } }
      return sent < burst ? { kind: 'public_info', content: `${self} ${sent} ${content}` } : { kind: 'pass' }
    }
    if (trigger.kind === 'message' && trigger.message.content === 'go') {
      return sent < burst ? { kind: 'public_info', content: `${self} ${sent} ${content}` } : { kind: 'pass' }
    }
    return { kind: 'pass' }
  }
})

let profSession: import('node:inspector/promises').Session | undefined
const counts = new Map<string, { n: number, last: number, clockBytes: number, msgBytes: number }>()
const warnings = new Map<string, number>()
const note = (level: string) => (msg: any): void => { const k = `${level}: ${String(typeof msg === 'string' ? msg : msg?.msg ?? msg).replace(/[0-9a-zA-Z]{20,}/g, '…').replace(/\d+/g, 'N').slice(0, 140)}`; warnings.set(k, (warnings.get(k) ?? 0) + 1) }
const log: any = { debug: () => {}, trace: () => {}, info: () => {}, warn: note('warn'), error: note('error'), fatal: note('fatal'), child: () => log, level: 'warn' }
const startedAt = nowMs()
const local = await LocalRoom.start({
  config,
  baseDir: args.dir!,
  decider,
  log,
  onAgent: (agent) => {
    const c = { n: 0, last: 0, clockBytes: 0, msgBytes: 0 }
    counts.set(agent.self, c)
    agent.addEventListener('delivered', (e) => {
      const m = e.detail
      if (m.visibility !== 'public') return
      c.n++
      c.last = nowMs()
      c.clockBytes += clockByteSize(m.clock)
      c.msgBytes += Buffer.byteLength(JSON.stringify(m))
    })
  }
})
const readyAt = nowMs()
allRunning()
if (args.profile != null) {
  const { Session } = await import('node:inspector/promises')
  profSession = new Session()
  profSession.connect()
  await profSession.post('Profiler.enable')
  await profSession.post('Profiler.setSamplingInterval', { interval: 500 })
  await profSession.post('Profiler.start')
}
const deadline = Date.now() + Number(args['timeout-ms'] ?? 120_000)
while (Date.now() < deadline && [...counts.values()].some(c => c.n < total)) await new Promise(resolve => setTimeout(resolve, 20))
const perAgent = [...counts].map(([name, c]) => ({ name, stats: local.agent(name).stats, net: (local.agents.get(name)!.network as any).stats, pending: local.agent(name).pending(), phase: local.agent(name).phase, delivered: c.n, ms: c.last - goAt, perSec: (c.n - 1) / ((c.last - goAt) / 1000), clockBytes: c.clockBytes / Math.max(1, c.n), msgBytes: c.msgBytes / Math.max(1, c.n) }))
if (profSession != null) {
  const { profile } = await profSession.post('Profiler.stop') as any
  const { writeFile } = await import('node:fs/promises')
  await writeFile(args.profile!, JSON.stringify(profile))
}
emit({ ev: 'result', warnings: Object.fromEntries(warnings), total, startMs: readyAt - startedAt, perAgent, rss: process.memoryUsage().rss, cpu: process.cpuUsage() })
await Promise.race([local.stop(), new Promise(resolve => setTimeout(resolve, 5_000))])
process.exit(0)
