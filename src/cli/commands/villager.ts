import path from 'node:path'
import { Option, type Command } from 'commander'
import { UsageError } from '../../node/errors.js'
import { DEFAULT_EVICT_AFTER_MS } from '../../protocols/clock/constants.js'
import { assertTownName } from '../../protocols/town-directory/index.js'
import { startControlApi, villagerRoutes } from '../../town/control-api.js'
import { OCCUPATIONS, type Occupation } from '../../town/rules.js'
import { VillagerError } from '../../town/villager-service.js'
import { runRepl } from '../repl/index.js'
import { addAgentOptions, assertAgentFlags, startAgentFromFlags, type AgentFlags } from './agent.js'
import { startVillagerNode, type VillagerNode } from '../../town/villager-node.js'
import { addTownPeerOptions, loggerFor, parsePort, parsePositiveInt, runUntilSignal, startTownPeer, type TownPeerOptions } from '../common.js'

interface VillagerCommandOptions extends TownPeerOptions, AgentFlags {
  name?: string
  occupation?: Occupation
  gender: string
  personality: string
  apiPort: number
  apiSocket?: string
  evictAfter: number
  voteRelay: boolean
  repl: boolean
}

export function villagerCommand (program: Command): void {
  addAgentOptions(addTownPeerOptions(program.command('villager')
    .description('run a villager peer: its own state, its votes on the town clock, and a local control API')
    .option('--name <name>', 'villager name (creates the villager on first start)')
    .addOption(new Option('--occupation <occupation>', 'what the villager produces').choices(OCCUPATIONS as unknown as string[]))
    .option('--gender <gender>', 'gender', 'unspecified')
    .option('--personality <text>', 'a few words of personality', '')
    .option('--api-port <port>', 'control API port on 127.0.0.1 (0 = any free port)', parsePort, 0)
    .option('--api-socket <path>', 'serve the control API on this Unix socket instead of a port')
    .option('--no-repl', 'do not open the interactive prompt even on a terminal')
    .option('--evict-after <ms>', 'sign the eviction of a member silent this long in a period', parsePositiveInt, DEFAULT_EVICT_AFTER_MS)
    .option('--no-vote-relay', 'publish this villager\'s votes itself instead of handing them to the day\'s relay, and carry no one else\'s (the flooded barrier, for comparison)'),
  { role: 'live in', dataDir: 'key, villager state, votes (default .data/<town>/<name>)' }), { defaultKind: 'none' })
    .action(async (opts: VillagerCommandOptions) => {
      assertTownName(opts.town)
      if (opts.name != null && opts.occupation == null) throw new UsageError('--name needs --occupation (farmer, chef or carpenter) to create a villager')
      if (opts.name == null && opts.dataDir == null) throw new UsageError('give --name (and --occupation) for a new villager, or --data-dir of an existing one')
      assertAgentFlags(opts)
      const withRepl = process.stdin.isTTY && process.stdout.isTTY && opts.repl !== false
      // the prompt shows time, trades and messages itself: keep the log for what goes wrong
      const log = loggerFor({ ...opts, logLevel: withRepl && opts.logLevel === 'info' ? 'warn' : opts.logLevel }, opts.name ?? 'villager')
      const { peer, town, bootstrap } = await startTownPeer(opts, t => path.join('.data', t, opts.name!), log)
      let node: VillagerNode | undefined
      let api: Awaited<ReturnType<typeof startControlApi>> | undefined
      let agent: ReturnType<typeof startAgentFromFlags>
      const stopping = new AbortController()
      const stop = async (): Promise<void> => {
        stopping.abort()
        await agent?.stop()
        await api?.close()
        await node?.stop()
        await peer.stop()
      }
      try {
        node = await startVillagerNode(peer, { town, evictAfterMs: opts.evictAfter, relayVotes: opts.voteRelay })
        const { villager, trades, messaging } = node
        const existing = villager.villager
        if (existing != null && opts.name != null && existing.name !== opts.name) {
          throw new UsageError(`the data dir ${peer.dataDir} holds villager ${existing.name}, not ${opts.name}: omit --name or choose another --data-dir`)
        }
        if (existing == null && opts.name != null) {
          try {
            await villager.create({ name: opts.name, occupation: opts.occupation!, gender: opts.gender, personality: opts.personality })
          } catch (err) {
            if (err instanceof VillagerError) throw new UsageError(err.message)
            throw err
          }
        }
        api = await startControlApi(villagerRoutes(peer, villager, { trades, messaging }), opts.apiSocket != null ? { socket: opts.apiSocket } : opts.apiPort)
        const v = villager.villager
        process.stdout.write(`PeerId: ${peer.peerId.toString()}\n${peer.addresses().join('\n')}\ncontrol API: ${api.url}\n`)
        process.stdout.write(v != null ? `villager: ${v.name} the ${v.occupation}\n` : 'villager: none yet (POST /villager to create one)\n')
        villager.addEventListener('advance', (e) => {
          const { to, adopted } = e.detail
          log.info(`town time is now day ${to.day} ${to.period}${adopted ? ' (caught up from a neighbour)' : ''}`)
        })
        trades.addEventListener('trade', (e) => {
          const t = e.detail
          const other = t.role === 'initiator' ? t.counterpartyName : t.initiatorName
          log.info(`trade ${t.id} with ${other}: ${t.side} ${t.quantity} ${t.item} at ${t.unitPrice} is ${t.status}`)
        })
        messaging.addEventListener('message', (e) => { log.info(`${e.detail.kind} message from ${e.detail.fromName}: ${e.detail.text}`) })
        const via = await peer.connectBootstrap(bootstrap, { retries: opts.bootstrapRetries, signal: stopping.signal })
        log.info(`joined town ${town} via ${via}`)
        agent = startAgentFromFlags(opts, api.url, log)
      } catch (err) {
        await stop()
        if (err instanceof VillagerError && err.code === 'PORT_IN_USE') throw new UsageError(err.message)
        throw err
      }
      if (withRepl) {
        // a person at the terminal plays this villager: Ctrl-C belongs to the prompt, and
        // leaving the prompt (quit, Ctrl-D) stops the peer
        const repl = runRepl({ apiUrl: api!.url, input: process.stdin, output: process.stdout, interactive: true, signal: stopping.signal })
        await Promise.race([repl.then(stop), runUntilSignal(stop, log)])
      } else {
        await runUntilSignal(stop, log)
      }
    })
}
