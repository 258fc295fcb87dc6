import { expect } from 'chai'
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { PassThrough } from 'node:stream'
import { stringify } from 'yaml'
import { createRoomDecider, unsupportedSeats } from '../src/agents/room-agents.js'
import { HumanRoomDecider, HumanTerminal, parseHumanCommand } from '../src/agents/room-human.js'
import type { MeshPeer } from '../src/node/peer.js'
import { newRoomId, type RoomNetworkService } from '../src/protocols/room/index.js'
import { PASS, type RoomTrigger, type RoomView, type ViewMessage } from '../src/rooms/actions.js'
import { readRoomConfigFile, type RoomConfig } from '../src/rooms/config.js'
import { joinRoom } from '../src/rooms/join.js'
import { RoomAgent } from '../src/rooms/room-agent.js'
import { RoomHost } from '../src/rooms/room-host.js'
import { ROOM_GOSSIPSUB_OPTIONS, startRoomNetwork } from '../src/rooms/room-peer.js'
import { RoomStore } from '../src/rooms/room-store.js'
import { CliProcess, meshtownNodeFlagsOf } from './helpers/cli.js'
import { MANY_PEERS_NODE_FLAGS } from '../scripts/node-flags.mjs'
import { PeerPool, waitFor } from './helpers/peers.js'

const examples = path.join(import.meta.dirname, '..', 'examples')
const ROOM = 'AbCdEfGhIjKlMnOp'

function msg (over: Partial<ViewMessage> & Pick<ViewMessage, 'id' | 'sender' | 'content'>): ViewMessage {
  return { room: ROOM, receivers: [], visibility: 'public', reply: 'no_reply', clock: {}, ...over }
}

/** A four-seat debate (chair, two debaters, a judge) whose judge is a person. */
async function humanDebate (): Promise<RoomConfig> {
  const base = await readRoomConfigFile(path.join(examples, 'debate.yaml'))
  return {
    ...base,
    limits: { ...base.limits, turn_timeout_ms: 20_000 },
    phases: undefined,
    agents: base.agents
      .filter(a => ['Chair', 'Pro_Ada', 'Con_Ben', 'Judge'].includes(a.name))
      .map(a => a.name === 'Judge' ? { name: a.name, role: a.role, kind: 'human' as const } : a)
  }
}

function viewOf (config: RoomConfig, self: string, messages: ViewMessage[], trigger: RoomTrigger = { kind: 'turn', turn: 11, round: 2 }): RoomView {
  return { room: ROOM, self, mode: config.mode, config, agents: config.agents.map(a => a.name), messages, trigger, sentThisTurn: [], seed: 's' }
}

const CALL = msg({ id: 'Chair.3', sender: 'Chair', receivers: ['Judge'], reply: 'reply', turn: 8, content: '[verdict-call] Judge, your verdict please: pro or con.' })
const WHISPER = msg({ id: 'Chair.2', sender: 'Chair', receivers: ['Judge'], visibility: 'private', reply: 'reply', turn: 4, content: 'Are you awake?' })

/** Count of `pattern` in `text`. */
const count = (text: string, pattern: RegExp): number => text.match(new RegExp(pattern.source, 'gm'))?.length ?? 0

describe('human room agents', function () {
  this.timeout(30_000)

  it('reads the tiny command syntax into actions, and explains usage errors', async () => {
    const config = await humanDebate()
    const view = viewOf(config, 'Judge', [WHISPER, CALL])
    const parse = (line: string): ReturnType<typeof parseHumanCommand> => parseHumanCommand(line, view)
    // `say` answers the pending public ask; `tell` the pending ask of its receiver; `reply` the oldest one, as asked
    expect(parse('say Pro wins.')).to.deep.equal({ kind: 'action', action: { kind: 'public_info', to: ['Chair'], content: 'Pro wins.', re: 'Chair.3' } })
    expect(parse('tell chair yes, awake')).to.deep.equal({ kind: 'action', action: { kind: 'private_info', to: ['Chair'], content: 'yes, awake', re: 'Chair.2' } })
    expect(parse('reply I am here')).to.deep.equal({ kind: 'action', action: { kind: 'private_info', to: ['Chair'], content: 'I am here', re: 'Chair.2' } })
    expect(parse('ask Pro_Ada,Con_Ben Why?')).to.deep.equal({ kind: 'action', action: { kind: 'public_ask', to: ['Pro_Ada', 'Con_Ben'], content: 'Why?' } })
    expect(parse('ask-private Con_Ben Really?')).to.deep.equal({ kind: 'action', action: { kind: 'private_ask', to: ['Con_Ben'], content: 'Really?' } })
    expect(parse('pass')).to.deep.equal({ kind: 'action', action: { kind: 'pass' } })
    expect(parse('pass too tired')).to.deep.equal({ kind: 'action', action: { kind: 'pass', reason: 'too tired' } })
    expect(parse('HELP')).to.deep.equal({ kind: 'help' })
    expect(parse('  ')).to.deep.equal({ kind: 'empty' })
    const errors: Array<[string, RegExp]> = [
      ['shout hello', /unknown command "shout": say TEXT \| ask NAME\[,NAME\] TEXT/],
      ['say', /usage: say TEXT/],
      ['tell Zed hi', /Zed: not an agent of this room \(agents: Chair, Pro_Ada, Con_Ben, Judge\); usage: tell NAME\[,NAME\] TEXT/],
      ['tell Chair', /usage: tell NAME\[,NAME\] TEXT/],
      ['reply', /usage: reply TEXT/]
    ]
    for (const [line, error] of errors) {
      const command = parse(line)
      expect(command.kind, line).to.equal('error')
      if (command.kind === 'error') expect(command.error, line).to.match(error)
    }
    expect(parseHumanCommand('reply hi', viewOf(config, 'Judge', []))).to.deep.equal({ kind: 'error', error: 'no ask is waiting for your answer: use say or tell' })
  })

  it('prompts on its turn, explains a bad line, and returns the checked action; passes when time is up or input ends', async () => {
    const config = await humanDebate()
    const input = new PassThrough()
    const output = new PassThrough()
    let shown = ''
    output.on('data', d => { shown += String(d) })
    const terminal = new HumanTerminal({ input, output })
    const human = new HumanRoomDecider({ terminal })
    const view = viewOf(config, 'Judge', [CALL])
    const decision = human.decide(view, { signal: AbortSignal.timeout(10_000), deadline: Date.now() + 10_000 })
    await waitFor(() => shown.includes('Judge> '), 5_000, 'the prompt')
    expect(shown).to.match(/== you play Judge: You are the judge/)
    expect(shown).to.match(/== your turn, Judge: turn 11, round 3 \(\d+ s\)/)
    expect(shown).to.include('waiting for your answer: [Chair.3] [t8] Chair -> Judge (public_ask): [verdict-call]')
    input.write('tell Judge note to self\n')
    await waitFor(() => shown.includes('usage error: to: a private message cannot be sent to oneself'), 5_000, 'the usage error')
    input.write(`say ${'x'.repeat(2_001)}\n`)
    await waitFor(() => shown.includes('usage error: content: 2001 characters, the room allows 2000'), 5_000, 'the length error')
    input.write('say [verdict pro] Pro wins.\n')
    expect(await decision).to.deep.equal({ kind: 'public_info', to: ['Chair'], re: 'Chair.3', content: '[verdict pro] Pro wins.' })

    // nothing asked of it in concurrent mode: no prompt at all
    const info = msg({ id: 'Chair.4', sender: 'Chair', receivers: ['Judge'], content: 'fyi' })
    expect(await human.decide({ ...viewOf(config, 'Judge', [CALL, info], { kind: 'message', message: info }), mode: 'concurrent' }, { signal: AbortSignal.timeout(1_000) })).to.deep.equal(PASS)

    const started = Date.now()
    expect(await human.decide(view, { signal: AbortSignal.timeout(300) })).to.deep.equal(PASS)
    expect(Date.now() - started).to.be.below(2_000)
    expect(shown).to.include('== time is up: Judge passes')
    input.end()
    await waitFor(() => terminal.closed, 5_000, 'the input to close')
    expect(await human.decide(view, { signal: AbortSignal.timeout(5_000) })).to.deep.equal(PASS)
    terminal.close()
  })

  it('needs a terminal for a human seat', async () => {
    const config = await humanDebate()
    expect(unsupportedSeats(config)).to.deep.equal([
      'agent Judge is kind: human and there is no terminal to play it from: run `meshtown room join ROOMID --human --as Judge` (or `meshtown room run`) in a terminal, or play the seat with --agent heuristic'
    ])
    const terminal = new HumanTerminal({ input: new PassThrough(), output: new PassThrough() })
    expect(createRoomDecider(config, 'Judge', { human: terminal }).label).to.equal('human')
    expect(createRoomDecider(config, 'Chair', { human: terminal, kind: 'human' }).label).to.equal('human')
    terminal.close()
  })

  /** Plays the judge through the CLI's stdin: passes its first two turns, then gives the verdict (after one bad line). */
  async function playJudge (cli: CliProcess): Promise<void> {
    const turn = /^== your turn, Judge:/
    await waitFor(() => count(cli.stdout, turn) >= 1, 25_000, () => `the first turn; stdout:\n${cli.stdout}\nstderr:\n${cli.stderr}`)
    expect(cli.stdout).to.match(/^\[t0\] Chair -> Pro_Ada, Con_Ben \(public_ask\): \[floor opening/m)
    cli.child.stdin!.write('pass\n')
    await waitFor(() => count(cli.stdout, turn) >= 2, 25_000, () => `the second turn; stdout:\n${cli.stdout}`)
    cli.child.stdin!.write('pass\n')
    await waitFor(() => count(cli.stdout, turn) >= 3, 25_000, () => `the third turn; stdout:\n${cli.stdout}`)
    expect(cli.stdout).to.match(/waiting for your answer: \[Chair\.3\] \[t8\] Chair -> Judge \(public_ask\): \[verdict-call\]/)
    cli.child.stdin!.write('verdict pro\n')
    await waitFor(() => cli.stdout.includes('usage error: unknown command "verdict"'), 10_000, 'the usage error')
    cli.child.stdin!.write('reply [verdict pro] The bridge case was the more concrete.\n')
  }

  describe('from the real CLI, through stdin', function () {
    this.timeout(60_000)
    const pool = new PeerPool()
    const networks: RoomNetworkService[] = []
    const agents: RoomAgent[] = []
    let host: RoomHost | undefined
    let cli: CliProcess | undefined
    afterEach(async () => {
      cli?.kill()
      await cli?.exited
      cli = undefined
      for (const a of agents.splice(0)) await a.stop()
      await host?.stop()
      host = undefined
      for (const n of networks.splice(0)) await n.stop()
      await pool.cleanup()
    })

    it('room run: a kind: human seat takes its turns from the terminal', async () => {
      const dir = await pool.dir()
      const file = path.join(dir, 'human.yaml')
      await writeFile(file, stringify(await humanDebate()))
      cli = new CliProcess(['room', 'run', file, '--seed', 'human', '--data-dir', dir, '--log-level', 'warn'])
      await cli.waitForOutput(/^human seats, played from this terminal: Judge$/m)
      if (existsSync('/proc/self/cmdline')) {
        // a whole room of peers in one process: the larger young generation and the early tier-up (scripts/node-flags.mjs)
        expect(await meshtownNodeFlagsOf(cli.child.pid!)).to.deep.equal(MANY_PEERS_NODE_FLAGS)
      }
      await playJudge(cli)
      expect(await cli.waitForExit(25_000), cli.stderr).to.equal(0)
      expect(cli.stdout, cli.stdout).to.match(/^\[t11\] Judge \(public_info\): \[verdict pro\] The bridge case was the more concrete\.$/m)
      expect(cli.stdout).to.match(/^result: pro wins \(declared by Chair/m)
      expect(cli.stdout).to.match(/^all 4 agents hold the same public transcript/m)
    })

    it('room join ROOMID --human --as NAME: a person takes a seat of a room found by its id', async () => {
      const config = await humanDebate()
      const boot = await pool.create()
      const bootAddr = boot.addresses()[0]!
      const roomPeer = async (): Promise<{ peer: MeshPeer, network: RoomNetworkService }> => {
        const peer = await pool.create({ bootstrap: [bootAddr], gossipsub: ROOM_GOSSIPSUB_OPTIONS })
        await peer.connectBootstrap([bootAddr], { retries: 3, minDelay: 100 })
        const network = await startRoomNetwork(peer)
        networks.push(network)
        return { peer, network }
      }
      const room = newRoomId()
      const creator = await roomPeer()
      host = new RoomHost({ network: creator.network, room, config, creator: creator.peer.peerId, store: new RoomStore(creator.peer.datastore, room), provide: false })
      await host.start()
      await waitFor(async () => await host!.provideNow(AbortSignal.timeout(3_000)).then(() => true, () => false), 15_000, 'the room to be announced in the DHT')

      // the person's seat, from the CLI with nothing but the room id
      cli = new CliProcess(['room', 'join', room, '--human', '--as', 'Judge', '--bootstrap', bootAddr, '--data-dir', await pool.dir(), '--log-level', 'warn', '--join-timeout', '30000', '--linger', '500'])
      const names = ['Chair', 'Pro_Ada', 'Con_Ben']
      const seats = await Promise.all(names.map(async () => await roomPeer()))
      const setups = await Promise.all(names.map(async (name, i) => await joinRoom({ network: seats[i]!.network, libp2p: seats[i]!.peer.libp2p, room, as: name, timeoutMs: 30_000, pollMs: 100 })))
      for (const [i, name] of names.entries()) {
        agents.push(new RoomAgent({ network: seats[i]!.network, setup: setups[i]!, self: name, decider: createRoomDecider(setups[i]!.config, name), store: new RoomStore(seats[i]!.peer.datastore, room), seed: 'join-human' }))
      }
      await Promise.all(agents.map(async a => await a.start()))
      await cli.waitForOutput(new RegExp(`^joined room ${room} \\("town-hall-debate", mode ordered\\) as Judge, played by you$`, 'm'))
      await playJudge(cli)
      const ends = await Promise.all(agents.map(async a => await a.whenEnded()))
      expect(ends[0]).to.deep.include({ reason: 'declared', by: 'Chair', result: 'pro wins' })
      expect(await cli.waitForExit(25_000), cli.stderr).to.equal(0)
      expect(cli.stdout).to.match(/^result: pro wins \(declared by Chair/m)
      const verdict = agents[0]!.publicTranscript().messages.find(m => m.sender === 'Judge' && m.pass !== true)
      expect(verdict).to.deep.include({ re: 'Chair.3', content: '[verdict pro] The bridge case was the more concrete.' })
    })
  })
})
