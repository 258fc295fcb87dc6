import { existsSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import path from 'node:path'
import { Option, type Command } from 'commander'
import { createRoomDecider, unsupportedSeats } from '../../agents/room-agents.js'
import { openDatastore } from '../../node/data-dir.js'
import { MeshtownError, UsageError } from '../../node/errors.js'
import { ALL_INTERFACES_LISTEN, createPeer } from '../../node/peer.js'
import { assertRoomId, newRoomId } from '../../protocols/room/index.js'
import type { RoomMessage } from '../../protocols/room/messages.js'
import { kindOf, type ViewMessage } from '../../rooms/actions.js'
import { readRoomConfigFile, RoomConfigError, type RoomConfig, type RoomMode } from '../../rooms/config.js'
import { publicTranscript, type RoomEnd } from '../../rooms/end-condition.js'
import { JoinError, joinRoom } from '../../rooms/join.js'
import { LocalRoom } from '../../rooms/local-room.js'
import { setupFromManifest } from '../../rooms/manifest.js'
import { RoomAgent } from '../../rooms/room-agent.js'
import { RoomHost } from '../../rooms/room-host.js'
import { ROOM_GOSSIPSUB_OPTIONS, startRoomNetwork } from '../../rooms/room-peer.js'
import { RoomStore } from '../../rooms/room-store.js'
import { addBootstrapOptions, addLogOptions, collect, loggerFor, parsePositiveInt, resolveBootstrap, runUntilSignal, type LogOptions } from '../common.js'

/** A room that cannot be found or joined (no provider, seat taken, never filled). */
export class RoomJoinError extends MeshtownError {
  readonly code = 'ERR_ROOM_JOIN'
  readonly exitCode = 6
  override name = 'RoomJoinError'
}

interface PeerCliOptions extends LogOptions {
  listen: string[]
  dataDir?: string
  bootstrap: string[]
  bootstrapFile?: string
  bootstrapRetries: number
}

async function loadConfig (file: string): Promise<RoomConfig> {
  try {
    return await readRoomConfigFile(file)
  } catch (err: any) {
    if (err instanceof RoomConfigError) throw new UsageError(`invalid room file:\n${err.message}`)
    if (err.code === 'ENOENT') throw new UsageError(`room file ${file} not found`)
    throw err
  }
}

function oneLine (text: string): string {
  return text.replace(/\s+/g, ' ').trim()
}

/** One transcript line: `[t12] Moderator -> Alice (private_ask): ...`. */
export function formatMessage (m: ViewMessage): string {
  const turn = m.turn === undefined ? '' : `[t${m.turn}] `
  if (m.pass === true) return `${turn}${m.sender} passes`
  const kind = kindOf(m)
  const to = m.visibility === 'private' || kind === 'public_ask' ? ` -> ${m.receivers.join(', ')}` : ''
  const end = m.end === undefined ? '' : `  <<end: ${m.end}>>`
  return `${turn}${m.sender}${to} (${kind}): ${oneLine(m.content)}${end}`
}

function describeEnd (end: RoomEnd): string {
  const how = end.reason === 'declared' ? `declared by ${end.by ?? '?'}` : end.reason === 'max_rounds' ? 'round limit' : 'message limit'
  return `${end.result} (${how}, after ${end.count} public messages)`
}

/** Prints public messages (no passes) as an agent delivers them. */
function printPublic (agent: RoomAgent, out: NodeJS.WritableStream): void {
  agent.addEventListener('delivered', (e) => {
    const m = e.detail
    if (m.visibility === 'public' && m.pass !== true) out.write(`${formatMessage(m)}\n`)
  })
}

function addPeerOptions (cmd: Command): Command {
  return addBootstrapOptions(addLogOptions(cmd
    .option('--listen <multiaddr>', 'address to listen on (repeatable; default /ip4/0.0.0.0/tcp/0)', collect, [])))
}

export function roomCommand (program: Command): void {
  const room = program.command('room').description('game rooms: every agent its own peer, no room controller')

  addLogOptions(room.command('run <file>')
    .description('play a room file locally: a bootstrap peer and every agent as its own peer, in this process; prints the public transcript and the result')
    .option('--seed <seed>', 'seed for the heuristic agents (default: the room id)')
    .addOption(new Option('--mode <mode>', 'play the file in another mode than its own').choices(['rounds', 'ordered', 'concurrent']))
    .option('--data-dir <dir>', 'where each agent keeps its data dir and transcript (default .data/rooms/<room id>)'))
    .action(async (file: string, opts: LogOptions & { seed?: string, dataDir?: string, mode?: RoomMode }) => {
      const loaded = await loadConfig(file)
      if (opts.mode === 'rounds' && loaded.limits.max_rounds === undefined) throw new UsageError(`--mode rounds needs limits.max_rounds in ${file}`)
      const config: RoomConfig = opts.mode === undefined ? loaded : { ...loaded, mode: opts.mode }
      const refused = unsupportedSeats(config)
      if (refused.length > 0) throw new UsageError(`room run plays only heuristic agents for now:\n${refused.join('\n')}`)
      const log = loggerFor(opts, 'room')
      const roomId = newRoomId()
      const seed = opts.seed ?? roomId
      const baseDir = opts.dataDir ?? path.join('.data', 'rooms', roomId)
      const out = process.stdout
      out.write(`room ${roomId}: "${config.name}", mode ${config.mode}, ${config.agents.length} agents, seed ${seed}\n`)
      let local: LocalRoom | undefined
      const stopping = new AbortController()
      const onSignal = (): void => { stopping.abort() }
      process.once('SIGINT', onSignal)
      process.once('SIGTERM', onSignal)
      try {
        local = await LocalRoom.start({
          config,
          roomId,
          baseDir,
          seed,
          decider: name => createRoomDecider(config, name),
          keyPass: process.env.MESHTOWN_KEY_PASS,
          log,
          createPeer: async (o) => await createPeer({ ...o, keyPass: process.env.MESHTOWN_KEY_PASS, gossipsub: ROOM_GOSSIPSUB_OPTIONS }),
          // the transcript as the first agent sees it; every agent sees the same public messages
          onAgent: (agent) => { if (agent.self === config.agents[0]?.name) printPublic(agent, out) }
        })
        const ended = await Promise.race([local.whenEnded(), new Promise<undefined>(resolve => stopping.signal.addEventListener('abort', () => { resolve(undefined) }))])
        if (ended === undefined) {
          out.write('interrupted: stopping every agent\n')
          return
        }
        const agents = [...local.agents.values()].map(a => a.agent)
        const key = (a: RoomAgent): string => a.publicTranscript().messages.map(m => m.id).join(' ')
        const deadline = Date.now() + 5_000
        while (Date.now() < deadline && !agents.every(a => key(a) === key(agents[0] as RoomAgent))) await new Promise(resolve => setTimeout(resolve, 50))
        const agree = agents.every(a => key(a) === key(agents[0] as RoomAgent))
        const end = agents[0]?.result as RoomEnd
        out.write(`result: ${describeEnd(end)}\n`)
        out.write(agree
          ? `all ${agents.length} agents hold the same public transcript (${end.count} messages)\n`
          : `warning: the agents' public transcripts differ\n`)
        out.write(`transcripts: meshtown room transcript ${roomId} --data-dir ${baseDir}\n`)
      } finally {
        process.off('SIGINT', onSignal)
        process.off('SIGTERM', onSignal)
        await local?.stop()
      }
    })

  addPeerOptions(room.command('create <file>')
    .description('create a room from a file: prints its id, serves its config, hands out seats and announces it in the DHT until stopped')
    .option('--data-dir <dir>', 'key and room record (default .data/rooms/<room id>/creator)'))
    .action(async (file: string, opts: PeerCliOptions) => {
      const config = await loadConfig(file)
      const log = loggerFor(opts, 'room')
      const bootstrap = await resolveBootstrap(opts)
      const roomId = newRoomId()
      const peer = await createPeer({
        dataDir: opts.dataDir ?? path.join('.data', 'rooms', roomId, 'creator'),
        listen: opts.listen.length > 0 ? opts.listen : ALL_INTERFACES_LISTEN,
        bootstrap,
        logger: log,
        keyPass: process.env.MESHTOWN_KEY_PASS,
        gossipsub: ROOM_GOSSIPSUB_OPTIONS
      })
      const stopping = new AbortController()
      let host: RoomHost | undefined
      const stop = async (): Promise<void> => {
        stopping.abort()
        await host?.stop()
        await peer.stop()
      }
      try {
        const network = await startRoomNetwork(peer)
        host = new RoomHost({ network, room: roomId, config, creator: peer.peerId, store: new RoomStore(peer.datastore, roomId), log })
        await host.start()
        await peer.connectBootstrap(bootstrap, { retries: opts.bootstrapRetries, signal: stopping.signal })
      } catch (err) {
        await stop()
        throw err
      }
      process.stdout.write(`${roomId}\n`)
      log.info(`room ${roomId} ("${config.name}", ${config.agents.length} seats: ${config.agents.map(a => a.name).join(', ')}); join with: meshtown room join ${roomId} --as NAME`)
      await runUntilSignal(stop, log)
    })

  addPeerOptions(room.command('join <roomId>')
    .description('take a seat in a room found by its id alone, play it to the end, save the transcript')
    .requiredOption('--as <name>', 'the agent (seat) to play')
    .addOption(new Option('--agent <kind>', 'play the seat with this kind of agent instead of the one in the room file').choices(['heuristic']))
    .option('--human', 'play the seat yourself from the terminal (not available yet)')
    .option('--seed <seed>', 'seed for a heuristic agent (default: the room id, as every agent of a local run)')
    .option('--data-dir <dir>', 'key and transcript (default .data/rooms/<room id>/<name>)')
    .option('--join-timeout <ms>', 'give up finding the room and waiting for the other seats after this long', parsePositiveInt, 300_000)
    .option('--linger <ms>', 'after the end, keep answering catch-up requests this long before exiting', parsePositiveInt, 3_000))
    .action(async (roomIdArg: string, opts: PeerCliOptions & { as: string, agent?: string, human?: boolean, seed?: string, joinTimeout: number, linger: number }) => {
      const roomId = assertRoomId(roomIdArg)
      if (opts.human === true) throw new UsageError('human agents (--human) are not available yet: join with --agent heuristic, or wait for the REPL')
      const log = loggerFor(opts, 'room')
      const bootstrap = await resolveBootstrap(opts)
      const peer = await createPeer({
        dataDir: opts.dataDir ?? path.join('.data', 'rooms', roomId, opts.as),
        listen: opts.listen.length > 0 ? opts.listen : ALL_INTERFACES_LISTEN,
        bootstrap,
        logger: log,
        keyPass: process.env.MESHTOWN_KEY_PASS,
        gossipsub: ROOM_GOSSIPSUB_OPTIONS
      })
      const stopping = new AbortController()
      let agent: RoomAgent | undefined
      const network = await startRoomNetwork(peer).catch(async (err) => { await peer.stop(); throw err })
      const stop = async (): Promise<void> => {
        stopping.abort()
        await agent?.stop()
        await network.stop()
        await peer.stop()
      }
      const onSignal = (): void => { void stop() }
      process.once('SIGINT', onSignal)
      process.once('SIGTERM', onSignal)
      try {
        await peer.connectBootstrap(bootstrap, { retries: opts.bootstrapRetries, signal: stopping.signal })
        const store = new RoomStore(peer.datastore, roomId)
        const saved = await store.loadManifest()
        let setup
        if (saved?.sealed === true && (await store.loadSelf()) === opts.as) {
          // a restart: the room and our seat are in the data dir, the transcript too
          setup = setupFromManifest(saved)
          log.info(`room ${roomId}: resuming as ${opts.as} from ${peer.dataDir}`)
        } else {
          try {
            setup = await joinRoom({
              network,
              libp2p: peer.libp2p,
              room: roomId,
              as: opts.as,
              timeoutMs: opts.joinTimeout,
              signal: stopping.signal,
              log,
              onWaiting: (taken, total) => { log.info(`room ${roomId}: waiting for the other agents (${taken}/${total} seats taken)`) }
            })
          } catch (err: any) {
            if (err instanceof JoinError) throw new RoomJoinError(err.message)
            throw err
          }
        }
        const decider = createRoomDecider(setup.config, opts.as, { forceHeuristic: opts.agent === 'heuristic' })
        agent = new RoomAgent({ network, setup, self: opts.as, decider, store, seed: opts.seed, log })
        printPublic(agent, process.stdout)
        process.stdout.write(`joined room ${roomId} ("${setup.config.name}", mode ${setup.config.mode}) as ${opts.as}\n`)
        await agent.start()
        void network.provide(roomId, AbortSignal.any([stopping.signal, AbortSignal.timeout(10_000)])).catch(() => {})
        const end = await Promise.race([agent.whenEnded(), new Promise<undefined>(resolve => stopping.signal.addEventListener('abort', () => { resolve(undefined) }))])
        if (end === undefined) return
        process.stdout.write(`result: ${describeEnd(end)}\n`)
        await new Promise(resolve => setTimeout(resolve, opts.linger))
      } finally {
        process.off('SIGINT', onSignal)
        process.off('SIGTERM', onSignal)
        await stop()
      }
    })

  addLogOptions(room.command('transcript <roomId>')
    .description('print what an agent saw of a room (its public transcript, its private messages, the result) from its data dir')
    .requiredOption('--data-dir <dir>', 'an agent\'s data dir, or the directory of a `room run` (every agent in it)')
    .option('--json', 'one JSON object per agent'))
    .action(async (roomIdArg: string, opts: LogOptions & { dataDir: string, json?: boolean }) => {
      const roomId = assertRoomId(roomIdArg)
      const dirs = await agentDirs(opts.dataDir)
      if (dirs.length === 0) throw new UsageError(`no data dir at ${opts.dataDir}`)
      let found = 0
      for (const dir of dirs) {
        const datastore = await openDatastore(dir)
        try {
          const store = new RoomStore(datastore, roomId)
          const log = await store.loadLog()
          const manifest = await store.loadManifest()
          if (log.length === 0 || manifest === undefined) continue
          found++
          printTranscript(process.stdout, {
            self: await store.loadSelf() ?? path.basename(dir),
            config: setupFromManifest(manifest).config,
            log,
            result: await store.loadResult(),
            room: roomId
          }, opts.json === true)
        } finally {
          await datastore.close()
        }
      }
      if (found === 0) throw new UsageError(`no transcript of room ${roomId} in ${opts.dataDir}`)
    })
}

/** `dir` itself when it is a data dir, else its subdirectories that are (a `room run` layout). */
async function agentDirs (dir: string): Promise<string[]> {
  if (existsSync(path.join(dir, 'datastore'))) return [dir]
  if (!existsSync(dir)) return []
  const entries = await readdir(dir, { withFileTypes: true })
  return entries.filter(e => e.isDirectory() && existsSync(path.join(dir, e.name, 'datastore'))).map(e => path.join(dir, e.name)).sort()
}

function printTranscript (out: NodeJS.WritableStream, t: { self: string, room: string, config: RoomConfig, log: RoomMessage[], result?: RoomEnd }, json: boolean): void {
  const publicOnes = publicTranscript(t.config, t.log.filter(m => m.visibility === 'public')).messages
  const privateOnes = t.log.filter(m => m.visibility === 'private')
  if (json) {
    const strip = ({ sig: _sig, room: _room, ...m }: RoomMessage): Omit<RoomMessage, 'sig' | 'room'> => m
    out.write(JSON.stringify({ room: t.room, agent: t.self, result: t.result ?? null, public: publicOnes.map(strip), private: privateOnes.map(strip) }) + '\n')
    return
  }
  out.write(`# ${t.self} in room ${t.room} ("${t.config.name}", mode ${t.config.mode})\n`)
  for (const m of publicOnes) if (m.pass !== true) out.write(`${formatMessage(m)}\n`)
  if (privateOnes.length > 0) {
    out.write(`## private messages ${t.self} sent or received\n`)
    for (const m of privateOnes) out.write(`${formatMessage(m)}\n`)
  }
  out.write(t.result === undefined ? 'result: (not over when this agent stopped)\n' : `result: ${describeEnd(t.result)}\n`)
}

