/**
 * Diagnostic: what one gossip delivery costs in this stack, without a town and
 * without other processes competing for the CPU. In one process, N real peers
 * (createPeer: TCP, noise, yamux, gossipsub as the town uses them), fully
 * connected, one topic; each round every peer publishes one SIZE-byte message;
 * CPU per round until every peer holds every message.
 *
 *   npx tsx scripts/bench/gossip-probe.ts
 *   N=25 SIZE=2000 GS='{"D":3}' PROF=.scratch/gossip.cpuprofile npx tsx scripts/bench/gossip-probe.ts
 */
import { createPeer } from '../../src/node/peer.js'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
const N = Number(process.env.N ?? 10)
const ROUNDS = Number(process.env.ROUNDS ?? 40)
const SIZE = Number(process.env.SIZE ?? 500)
const opts = JSON.parse(process.env.GS ?? '{}')
const root = await mkdtemp(path.join(tmpdir(), 'gsmicro-'))
const peers: Array<Awaited<ReturnType<typeof createPeer>>> = []
for (let i = 0; i < N; i++) peers.push(await createPeer({ dataDir: path.join(root, `p${i}`), gossipsub: opts }))
for (const a of peers) for (const b of peers) if (a !== b && a.peerId.toString() < b.peerId.toString()) await a.libp2p.dial(b.libp2p.getMultiaddrs()[0]!)
const topic = 'bench'
let got = 0
for (const p of peers) { p.pubsub.subscribe(topic); p.pubsub.addEventListener('message', (e) => { if (e.detail.topic === topic) got++ }) }
const wait = async (cond: () => boolean, ms = 30000): Promise<void> => { const d = Date.now() + ms; while (!cond()) { if (Date.now() > d) throw new Error('timeout'); await new Promise(r => setTimeout(r, 1)) } }
await wait(() => peers.every(p => p.pubsub.getSubscribers(topic).length === N - 1))
await new Promise(r => setTimeout(r, 3000))
const body = new Uint8Array(SIZE).fill(7)
const run = async (rounds: number): Promise<{ cpu: number, wall: number }> => {
  const c0 = process.cpuUsage(); const t0 = performance.now()
  for (let r = 0; r < rounds; r++) {
    const target = got + N * (N - 1)
    await Promise.all(peers.map(async (p, i) => { const b = body.slice(); b[0] = r & 255; b[1] = i; b[2] = (r >> 8) & 255; b[3] = Math.random() * 255; await p.pubsub.publish(topic, b) }))
    await wait(() => got >= target)
  }
  const c = process.cpuUsage(c0); return { cpu: (c.user + c.system) / 1000 / rounds, wall: (performance.now() - t0) / rounds }
}
await run(5)
const { Session } = await import('node:inspector/promises')
const session = new Session()
if (process.env.PROF != null) { session.connect(); await session.post('Profiler.enable'); await session.post('Profiler.start') }
const r = await run(ROUNDS)
if (process.env.PROF != null) { const { profile } = await session.post('Profiler.stop') as any; (await import('node:fs')).writeFileSync(process.env.PROF, JSON.stringify(profile)) }
// idle cost: heartbeats etc. over 5 s
const c0 = process.cpuUsage(); await new Promise(r => setTimeout(r, 5000)); const c = process.cpuUsage(c0)
console.log(`N=${N} size=${SIZE} ${JSON.stringify(opts)}: ${r.cpu.toFixed(1)} ms CPU/round, ${r.wall.toFixed(1)} ms wall/round, ${(r.cpu / (N * (N - 1)) * 1000).toFixed(0)} us per delivery; idle ${((c.user + c.system) / 1000 / 5 / N).toFixed(1)} ms/s per peer`)
await Promise.all(peers.map(async p => p.stop()))
await rm(root, { recursive: true, force: true })
process.exit(0)
