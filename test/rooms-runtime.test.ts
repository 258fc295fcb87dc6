import { expect } from 'chai'
import path from 'node:path'
import { createRoomDecider } from '../src/agents/room-agents.js'
import { newRoomId } from '../src/protocols/room/index.js'
import type { RoomMessage } from '../src/protocols/room/messages.js'
import { roomTopic } from '../src/protocols/topics.js'
import { readRoomConfigFile, type RoomConfig, type RoomMode } from '../src/rooms/config.js'
import { LocalRoom } from '../src/rooms/local-room.js'
import { RoomStore } from '../src/rooms/room-store.js'
import { PeerPool, waitFor } from './helpers/peers.js'

const examples = path.join(import.meta.dirname, '..', 'examples')

/** What must be equal everywhere: the transcript's messages as they were signed. */
function summary (messages: readonly RoomMessage[]): string[] {
  return messages.map(m => `${m.id} ${m.turn ?? '-'} ${m.sender}>${m.receivers.join(',')} ${m.pass === true ? '(pass)' : m.content}`)
}

async function werewolf (mode: RoomMode): Promise<RoomConfig> {
  const base = await readRoomConfigFile(path.join(examples, 'werewolf.yaml'))
  return { ...base, mode, limits: { ...base.limits, max_rounds: mode === 'rounds' ? base.limits.max_rounds : undefined, turn_timeout_ms: 5_000 } }
}

describe('rooms runtime: every agent its own peer, no room controller', function () {
  this.timeout(60_000)
  const pool = new PeerPool()
  let local: LocalRoom | undefined
  afterEach(async () => {
    await local?.stop()
    local = undefined
    await pool.cleanup()
  })

  /** Starts the room with the bootstrap peer listening on the topic, as an outsider would. */
  async function play (config: RoomConfig, seed: string): Promise<{ local: LocalRoom, onTopic: unknown[] }> {
    const roomId = newRoomId()
    const onTopic: unknown[] = []
    local = await LocalRoom.start({
      config,
      roomId,
      baseDir: await pool.dir(),
      seed,
      decider: name => createRoomDecider(config, name),
      createPeer: async o => {
        const peer = await pool.create(o)
        if (o.dataDir.endsWith('bootstrap')) {
          peer.pubsub.subscribe(roomTopic(roomId))
          peer.pubsub.addEventListener('message', e => {
            if (e.detail.topic === roomTopic(roomId)) onTopic.push(JSON.parse(new TextDecoder().decode(e.detail.data)))
          })
        }
        return peer
      }
    })
    await local.whenEnded()
    return { local, onTopic }
  }

  async function checkRoom (room: LocalRoom, onTopic: unknown[]): Promise<void> {
    const agents = [...room.agents.values()].map(a => a.agent)
    // a message concurrent with the end may still be on its way: wait for the same public set everywhere
    const reference = (): string[] => summary(agents[0]!.publicTranscript().messages)
    await waitFor(() => agents.every(a => JSON.stringify(summary(a.publicTranscript().messages)) === JSON.stringify(reference())), 10_000, 'identical public transcripts')
    const ends = agents.map(a => a.result)
    for (const end of ends) expect(end).to.deep.equal(ends[0])
    expect(ends[0]?.reason).to.equal('declared')
    expect(ends[0]?.result).to.match(/^(village|wolves) win/)

    // private messages reach exactly their receivers, and never the topic
    const logs = new Map(agents.map(a => [a.self, a.visibleMessages()]))
    const privates = [...logs.values()].flat().filter(m => m.visibility === 'private')
    expect(privates.length).to.be.greaterThan(10)
    for (const [name, log] of logs) {
      for (const m of log.filter(m => m.visibility === 'private')) {
        expect([m.sender, ...m.receivers], `${name} holds ${m.id}`).to.include(name)
      }
      const ids = new Set(log.map(m => m.id))
      for (const m of privates) {
        if (m.sender === name || m.receivers.includes(name)) expect(ids.has(m.id), `${name} should have ${m.id}`).to.equal(true)
      }
    }
    expect(onTopic.length).to.be.greaterThan(0)
    for (const m of onTopic as RoomMessage[]) expect(m.visibility).to.equal('public')
    const privateIds = new Set(privates.map(m => m.id))
    expect((onTopic as RoomMessage[]).filter(m => privateIds.has(m.id))).to.deep.equal([])
    for (const a of room.agents.values()) {
      expect(a.network.stats.dropped, a.name).to.deep.include({ forged: 0, malformed: 0, misrouted: 0, rejected: 0 })
      expect(a.agent.stats.invalidActions, a.name).to.equal(0)
    }
  }

  /** What an agent saw is in its own data dir, readable after its peer is gone. */
  async function checkSaved (room: LocalRoom, name: string): Promise<void> {
    await room.stopAgent(name)
    const agent = room.agents.get(name)!
    const peer = await pool.create({ dataDir: agent.dataDir })
    const store = new RoomStore(peer.datastore, room.room)
    expect(await store.loadSelf()).to.equal(name)
    expect((await store.loadResult())?.result).to.equal(room.agent('Alice').result?.result)
    const log = await store.loadLog()
    expect(log.map(m => m.id)).to.deep.equal(agent.agent.visibleMessages().map(m => m.id))
    expect(log.some(m => m.visibility === 'private' && m.receivers.includes(name))).to.equal(true)
    expect(log.some(m => m.visibility === 'private' && !m.receivers.includes(name) && m.sender !== name)).to.equal(false)
  }

  for (const mode of ['rounds', 'ordered', 'concurrent'] as RoomMode[]) {
    it(`plays the werewolf example to the end in ${mode} mode; identical public transcripts; private stays private${mode === 'concurrent' ? '; transcripts saved per agent' : ''}`, async () => {
      const config = await werewolf(mode)
      const { local: room, onTopic } = await play(config, `seed-${mode}`)
      await checkRoom(room, onTopic)
      const transcript = room.agent('Alice').publicTranscript().messages
      // the moderator dealt, the day voted, someone died
      expect(transcript.some(m => /^\[dusk \d+ out=/.test(m.content))).to.equal(true)
      if (mode !== 'concurrent') {
        // turns pass in config order, one public message per turn, none skipped
        expect(transcript.map(m => m.turn)).to.deep.equal(transcript.map((_, i) => i))
      } else {
        await checkSaved(room, 'Chen')
      }
    })
  }

  it('public messages are not forwarded to agents that had them from their author, and are to a subscriber the author cannot reach', async () => {
    const config = await readRoomConfigFile(path.join(examples, 'debate.yaml'))
    let release!: () => void
    const open = new Promise<void>(resolve => { release = resolve })
    const roomId = newRoomId()
    local = await LocalRoom.start({
      config,
      roomId,
      baseDir: await pool.dir(),
      seed: 'reach',
      // the Chair opens only once the listener below is in place
      decider: name => {
        const inner = createRoomDecider(config, name)
        return name === 'Chair' ? { label: inner.label, decide: async (view, options) => { await open; return await inner.decide(view, options) } } : inner
      },
      createPeer: async o => await pool.create(o)
    })
    const room = local
    const topic = roomTopic(roomId)
    // a listener on the topic, linked to every agent but Pro_Ada (whose messages it can only get forwarded)
    const listener = await pool.create()
    const cutOff = room.agents.get('Pro_Ada')!.peer
    await listener.block(cutOff.peerId)
    await cutOff.block(listener.peerId)
    const heard: RoomMessage[] = []
    listener.pubsub.subscribe(topic)
    listener.pubsub.addEventListener('message', e => { if (e.detail.topic === topic) heard.push(JSON.parse(new TextDecoder().decode(e.detail.data))) })
    const others = [...room.agents.values()].filter(a => a.name !== 'Pro_Ada')
    for (const a of others) await listener.libp2p.dial(a.peer.libp2p.getMultiaddrs()[0]!)
    await waitFor(() => others.every(a => a.peer.pubsub.getSubscribers(topic).some(p => p.equals(listener.peerId))), 10_000, 'every agent but Pro_Ada to see the listener on the topic')
    release()
    await room.whenEnded()
    const transcript = room.agent('Chair').publicTranscript().messages
    await waitFor(() => transcript.every(m => heard.some(h => h.id === m.id)), 10_000, () => `the listener to hear every public message; missing ${transcript.filter(m => !heard.some(h => h.id === m.id)).map(m => m.id).join(', ')}`)
    expect(transcript.filter(m => m.sender === 'Pro_Ada').length, 'Pro_Ada spoke').to.be.greaterThan(0)
    // each agent took in, without forwarding, the messages of authors that reached every subscriber it knows
    const spared = [...room.agents.values()].reduce((n, a) => n + a.network.stats.spared, 0)
    expect(spared, 'copies spared').to.be.greaterThan(0)
    for (const a of room.agents.values()) expect(a.network.stats.dropped, a.name).to.deep.include({ forged: 0, malformed: 0, misrouted: 0, rejected: 0 })
  })

  it('plays the debate example (ordered) to a verdict', async () => {
    const config = await readRoomConfigFile(path.join(examples, 'debate.yaml'))
    const { local: room } = await play(config, 'seed-debate')
    const agents = [...room.agents.values()].map(a => a.agent)
    await waitFor(() => agents.every(a => a.publicTranscript().messages.length === agents[0]!.publicTranscript().messages.length), 10_000, 'same transcript length')
    const end = agents[0]!.result!
    expect(end.reason).to.equal('declared')
    expect(end.by).to.equal('Chair')
    expect(end.result).to.match(/^(pro|con) wins$/)
    const speeches = agents[0]!.publicTranscript().messages.filter(m => m.content.startsWith('[speech'))
    expect(speeches.map(m => m.sender)).to.deep.equal(['Pro_Ada', 'Con_Ben', 'Pro_Cy', 'Con_Dot', 'Pro_Ada', 'Con_Ben', 'Pro_Cy', 'Con_Dot'])
  })
})
