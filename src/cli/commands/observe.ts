import path from 'node:path'
import type { Command } from 'commander'
import { UsageError } from '../../node/errors.js'
import { ALL_INTERFACES_LISTEN, createPeer } from '../../node/peer.js'
import { parseBootstrapAddr, peerIdOfAddr } from '../../node/addresses.js'
import { assertRoomId } from '../../protocols/room/room-id.js'
import { assertTownName } from '../../protocols/town-directory/index.js'
import { OBSERVER_GOSSIPSUB_OPTIONS, PortInUseError, startDashboard, type Dashboard } from '../../observer/index.js'
import { addBootstrapOptions, addLogOptions, collect, loggerFor, parsePort, resolveBootstrap, runUntilSignal, type LogOptions } from '../common.js'

interface ObserveCommandOptions extends LogOptions {
  town: string
  httpPort: number
  room: string[]
  listen: string[]
  dataDir?: string
  bootstrap: string[]
  bootstrapFile?: string
  bootstrapRetries: number
}

export function observeCommand (program: Command): void {
  addBootstrapOptions(addLogOptions(program.command('observe')
    .description('watch a town live in the browser: an observer peer (never votes, never trades) serving a dashboard on 127.0.0.1')
    .requiredOption('--town <name>', 'the town to watch')
    .option('--http-port <port>', 'dashboard port on 127.0.0.1 (0 = any free port)', parsePort, 0)
    .option('--room <id>', 'also show this room\'s public transcript (repeatable)', collect, [])
    .option('--listen <multiaddr>', 'address to listen on (repeatable; default /ip4/0.0.0.0/tcp/0)', collect, [])
    .option('--data-dir <dir>', 'key, peer store and the followed clock (default .data/<town>/observer)')))
    .action(async (opts: ObserveCommandOptions) => {
      const town = assertTownName(opts.town)
      const rooms = opts.room.map(assertRoomId)
      const log = loggerFor(opts, 'observer')
      const bootstrap = await resolveBootstrap(opts)
      const bootstrapPeers = bootstrap.flatMap(a => { const id = peerIdOfAddr(parseBootstrapAddr(a)); return id == null ? [] : [id] })
      const peer = await createPeer({
        dataDir: opts.dataDir ?? path.join('.data', town, 'observer'),
        listen: opts.listen.length > 0 ? opts.listen : ALL_INTERFACES_LISTEN,
        bootstrap,
        town,
        logger: log,
        keyPass: process.env.MESHTOWN_KEY_PASS,
        gossipsub: OBSERVER_GOSSIPSUB_OPTIONS
      })
      let dashboard: Dashboard | undefined
      const stopping = new AbortController()
      const stop = async (): Promise<void> => {
        stopping.abort()
        await dashboard?.stop()
        await peer.stop()
      }
      try {
        dashboard = await startDashboard(peer, { town, rooms, bootstrapPeers, httpPort: opts.httpPort })
        process.stdout.write(`PeerId: ${peer.peerId.toString()}\n${peer.addresses().join('\n')}\ndashboard: ${dashboard.url}\n`)
        const via = await peer.connectBootstrap(bootstrap, { retries: opts.bootstrapRetries, signal: stopping.signal })
        log.info(`observing town ${town} via ${via}: open ${dashboard.url}`)
      } catch (err) {
        await stop()
        if (err instanceof PortInUseError) throw new UsageError(err.message)
        throw err
      }
      await runUntilSignal(stop, log)
    })
}
