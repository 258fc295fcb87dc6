import { existsSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import path from 'node:path'
import { Option, type Command } from 'commander'
import { createRoomDecider, seatsOfKind, unsupportedSeats } from '../../agents/room-agents.js'
import { HumanTerminal } from '../../agents/room-human.js'
import { resolveLlmEndpoint } from '../../agents/room-llm.js'
import { openDatastore } from '../../node/data-dir.js'
import { MeshtownError, UsageError } from '../../node/errors.js'
import { ALL_INTERFACES_LISTEN, createPeer } from '../../node/peer.js'
import { assertRoomId, newRoomId } from '../../protocols/room/index.js'
import type { RoomMessage } from '../../protocols/room/messages.js'
import { decideBudgetMs } from '../../rooms/actions.js'
import { readRoomConfigFile, RoomConfigError, type AgentKind, type RoomConfig, type RoomMode } from '../../rooms/config.js'
import { publicTranscript, type RoomEnd } from '../../rooms/end-condition.js'
import { formatMessage } from '../../rooms/format.js'
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

export { formatMessage }

async function loadConfig (file: string): Promise<RoomConfig> {
  try {
    // an llm seat that names no model (and no default_model) plays $OPENAI_MODEL
    const envModel = process.env.OPENAI_MODEL?.trim()
    return await readRoomConfigFile(file, envModel === undefined || envModel === '' ? {} : { defaultModel: envModel })
  } catch (err: any) {
    if (err instanceof RoomConfigError) throw new UsageError(`invalid room file:\n${err.message}`)
    if (err.code === 'ENOENT') throw new UsageError(`room file ${file} not found`)
    throw err
  }
}

function describeEnd (end: RoomEnd): string {
  const how = end.reason === 'declared' ? `declared by ${end.by ?? '?'}` : end.reason === 'max_rounds' ? 'round limit' : 'message limit'
  return `${end.result} (${how}, after ${end.count} public messages)`
}

type Print = (line: string) => void

function printTo (out: NodeJS.WritableStream, terminal?: HumanTerminal): Print {
  return terminal === undefined ? (line) => { out.write(`${line}\n`) } : (line) => { terminal.show(line) }
}

/** Prints public messages (no passes) as an agent delivers them. */
function printPublic (agent: RoomAgent, print: Print): void {
  agent.addEventListener('delivered', (e) => {
    const m = e.detail
    if (m.visibility === 'public' && m.pass !== true) print(formatMessage(m))
  })
}

/** Prints the private messages an agent sends or receives, each once however many printers see it. */
function printPrivate (agent: RoomAgent, print: Print, printed: Set<string>): void {
  agent.addEventListener('delivered', (e) => {
    const m = e.detail
    if (m.visibility !== 'private' || printed.has(m.id)) return
    printed.add(m.id)
    print(formatMessage(m))
  })
}

/** The decider log: the room logger, one line per event. */
function deciderLog (log: ReturnType<typeof loggerFor>): { info: (m: string) => void, warn: (m: string) => void, debug: (m: string) => void } {
  return { info: (m) => { log.info(m) }, warn: (m) => { log.warn(m) }, debug: (m) => { log.debug(m) } }
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
      const log = loggerFor(opts, 'room')
      const humans = seatsOfKind(config, 'human')
      // human seats play from this terminal, one question at a time
      const terminal = humans.length > 0 ? new HumanTerminal() : undefined
      const deciderOptions = { human: terminal, log: deciderLog(log) }
      const refused = unsupportedSeats(config, deciderOptions)
      if (refused.length > 0) {
        terminal?.close()
        throw new UsageError(`cannot play every seat of ${file}:\n${refused.join('\n')}`)
      }
      const roomId = newRoomId()
      const seed = opts.seed ?? roomId
      const baseDir = opts.dataDir ?? path.join('.data', 'rooms', roomId)
      const out = process.stdout
      const print = printTo(out, terminal)
      out.write(`room ${roomId}: "${config.name}", mode ${config.mode}, ${config.agents.length} agents, seed ${seed}\n`)
      if (humans.length > 0) out.write(`human seats, played from this terminal: ${humans.join(', ')}\n`)
      const printedPrivate = new Set<string>()
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
          decider: name => createRoomDecider(config, name, deciderOptions),
          keyPass: process.env.MESHTOWN_KEY_PASS,
          log,
          createPeer: async (o) => await createPeer({ ...o, keyPass: process.env.MESHTOWN_KEY_PASS, gossipsub: ROOM_GOSSIPSUB_OPTIONS }),
          // the transcript as the first agent sees it; every agent sees the same public messages
          onAgent: (agent) => {
            if (agent.self === config.agents[0]?.name) printPublic(agent, print)
            // a person sees the private messages of their own seats too
            if (humans.includes(agent.self)) printPrivate(agent, print, printedPrivate)
          }
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
        terminal?.close()
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
    .addOption(new Option('--agent <kind>', 'play the seat with this kind of agent instead of the one in the room file (llm: $OPENAI_BASE_URL, $OPENAI_API_KEY)').choices(['heuristic', 'llm']))
    .option('--model <model>', 'for a seat played by a model: the model (default: the seat\'s model, the room\'s default_model, else $OPENAI_MODEL)')
    .option('--human', 'play the seat yourself: the messages you can see are printed as they arrive, and you type yours when it is your turn')
    .option('--seed <seed>', 'seed for a heuristic agent (default: the room id, as every agent of a local run)')
    .option('--data-dir <dir>', 'key and transcript (default .data/rooms/<room id>/<name>)')
    .option('--join-timeout <ms>', 'give up finding the room and waiting for the other seats after this long', parsePositiveInt, 300_000)
    .option('--linger <ms>', 'after the end, keep answering catch-up requests this long before exiting', parsePositiveInt, 3_000))
    .action(async (roomIdArg: string, opts: PeerCliOptions & { as: string, agent?: 'heuristic' | 'llm', model?: string, human?: boolean, seed?: string, joinTimeout: number, linger: number }) => {
      const roomId = assertRoomId(roomIdArg)
      if (opts.human === true && opts.agent !== undefined) throw new UsageError('--human and --agent both say who plays the seat: give one of them')
      if (opts.model !== undefined && (opts.human === true || opts.agent === 'heuristic')) throw new UsageError('--model is for a seat played by a model (an llm seat, or --agent llm)')
      // refuse before taking a seat that could then not be played
      if (opts.agent === 'llm') resolveLlmEndpoint(process.env)
      const override: AgentKind | undefined = opts.human === true ? 'human' : opts.agent
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
      let terminal: HumanTerminal | undefined
      const network = await startRoomNetwork(peer).catch(async (err) => { await peer.stop(); throw err })
      const stop = async (): Promise<void> => {
        stopping.abort()
        terminal?.close()
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
        const kind = override ?? setup.config.agents.find(a => a.name === opts.as)?.kind ?? 'heuristic'
        if (kind === 'human') terminal = new HumanTerminal()
        const decider = createRoomDecider(setup.config, opts.as, {
          kind,
          human: terminal,
          log: deciderLog(log),
          ...(opts.model === undefined ? {} : { llm: { model: opts.model } })
        })
        agent = new RoomAgent({ network, setup, self: opts.as, decider, store, seed: opts.seed, log, timing: { decideTimeoutMs: decideBudgetMs(setup.config.limits, kind) } })
        const print = printTo(process.stdout, terminal)
        printPublic(agent, print)
        if (kind === 'human') printPrivate(agent, print, new Set())
        process.stdout.write(`joined room ${roomId} ("${setup.config.name}", mode ${setup.config.mode}) as ${opts.as}${kind === 'human' ? ', played by you' : ''}\n`)
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

