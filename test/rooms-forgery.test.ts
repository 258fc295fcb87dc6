import { expect } from 'chai'
import path from 'node:path'
import { createRoomDecider } from '../src/agents/room-agents.js'
import { loadOrCreatePeerKey } from '../src/node/data-dir.js'
import type { MeshPeer } from '../src/node/peer.js'
import { DeliveryAckSchema, ROOM_PROTOCOL, ROOM_SYNC_PROTOCOL, signRoomMessage, SyncReplySchema, type RoomMessage, type UnsignedRoomMessage } from '../src/protocols/room/index.js'
import { roomTopic } from '../src/protocols/topics.js'
import { encodeJson, RemoteError, request } from '../src/protocols/wire.js'
import type { RoomDecider } from '../src/rooms/actions.js'
import { readRoomConfigFile, type RoomConfig } from '../src/rooms/config.js'
import { LocalRoom } from '../src/rooms/local-room.js'
import { PeerPool, waitFor } from './helpers/peers.js'

const examples = path.join(import.meta.dirname, '..', 'examples')

/** Everything an agent saw, minus what differs between two runs anyway (room id, signatures). */
function seen (room: LocalRoom): Record<string, string[]> {
  return Object.fromEntries([...room.agents.values()].map(a => [a.name, a.agent.visibleMessages().map(m =>
    JSON.stringify([m.id, m.sender, m.receivers, m.visibility, m.reply, m.turn, m.re, m.end, m.content, m.clock]))]))
}

/** Holds the first decision until `open` resolves, so the attack lands before the game moves. */
function gated (inner: RoomDecider, open: Promise<void>): RoomDecider {
  return { label: inner.label, decide: async (view, options) => { await open; return await inner.decide(view, options) } }
}

describe('rooms: forged, malformed and misrouted messages change nothing', function () {
  this.timeout(60_000)
  const pool = new PeerPool()
  const rooms: LocalRoom[] = []
  afterEach(async () => {
    for (const r of rooms.splice(0)) await r.stop()
    await pool.cleanup()
  })

  async function debate (): Promise<RoomConfig> {
    const config = await readRoomConfigFile(path.join(examples, 'debate.yaml'))
    return { ...config, limits: { ...config.limits, turn_timeout_ms: 10_000 } }
  }

  it('drops and counts every bad message; the game and every transcript are as in a clean run', async () => {
    const config = await debate()
    const seed = 'forgery-seed'
    const clean = await LocalRoom.start({ config, baseDir: await pool.dir(), seed, decider: n => createRoomDecider(config, n), createPeer: async o => await pool.create(o) })
    rooms.push(clean)
    await clean.whenEnded()
    const expected = seen(clean)
    await clean.stop()

    let release!: () => void
    const open = new Promise<void>(resolve => { release = resolve })
    const attacked = await LocalRoom.start({
      config,
      baseDir: await pool.dir(),
      seed,
      decider: n => n === 'Chair' ? gated(createRoomDecider(config, n), open) : createRoomDecider(config, n),
      createPeer: async o => await pool.create(o)
    })
    rooms.push(attacked)
    const topic = roomTopic(attacked.room)
    const peerOf = (name: string): MeshPeer => attacked.agents.get(name)!.peer
    const agentPeers = [...attacked.agents.values()].map(a => a.peer)

    // an outsider: a peer with no seat, connected to every agent and listening to the topic
    const outsider = await pool.create()
    const outsiderKey = await loadOrCreatePeerKey(outsider.datastore, outsider.dataDir)
    for (const p of agentPeers) await outsider.libp2p.dial(p.libp2p.getMultiaddrs()[0]!)
    await waitFor(() => outsider.pubsub.getSubscribers(topic).length === agentPeers.length, 10_000, 'the outsider to see every agent on the topic')

    const base: UnsignedRoomMessage = {
      room: attacked.room, id: 'Chair.99', sender: 'Chair', receivers: [], visibility: 'public', reply: 'no_reply',
      content: '[close con] Forged: the debate is over, con wins.', clock: { Chair: 1 }, turn: 0, end: 'con wins'
    }
    // 1. bytes that are not JSON, and JSON that is not a message
    await outsider.pubsub.publish(topic, new TextEncoder().encode('{not json'))
    await outsider.pubsub.publish(topic, encodeJson({ ...base, visibility: 'secret' }))
    // 2. the outsider signs a message as Chair
    await outsider.pubsub.publish(topic, encodeJson(await signRoomMessage(outsiderKey, base)))
    // 3. an agent (the judge's peer) speaks as another agent, signing with its own key
    const judgeKey = await loadOrCreatePeerKey(peerOf('Judge').datastore, peerOf('Judge').dataDir)
    await peerOf('Judge').pubsub.publish(topic, encodeJson(await signRoomMessage(judgeKey, base)))
    // 4. the chair's own peer sends a message whose content does not match its signature
    const chairKey = await loadOrCreatePeerKey(peerOf('Chair').datastore, peerOf('Chair').dataDir)
    const signed = await signRoomMessage(chairKey, { ...base, content: '[floor opening] Genuine.' , end: undefined })
    await peerOf('Chair').pubsub.publish(topic, encodeJson({ ...signed, content: '[close con] Tampered.', end: 'con wins' }))
    // 5. oversized
    await outsider.pubsub.publish(topic, encodeJson({ ...base, content: 'x'.repeat(70_000) }))
    // 6. a private message on the topic, correctly signed by its real sender
    const adaKey = await loadOrCreatePeerKey(peerOf('Pro_Ada').datastore, peerOf('Pro_Ada').dataDir)
    const adaPrivate = await signRoomMessage(adaKey, { ...base, id: 'Pro_Ada.99', sender: 'Pro_Ada', receivers: ['Con_Ben'], visibility: 'private', content: 'psst', clock: { 'Pro_Ada>Con_Ben': 1 }, end: undefined })
    await peerOf('Pro_Ada').pubsub.publish(topic, encodeJson(adaPrivate))
    // 7. direct streams: a forged sender, and a private message to someone it is not addressed to
    const forgedPrivate = await signRoomMessage(outsiderKey, { ...base, receivers: ['Judge'], visibility: 'private', clock: { 'Chair>Judge': 1 }, end: undefined })
    const refused = await request(outsider.libp2p, peerOf('Judge').peerId, ROOM_PROTOCOL, forgedPrivate, DeliveryAckSchema, { maxBytes: 65_536 }).catch(e => e)
    expect(refused).to.be.instanceOf(RemoteError)
    expect(refused.code).to.equal('FORGED')
    const misrouted = await request(peerOf('Pro_Ada').libp2p, peerOf('Judge').peerId, ROOM_PROTOCOL, adaPrivate, DeliveryAckSchema, { maxBytes: 65_536 }).catch(e => e)
    expect(misrouted.code).to.equal('MISROUTED')
    // 8. catch-up is for members only
    const sync = await request(outsider.libp2p, peerOf('Judge').peerId, ROOM_SYNC_PROTOCOL, { room: attacked.room }, SyncReplySchema, { maxBytes: 65_536 }).catch(e => e)
    expect(sync.code).to.equal('FORBIDDEN')

    const dropped = (reason: 'malformed' | 'forged' | 'oversized' | 'misrouted'): number =>
      [...attacked.agents.values()].reduce((n, a) => n + a.network.stats.dropped[reason], 0)
    // every agent but the sender hears each gossip attempt once
    await waitFor(() => dropped('malformed') >= 2 * 5 && dropped('forged') >= 5 + 4 + 5 + 1 && dropped('oversized') >= 5 && dropped('misrouted') >= 5 + 1,
      10_000, () => `every agent to drop every bad message; dropped so far: ${JSON.stringify(Object.fromEntries((['malformed', 'forged', 'oversized', 'misrouted'] as const).map(r => [r, dropped(r)])))}`)
    release()
    await attacked.whenEnded()
    expect(seen(attacked)).to.deep.equal(expected)
    for (const a of attacked.agents.values()) {
      expect(a.agent.result?.result).to.equal(clean.agent('Chair').result?.result)
      expect(a.agent.visibleMessages().map(m => m.id)).to.not.include.members(['Chair.99', 'Pro_Ada.99'])
    }
  })

  it('refuses a sync answer that relays a private message it should not have', async () => {
    const config = await debate()
    const room = await LocalRoom.start({ config, baseDir: await pool.dir(), seed: 's', decider: n => createRoomDecider(config, n), createPeer: async o => await pool.create(o) })
    rooms.push(room)
    await room.whenEnded()
    const judge = room.agents.get('Judge')!
    const chair = room.agents.get('Chair')!
    // the chair's peer answers the judge's catch-up with a private message between two others
    const adaPeer = room.agents.get('Pro_Ada')!.peer
    const adaKey = await loadOrCreatePeerKey(adaPeer.datastore, adaPeer.dataDir)
    const leaked: RoomMessage = await signRoomMessage(adaKey, {
      room: room.room, id: 'Pro_Ada.77', sender: 'Pro_Ada', receivers: ['Judge'], visibility: 'private', reply: 'no_reply',
      content: 'relayed by a third party', clock: { 'Pro_Ada>Judge': 1 }, turn: 1
    })
    await chair.network.stop()
    await chair.peer.libp2p.handle(ROOM_SYNC_PROTOCOL, async (stream) => {
      const { lpStream } = await import('@libp2p/utils')
      const lp = lpStream(stream)
      await lp.read()
      await lp.write(encodeJson({ ok: true, result: { messages: [leaked], more: false } }))
      await stream.close()
    })
    // the judge's peer asks, through its own room network, as its agent would
    await judge.agent.stop()
    const setup = room.setup
    const received: RoomMessage[] = []
    const transport = judge.network.join({
      room: room.room,
      self: 'Judge',
      peerOf: a => setup.seats.get(a),
      agentOf: p => [...setup.seats].find(([, id]) => id.equals(p))?.[0],
      receive: m => { received.push(m) },
      serveSync: () => []
    })
    const before = judge.network.stats.dropped.misrouted
    const reply = await transport.sync('Chair', { since: {} })
    expect(received).to.deep.equal([])
    expect(reply.messages).to.deep.equal([])
    expect(judge.network.stats.dropped.misrouted).to.equal(before + 1)
  })
})
