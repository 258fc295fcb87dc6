/**
 * A bench-only Meshtown process: a bootstrap peer, or one or more villager peers
 * (`--count`), each the real thing (createPeer + startVillagerNode, gossipsub
 * votes, trades over the rpc stream, LevelDB with synced writes). No HTTP: the
 * harness drives it through JSON lines on stdin, and it keeps its timings in
 * memory and reports them when asked, so nothing but the town itself runs
 * during a measurement.
 *
 *   node --import tsx scripts/bench/mesh-node.ts --role villager --town T --bootstrap MA --root DIR --prefix v --first 0 --count 1
 */
import { peerIdFromString } from '@libp2p/peer-id'
import net from 'node:net'
import path from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { emit, onCommands, parseArgs } from './lib/child.js'
import { closedLoop } from './lib/closed-loop.js'
import { nowMs } from './lib/stats.js'
import type { MeshPeer } from '../../src/node/peer.js'
import type { ClockState } from '../../src/town/clock.js'

/**
 * How late this process's event loop ran since the last status (ms): a timer or a
 * socket read waits this long behind other work, so a handshake or an answer does.
 */
const loopDelay = monitorEventLoopDelay({ resolution: 20 })
// COUNT=1: count the Ed25519 signs and checks that reach OpenSSL (the patch's memo answers the rest), and gossipsub's RPCs received by what they carry
const cryptoCalls = { verify: 0, sign: 0 }
if (process.env.COUNT === '1') {
  const nodeCrypto = (await import('node:crypto')).default as any
  const verify = nodeCrypto.verify
  const sign = nodeCrypto.sign
  nodeCrypto.verify = (...a: any[]) => { cryptoCalls.verify++; return verify(...a) }
  nodeCrypto.sign = (...a: any[]) => { cryptoCalls.sign++; return sign(...a) }
}
loopDelay.enable()
function takeLoopDelay (): { p50: number, p99: number, max: number } {
  const ms = (ns: number): number => Math.round(ns / 1e6)
  const lag = { p50: ms(loopDelay.percentile(50)), p99: ms(loopDelay.percentile(99)), max: ms(loopDelay.max) }
  loopDelay.reset()
  return lag
}

/** Members of the peer's view it holds no open link to. */
function unlinkedMembers (peer: MeshPeer, state: ClockState | undefined): string[] {
  if (state == null) return []
  const linked = new Set(peer.libp2p.getConnections().filter(c => c.status === 'open').map(c => c.remotePeer.toString()))
  return Object.keys(state.view).filter(id => id !== peer.peerId.toString() && !linked.has(id))
}

const processStart = performance.timeOrigin
const mainAt = nowMs()
const args = parseArgs(process.argv.slice(2))
const role = args.role ?? 'villager'

// loaded here, not at the top, so the report can tell module loading from the rest
const { createPeer, dhtPeerCount, dhtRoutingTable } = await import('../../src/node/peer.js')
const importedAt = nowMs()

if (role === 'bootstrap') {
  const peer = await createPeer({ dataDir: path.join(args.root!, 'bootstrap'), listen: ['/ip4/127.0.0.1/tcp/0'] })
  emit({ ev: 'ready', addr: peer.addresses()[0], peerId: peer.peerId.toString() })
  onCommands((cmd) => {
    if (cmd.cmd === 'mem') emit({ ev: 'mem', rss: process.memoryUsage().rss })
  }, async () => { await peer.stop().catch(() => {}) })
} else {
  await runVillagers()
}

async function runVillagers (): Promise<void> {
  const { startVillagerNode } = await import('../../src/town/villager-node.js')
  const { periodIndex } = await import('../../src/town/rules.js')
  const { memberOrder, reachCovers } = await import('../../src/protocols/clock/reach.js')
  const { clockTopic } = await import('../../src/protocols/topics.js')
  const { decodeJson } = await import('../../src/protocols/wire.js')
  const idx = (t: { day: number, period: any }): number => t.day * 3 + periodIndex(t.period)
  const town = args.town!
  const count = Number(args.count ?? 1)
  const first = Number(args.first ?? 0)
  const evictAfterMs = args['evict-after'] != null ? Number(args['evict-after']) : undefined
  const republishIntervalMs = args.republish != null ? Number(args.republish) : undefined
  // RELAY=0: votes flooded by their voters, as before the relay (an A/B switch for the probes)
  const relayVotes = process.env.RELAY !== '0'
  const occupations = ['farmer', 'chef', 'carpenter'] as const
  /** Experiments on src/ behaviour, applied to this process only (see BENCHMARKS.md). */
  const patches = (args.patch ?? '').split(',').filter(x => x !== '')
  const { applyPatch, applyTradePatch, gossipsubOptions } = await import('./lib/patches.js')

  interface BenchPeer {
    name: string
    peer: Awaited<ReturnType<typeof createPeer>>
    node: Awaited<ReturnType<typeof startVillagerNode>>
    t: Record<string, number>
    /** [period index, act called, vote submitted] */
    votes: Array<[number, number, number]>
    /** [from index, to index, time] */
    adv: Array<[number, number, number]>
    acting: boolean
    busy: boolean
    stopAt: number
    pace: number
    /** Act only in a town of more than this villager (a joiner's own town of one is not the town). */
    townOnly: boolean
    reached: boolean
    lastView: number
  }
  const peers: BenchPeer[] = []
  let profSession: import('node:inspector/promises').Session | undefined
  const onError = (what: string) => (err: any): void => { emit({ ev: 'warn', what, message: String(err?.message ?? err) }) }

  const tryAct = (p: BenchPeer): void => {
    const clock = p.node.villager.clock
    if (!p.acting || p.busy || clock == null) return
    const time = clock.time()
    if (time == null || !clock.isMember() || clock.hasVoted()) return
    // a joiner measured into a town does not play the town of its own it keeps until a neighbour answers
    if (p.townOnly && p.lastView <= 1) return
    const at = idx(time)
    if (at >= p.stopAt) {
      if (!p.reached) { p.reached = true; checkReached() }
      return
    }
    p.busy = true
    const go = (): void => {
      const tAct = nowMs()
      const period = idx(clock.time()!)
      // a villager that started before any neighbour answered keeps a town of its own until it joins
      // the one it finds: a vote there is no vote in the town (before this rule a join "ended" there)
      const inTown = p.lastView > 1
      p.node.villager.act('idle').then(() => {
        if (p.t.firstVote == null && inTown) { p.t.firstVote = tAct; emit({ ev: 'first-vote', name: p.name, t: tAct }) }
        const v = p.votes[p.votes.length - 1]
        if (v != null && v[0] === period && v[1] === 0) v[1] = tAct
      }, onError('act')).finally(() => { p.busy = false; tryAct(p) })
    }
    if (p.pace > 0) setTimeout(go, p.pace)
    else go()
  }

  const checkReached = (): void => {
    if (peers.every(p => p.reached || !p.acting)) emit({ ev: 'reached', t: nowMs() })
  }

  for (let i = 0; i < count; i++) {
    const n = first + i
    const name = `${args.prefix ?? 'v'}${n}`
    const t: Record<string, number> = { processStart, main: mainAt, imported: importedAt }
    const peer = await createPeer({ dataDir: path.join(args.root!, name), town, bootstrap: [args.bootstrap!], listen: ['/ip4/127.0.0.1/tcp/0'], gossipsub: gossipsubOptions(patches) as any })
    t.peer = nowMs()
    const gossip: Record<string, { n: number, bytes: number }> = {}
    peer.pubsub.addEventListener('message', (e) => {
      const g = gossip[e.detail.topic] ??= { n: 0, bytes: 0 }
      g.n++
      g.bytes += e.detail.data.byteLength
    })
    ;(peer as any).benchGossip = gossip
    if (process.env.COUNT === '1') {
      // every RPC gossipsub receives, by what it carries (Ignored messages never reach the 'message' event)
      const ps = peer.pubsub as any
      const handle = ps.handleReceivedRpc.bind(ps)
      ps.handleReceivedRpc = async (from: any, rpc: any) => {
        const add = (k: string, n = 1): void => { const g = gossip[k] ??= { n: 0, bytes: 0 }; g.n += n }
        add('rpc')
        for (const m of rpc.messages ?? []) add(`msg ${String(m.topic).split('/').slice(-2).join('/')}`)
        const c = rpc.control
        if (c != null) for (const k of ['ihave', 'iwant', 'graft', 'prune', 'idontwant']) if ((c[k]?.length ?? 0) > 0) add(`ctl ${k}`, c[k].length)
        if ((rpc.subscriptions?.length ?? 0) > 0) add('subs')
        return handle(from, rpc)
      }
    }
    const net = { opened: 0, closed: 0, streams: {} as Record<string, number> }
    ;(peer as any).benchNet = net
    const count = (s: any): void => { const k = `${s.direction} ${s.protocol ?? '?'}`; net.streams[k] = (net.streams[k] ?? 0) + 1 }
    peer.libp2p.addEventListener('connection:open', (e) => {
      net.opened++
      const conn = e.detail as any
      const newStream = conn.newStream.bind(conn)
      conn.newStream = async (protocols: any, o: any) => {
        const s = await newStream(protocols, o); count(s)
        if (process.env.BENCH_STACKS != null && String(s.protocol).includes(process.env.BENCH_STACKS)) {
          const st = (new Error().stack ?? '').split('\n').slice(2, 12).map(l => l.trim().replace(/.*node_modules\//, '').replace(/\(file:.*\/src\//, '(')).join(' | ')
          net.streams[st] = (net.streams[st] ?? 0) + 1
        }
        return s
      }
    })
    peer.libp2p.addEventListener('connection:close', () => { net.closed++ })
    // a join's phases: the DHT's first peer, the directory's first member found, the first link to a member
    dhtRoutingTable(peer.libp2p)?.addEventListener('peer:add', () => { t.dhtPeer ??= nowMs() }, { once: true })
    peer.directory?.addEventListener('member:found', () => { t.found ??= nowMs() }, { once: true })
    peer.libp2p.addEventListener('peer:identify', (e) => {
      if (t.memberLink == null && (e.detail.protocols as string[]).some(pr => pr.includes('/meshtown/clock'))) t.memberLink = nowMs()
    })
    const registrar = (peer.libp2p as any).components.registrar
    // counted when the handler runs, not at getHandler: libp2p looks a handler up twice per inbound
    // stream (its stream limit, then the handler) and once per outbound stream of a protocol we also serve
    const getHandler = registrar.getHandler.bind(registrar)
    registrar.getHandler = (protocol: string) => {
      const { handler, options } = getHandler(protocol)
      return { options, handler: (stream: any, conn: any) => { count(stream); return handler(stream, conn) } }
    }
    const node = await startVillagerNode(peer, { town, evictAfterMs, republishIntervalMs, relayVotes })
    // experiment: the town-status publisher off, to see what it costs
    if (patches.includes('nostatus')) await (node as any).status?.stop()
    if (node.villager.villager == null) {
      await node.villager.create({ name, occupation: occupations[n % 3]!, gender: 'unspecified', personality: 'bench' })
    }
    t.node = nowMs()
    const p: BenchPeer = {
      name, peer, node, t, votes: [], adv: [], acting: false, busy: false, stopAt: 0, pace: 0, townOnly: false, reached: false, lastView: 0
    }
    const clock = node.villager.clock!
    for (const patch of patches) { await applyPatch(patch, clock, peer); applyTradePatch(patch, node.trades, node.villager, peer) }
    // where act() spends its time: signing the vote, the synced write
    const phases: Record<string, number[]> = { prepare: [], save: [] }
    ;(p as any).phases = phases
    const prepare = clock.prepareVote.bind(clock)
    clock.prepareVote = async (a) => { const t0 = nowMs(); try { return await prepare(a) } finally { phases.prepare!.push(nowMs() - t0) } }
    // every synced LevelDB batch of this peer (the villager's group writes)
    const db = peer.datastore.db as any
    const batch = db.batch.bind(db)
    db.batch = async (...a: any[]) => {
      if (a[1]?.sync !== true) return batch(...a)
      const t0 = nowMs()
      try { return await batch(...a) } finally { phases.save!.push(nowMs() - t0) }
    }
    // the vote goes to the network here: after the villager's synced write
    const submit = clock.submitVote.bind(clock)
    clock.submitVote = async (vote) => {
      p.votes.push([vote.day * 3 + periodIndex(vote.period), 0, nowMs()])
      return submit(vote)
    }
    clock.addEventListener('advance', (e) => {
      p.adv.push([idx(e.detail.from), idx(e.detail.to), nowMs()])
    })
    clock.addEventListener('change', (e) => {
      const size = Object.keys(e.detail.view).length
      // took up the town (its snapshot), then admitted to it
      if (p.t.tookUp == null && size > 1) p.t.tookUp = nowMs()
      if (p.t.member == null && clock.isMember() && size > 1) p.t.member = nowMs()
      if (size !== p.lastView) {
        p.lastView = size
        emit({ ev: 'view', name, size, member: clock.isMember(), at: idx(e.detail), t: nowMs() })
      }
      if (p.acting) queueMicrotask(() => { tryAct(p) })
    })
    if (process.env.UNREACHED === '1') {
      // diagnostic: for each clock message let through as NOT_REACHED, the subscribers its author's reach left out
      const topic = clockTopic(town)
      const validate = peer.pubsub.topicValidators.get(topic)!
      const uncovered: Record<string, number> = {}
      ;(p as any).uncovered = uncovered
      peer.pubsub.topicValidators.set(topic, async (source, msg) => {
        const before = clock.forwarded.NOT_REACHED ?? 0
        const result = await validate(source, msg)
        const state = clock.state
        if ((clock.forwarded.NOT_REACHED ?? 0) > before && state != null && msg.type === 'signed') {
          const m = decodeJson(msg.data) as { reach: string, guests?: string[] } // NOT_REACHED: it has a reach
          const order = memberOrder(state.view)
          for (const sub of peer.pubsub.getSubscribers(topic).map(String)) {
            if (sub === source.toString() || reachCovers(m.reach, order, [sub], m.guests)) continue
            const k = `${order.index.has(sub) ? 'member' : 'stranger'} ${sub.slice(-6)} from ${msg.from.toString().slice(-6)}`
            uncovered[k] = (uncovered[k] ?? 0) + 1
          }
        }
        return result
      })
    }
    peers.push(p)
    setupTrades(p)
    // connect last, as the CLI does
    // the CLI gives up after 9 attempts (~1.5 min) and says so; a user would start that villager again, and a
    // bench peer left without its bootstrap link would keep its town from forming: it keeps trying (~10 min)
    void peer.connectBootstrap([args.bootstrap!], { retries: 60 }).then(() => { t.connected = nowMs() }, onError('bootstrap'))
    emit({ ev: 'peer', name, peerId: peer.peerId.toString(), view: Object.keys(clock.state?.view ?? {}).length })
  }
  emit({ ev: 'started', names: peers.map(p => p.name), t: nowMs(), rss: process.memoryUsage().rss })

  function setupTrades (p: BenchPeer): void {
    const waiting = new Map<string, (ok: boolean) => void>()
    const finished = new Map<string, boolean>()
    const confirmed = new Set<string>()
    const accepted = new Set<string>()
    p.node.trades.addEventListener('trade', (e) => {
      const t = e.detail
      if (t.role === 'counterparty' && t.status === 'received' && !accepted.has(t.id)) {
        accepted.add(t.id)
        void p.node.trades.accept(t.id).catch(onError('accept'))
      } else if (t.role === 'initiator' && t.status === 'accepted' && !confirmed.has(t.id)) {
        confirmed.add(t.id)
        void p.node.trades.confirm(t.id).catch(onError('confirm'))
      } else if (t.role === 'initiator' && (t.status === 'committed' || t.status === 'rejected' || t.status === 'expired' || t.status === 'cancelled')) {
        const ok = t.status === 'committed'
        const w = waiting.get(t.id)
        if (w != null) { waiting.delete(t.id); w(ok) } else finished.set(t.id, ok)
      }
    })
    ;(p as any).runTrades = async (cmd: any): Promise<void> => {
      const r = await closedLoop(cmd, async (i) => {
        const trade = await p.node.trades.propose({ target: cmd.target, side: (i % 2 === 0) ? 'buy' : 'sell', item: 'seed', quantity: 1, unitPrice: 1, expiresInMs: 60_000 })
        const early = finished.get(trade.id)
        if (early != null) { finished.delete(trade.id); return early }
        return await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => { waiting.delete(trade.id); resolve(false) }, 10_000)
          waiting.set(trade.id, (v) => { clearTimeout(timer); resolve(v) })
        })
      }, onError('propose'))
      emit({ ev: 'trades-done', name: p.name, ...r })
    }
  }

  onCommands(async (cmd) => {
    switch (cmd.cmd) {
      case 'go': {
        for (const p of peers) {
          p.acting = true
          p.reached = false
          p.stopAt = Number(cmd.stopAt ?? Number.MAX_SAFE_INTEGER)
          p.pace = Number(cmd.pace ?? 0)
          p.townOnly = cmd.townOnly === true
          tryAct(p)
        }
        break
      }
      case 'gossip-stats': {
        const dirs = await Promise.all(peers.map(async p => directoryStatus(p.peer)))
        emit({ ev: 'gossip-stats', crypto: cryptoCalls, peers: peers.map((p, i) => ({ name: p.name, topics: (p.peer as any).benchGossip, spared: p.node.villager.clock?.forwardsSpared ?? 0, leftToOtherMeshes: p.node.villager.clock?.leftToOtherMeshes ?? 0, forwarded: p.node.villager.clock?.forwarded, net: (p.peer as any).benchNet, conns: p.peer.libp2p.getConnections().length, uncovered: Object.entries((p as any).uncovered ?? {}).sort((a: any, b: any) => b[1] - a[1]).slice(0, 12), memberLinks: { wanted: p.peer.memberLinks.wanted, unlinked: unlinkedMembers(p.peer, p.node.villager.clock?.state).length, dials: p.peer.memberLinks.dials, failures: p.peer.memberLinks.failures, last: p.peer.memberLinks.lastFailure }, evicts: evictionsHeld(p.node.villager.clock?.state), relay: p.node.villager.clock?.relayStatus(), repairs: p.node.villager.clock?.repairs ?? 0, heartbeats: p.node.villager.clock?.heartbeats ?? 0, verifications: (p.node.villager.clock as any)?.verifier?.verifications ?? 0, dir: dirs[i] })) })
        break
      }
      case 'link-probe': {
        // diagnostic: dial each member the first peer has no open link to, and say how it went
        const p = peers[0]!
        const missing = unlinkedMembers(p.peer, p.node.villager.clock?.state)
        const results = await Promise.all(missing.slice(0, 8).map(async id => {
          const peerId = peerIdFromString(id)
          const addrs = (await p.peer.libp2p.peerStore.get(peerId).catch(() => undefined))?.addresses.map(a => a.multiaddr.toString()) ?? []
          const conns = p.peer.libp2p.getConnections(peerId).map(c => `${c.direction}:${c.status}`)
          // the remote's listener, raw: TCP accept, then its answer to a multistream-select header
          const raw = await new Promise<{ connectMs: number, answerMs: number }>((resolve) => {
            const m = /\/ip4\/([^/]+)\/tcp\/(\d+)/.exec(addrs[0] ?? '')
            if (m == null) { resolve({ connectMs: -1, answerMs: -1 }); return }
            const t = Date.now()
            let connectMs = -1
            const sock = net.connect(Number(m[2]), m[1])
            const done = (answerMs: number): void => { sock.destroy(); resolve({ connectMs, answerMs }) }
            sock.setTimeout(30_000, () => { done(-2) })
            sock.on('error', () => { done(-3) })
            sock.on('connect', () => {
              connectMs = Date.now() - t
              const hdr = Buffer.from('/multistream/1.0.0\n')
              sock.write(Buffer.concat([Buffer.from([hdr.length]), hdr]))
            })
            sock.on('data', () => { done(Date.now() - t) })
          })
          const t0 = Date.now()
          try {
            await p.peer.libp2p.dial(peerId, { signal: AbortSignal.timeout(30_000) })
            return { id: id.slice(-6), addrs, conns, raw, ms: Date.now() - t0, ok: true }
          } catch (err: any) {
            return { id: id.slice(-6), addrs, conns, raw, ms: Date.now() - t0, ok: false, err: `${err.name}: ${err.message}` }
          }
        }))
        emit({ ev: 'link-probe', missing: missing.length, lag: takeLoopDelay(), results })
        break
      }
      case 'reset-phases':
        for (const p of peers) { const ph = (p as any).phases as Record<string, number[]>; for (const k of Object.keys(ph)) ph[k] = [] }
        emit({ ev: 'phases-reset' })
        break
      case 'halt':
        for (const p of peers) p.acting = false
        emit({ ev: 'halted' })
        break
      case 'status': {
        const dirs = await Promise.all(peers.map(async p => directoryStatus(p.peer)))
        const lag = takeLoopDelay()
        emit({
          ev: 'status',
          lag,
          peers: peers.map((p, i) => ({ name: p.name, view: p.lastView, member: p.node.villager.clock?.isMember() ?? false, at: idx(p.node.villager.clock?.time() ?? { day: 0, period: 'morning' }), conns: p.peer.libp2p.getConnections().length, evicts: evictionsHeld(p.node.villager.clock?.state), dir: dirs[i], linkFailures: p.peer.memberLinks.failures }))
        })
        break
      }
      case 'endow': {
        for (const p of peers) {
          await p.node.villager.transact((v) => ({ villager: { ...v, coins: v.coins + Number(cmd.coins ?? 0), items: { ...v.items, seed: v.items.seed + Number(cmd.seed ?? 0) } }, result: undefined }))
        }
        emit({ ev: 'endowed' })
        break
      }
      case 'trade': {
        const p = peers.find(x => x.name === cmd.from) ?? peers[0]!
        await (p as any).runTrades(cmd)
        break
      }
      case 'prof-start': {
        const { Session } = await import('node:inspector/promises')
        profSession = new Session()
        profSession.connect()
        await profSession.post('Profiler.enable')
        await profSession.post('Profiler.setSamplingInterval', { interval: Number(cmd.intervalUs ?? 500) })
        await profSession.post('Profiler.start')
        emit({ ev: 'prof-started' })
        break
      }
      case 'prof-stop': {
        const { mkdir, writeFile } = await import('node:fs/promises')
        const { profile } = await profSession!.post('Profiler.stop') as any
        // a fresh checkout has no .scratch/ (idle-probe's profile went nowhere, and it waited 30 s for an answer)
        await mkdir(path.dirname(cmd.file), { recursive: true })
        await writeFile(cmd.file, JSON.stringify(profile))
        profSession!.disconnect()
        profSession = undefined
        emit({ ev: 'prof-stopped', file: cmd.file })
        break
      }
      case 'heap-snapshot': {
        const { writeHeapSnapshot } = await import('node:v8')
        emit({ ev: 'heap-snapshot', file: writeHeapSnapshot(cmd.file) })
        break
      }
      case 'mem':
        emit({ ev: 'mem', rss: process.memoryUsage().rss, usage: process.memoryUsage(), cpu: process.cpuUsage(), detail: await memoryDetail() })
        break
      case 'report':
        emit({
          ev: 'report',
          rss: process.memoryUsage().rss,
          cpu: process.cpuUsage(),
          peers: peers.map(p => ({
            name: p.name, t: p.t, votes: p.votes, adv: p.adv, phases: (p as any).phases,
            rejections: p.node.villager.clock?.rejections,
            verifications: (p.node.villager.clock as any)?.verifier?.verifications
          }))
        })
        break
    }
  }, async () => {
    await Promise.race([
      Promise.all(peers.map(async p => { await p.node.stop().catch(() => {}); await p.peer.stop().catch(() => {}) })),
      new Promise(resolve => setTimeout(resolve, 2_000))
    ])
  })
}

/** Diagnostics of a villager's town directory and DHT, for form-probe. */
/** Eviction statements a peer holds for its current period (one per voter and target). */
function evictionsHeld (state: ClockState | undefined): number {
  return Object.values(state?.evicts ?? {}).reduce((n, byVoter) => n + Object.keys(byVoter).length, 0)
}

async function directoryStatus (peer: MeshPeer): Promise<{ rounds: number, known: number, table: number, unidentified: number }> {
  const dir = peer.directory as any
  // connected peers whose protocols we never learnt (identify failed or has not run)
  // (only for a peer with few links: the peer store is slow to read while a town forms)
  let unidentified = 0
  for (const id of peer.libp2p.getPeers().length > 3 ? [] : peer.libp2p.getPeers()) {
    const known = await peer.libp2p.peerStore.get(id).catch(() => undefined)
    if (known == null || known.protocols.length === 0) unidentified++
  }
  return { rounds: dir?.rounds ?? 0, known: dir?.known?.size ?? 0, table: dhtPeerCount(peer.libp2p) ?? -1, unidentified }
}

/** Where a process's memory is (MB): V8's heap spaces and the kernel's view of the mapping kinds. */
async function memoryDetail (): Promise<Record<string, number>> {
  const { getHeapSpaceStatistics } = await import('node:v8')
  const { readFile } = await import('node:fs/promises')
  const mb = (x: number): number => +(x / 1048576).toFixed(1)
  const out: Record<string, number> = {}
  for (const s of getHeapSpaceStatistics()) {
    out[`v8 ${s.space_name}`] = mb(s.space_size)
    out[`v8 ${s.space_name} used`] = mb(s.space_used_size)
  }
  const rollup = await readFile('/proc/self/smaps_rollup', 'utf8').catch(() => '')
  for (const line of rollup.split('\n')) {
    const m = /^(Rss|Pss_Anon|Pss_File|Anonymous|Private_Dirty|Shared_Clean|Private_Clean):\s+(\d+) kB/.exec(line)
    if (m != null) out[`kernel ${m[1]}`] = mb(Number(m[2]) * 1024)
  }
  return out
}
