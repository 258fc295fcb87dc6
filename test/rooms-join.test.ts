import { expect } from 'chai'
import path from 'node:path'
import { createRoomDecider } from '../src/agents/room-agents.js'
import type { MeshPeer } from '../src/node/peer.js'
import { newRoomId, type RoomNetworkService } from '../src/protocols/room/index.js'
import { readRoomConfigFile } from '../src/rooms/config.js'
import { JoinError, joinRoom } from '../src/rooms/join.js'
import { RoomAgent } from '../src/rooms/room-agent.js'
import { RoomHost } from '../src/rooms/room-host.js'
import { ROOM_GOSSIPSUB_OPTIONS, startRoomNetwork } from '../src/rooms/room-peer.js'
import { RoomStore } from '../src/rooms/room-store.js'
import { PeerPool, waitFor } from './helpers/peers.js'

const examples = path.join(import.meta.dirname, '..', 'examples')

describe('rooms: create, then join with nothing but the room id', function () {
  this.timeout(60_000)
  const pool = new PeerPool()
  const networks: RoomNetworkService[] = []
  const agents: RoomAgent[] = []
  let host: RoomHost | undefined
  afterEach(async () => {
    for (const a of agents.splice(0)) await a.stop()
    await host?.stop()
    host = undefined
    for (const n of networks.splice(0)) await n.stop()
    await pool.cleanup()
  })

  async function roomPeer (bootAddr: string): Promise<{ peer: MeshPeer, network: RoomNetworkService }> {
    const peer = await pool.create({ bootstrap: [bootAddr], gossipsub: ROOM_GOSSIPSUB_OPTIONS })
    await peer.connectBootstrap([bootAddr], { retries: 3, minDelay: 100 })
    const network = await startRoomNetwork(peer)
    networks.push(network)
    return { peer, network }
  }

  it('finds the config through the DHT, seats every agent, plays the debate, and refuses a taken seat', async () => {
    const config = await readRoomConfigFile(path.join(examples, 'debate.yaml'))
    const boot = await pool.create()
    const bootAddr = boot.addresses()[0]!
    const room = newRoomId()

    const creator = await roomPeer(bootAddr)
    host = new RoomHost({ network: creator.network, room, config, creator: creator.peer.peerId, store: new RoomStore(creator.peer.datastore, room), provide: false })
    await host.start()
    await waitFor(async () => await host!.provideNow(AbortSignal.timeout(3_000)).then(() => true, () => false), 15_000, 'the room to be announced in the DHT')

    const names = config.agents.map(a => a.name)
    const seats = await Promise.all(names.map(async () => await roomPeer(bootAddr)))
    const setups = await Promise.all(names.map(async (name, i) => await joinRoom({
      network: seats[i]!.network, libp2p: seats[i]!.peer.libp2p, room, as: name, timeoutMs: 20_000, pollMs: 100
    })))
    for (const [i, setup] of setups.entries()) {
      expect(setup.manifest.sealed).to.equal(true)
      expect(setup.config.name).to.equal(config.name)
      for (const [j, name] of names.entries()) expect(setup.seats.get(name)?.equals(seats[j]!.peer.peerId), `${names[i]} sees ${name}`).to.equal(true)
    }

    // a seat is given once
    const intruder = await roomPeer(bootAddr)
    const taken = await joinRoom({ network: intruder.network, libp2p: intruder.peer.libp2p, room, as: 'Judge', timeoutMs: 10_000, pollMs: 100 }).catch(e => e)
    expect(taken).to.be.instanceOf(JoinError)
    expect(taken.message).to.match(/taken/)

    for (const [i, name] of names.entries()) {
      const { peer, network } = seats[i]!
      const agent = new RoomAgent({ network, setup: setups[i]!, self: name, decider: createRoomDecider(setups[i]!.config, name), store: new RoomStore(peer.datastore, room), seed: 'join-seed' })
      agents.push(agent)
    }
    await Promise.all(agents.map(async a => await a.start()))
    const ends = await Promise.all(agents.map(async a => await a.whenEnded()))
    for (const end of ends) expect(end).to.deep.equal(ends[0])
    expect(ends[0]?.by).to.equal('Chair')

    // the game needs no host: once sealed, any member tells a newcomer what the room is
    await host.stop()
    host = undefined
    const manifest = await intruder.network.fetchConfig(seats[0]!.peer.peerId, { room })
    expect(manifest.sealed).to.equal(true)
    expect(manifest.seats.map(s => s.name).sort()).to.deep.equal([...names].sort())
  })

  it('gives up on a room nobody serves', async () => {
    const boot = await pool.create()
    const { peer, network } = await roomPeer(boot.addresses()[0]!)
    const err = await joinRoom({ network, libp2p: peer.libp2p, room: newRoomId(), as: 'Chair', timeoutMs: 1_500, pollMs: 100 }).catch(e => e)
    expect(err).to.be.instanceOf(JoinError)
    expect(err.message).to.match(/not found/)
  })
})
