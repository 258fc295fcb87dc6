import { expect } from 'chai'
import path from 'node:path'
import { createRoomDecider } from '../src/agents/room-agents.js'
import type { RoomMessage } from '../src/protocols/room/messages.js'
import { readRoomConfigFile, type RoomConfig, type RoomMode } from '../src/rooms/config.js'
import { LocalRoom } from '../src/rooms/local-room.js'
import { PeerPool, waitFor } from './helpers/peers.js'

const examples = path.join(import.meta.dirname, '..', 'examples')

/** The werewolf example at a smaller table (a moderator and five players), with short turn timeouts. */
async function smallWerewolf (mode: RoomMode): Promise<RoomConfig> {
  const base = await readRoomConfigFile(path.join(examples, 'werewolf.yaml'))
  const keep = ['Moderator', 'Alice', 'Bram', 'Chen', 'Dara', 'Emeka']
  return {
    ...base,
    mode,
    agents: base.agents.filter(a => keep.includes(a.name)),
    roles: base.roles?.map(r => ({ ...r, count: r.name === 'villager' ? 2 : 1 })),
    limits: { ...base.limits, max_rounds: 40, turn_timeout_ms: 700 }
  }
}

function ids (messages: readonly RoomMessage[]): string[] {
  return messages.map(m => m.id)
}

describe('rooms: an agent restarting mid-game', function () {
  this.timeout(60_000)
  const pool = new PeerPool()
  let local: LocalRoom | undefined
  afterEach(async () => {
    await local?.stop()
    local = undefined
    await pool.cleanup()
  })

  for (const mode of ['rounds', 'concurrent'] as RoomMode[]) it(`${mode} mode: is skipped while down, catches up from the others on restart, and ends with the same transcript`, async () => {
    const config = await smallWerewolf(mode)
    local = await LocalRoom.start({
      config,
      baseDir: await pool.dir(),
      seed: 'restart-seed',
      decider: name => createRoomDecider(config, name),
      createPeer: async o => await pool.create(o),
      timing: { syncIdleMs: 150 }
    })
    const room = local
    const alice = room.agent('Alice')
    const publicCount = (): number => alice.publicTranscript().messages.length
    // Bram goes down as soon as night 1 has fallen, and comes back once four more public
    // messages are out: his first turn (rounds) or his night and day-1 asks (concurrent)
    // come while he is away, and no game can end before the first dusk
    await waitFor(() => publicCount() >= 1, 20_000, 'the game to begin')
    await room.stopAgent('Bram')
    const bramBefore = ids(room.agents.get('Bram')!.agent.visibleMessages())
    const atStop = publicCount()
    const bramSkipped = (): boolean => {
      const turns = alice.publicTranscript().messages.map(m => m.turn as number)
      return turns.some((t, i) => i > 0 && t > (turns[i - 1] as number) + 1 && config.agents[((turns[i - 1] as number) + 1) % config.agents.length]?.name === 'Bram')
    }
    await waitFor(() => publicCount() >= atStop + 4 && (mode !== 'rounds' || bramSkipped()), 20_000, 'the others to play on without Bram')
    expect(alice.result, 'the game should still be on when Bram comes back').to.equal(undefined)
    const missedPublic = ids(alice.publicTranscript().messages).filter(id => !bramBefore.includes(id))

    const bram = await room.restartAgent('Bram')
    expect(bram.visibleMessages().length, 'restored from the data dir').to.be.at.least(bramBefore.length)
    const ends = await room.whenEnded()
    const agents = [...room.agents.values()].map(a => a.agent)
    await waitFor(() => agents.every(a => JSON.stringify(ids(a.publicTranscript().messages)) === JSON.stringify(ids(alice.publicTranscript().messages))), 10_000, 'identical public transcripts')
    for (const end of ends.values()) expect(end).to.deep.equal(ends.get('Moderator'))
    expect(ends.get('Moderator')?.reason).to.equal('declared')

    const bramLog = ids(bram.visibleMessages())
    // what was said while Bram was down reached him on restart, by catch-up
    expect(missedPublic.length).to.be.greaterThan(0)
    for (const id of missedPublic) expect(bramLog, id).to.include(id)
    expect(room.agents.get('Bram')!.network.stats.accepted.sync).to.be.greaterThan(0)
    // and so did everything private addressed to him
    const toBram = agents.flatMap(a => a.visibleMessages()).filter(m => m.visibility === 'private' && m.receivers.includes('Bram'))
    for (const m of toBram) expect(bramLog, m.id).to.include(m.id)
    // his delivered log is causally complete: nothing is left waiting
    expect(bram.pending()).to.equal(0)
    // in turns, his was skipped while he was down: a jump in the turn numbers at a turn of his
    if (mode === 'rounds') expect(bramSkipped()).to.equal(true)
  })
})
