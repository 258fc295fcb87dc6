import path from 'node:path'
import type { Command } from 'commander'
import { assertTownName } from '../../protocols/town-directory/index.js'
import { ALL_INTERFACES_LISTEN, createPeer } from '../../node/peer.js'
import { addBootstrapOptions, addLogOptions, collect, loggerFor, resolveBootstrap, runUntilSignal, type LogOptions } from '../common.js'

interface PeerCommandOptions extends LogOptions {
  town: string
  listen: string[]
  dataDir?: string
  bootstrap: string[]
  bootstrapFile?: string
  bootstrapRetries: number
}

export function peerCommand (program: Command): void {
  addBootstrapOptions(addLogOptions(program.command('peer')
    .description('run a plain town peer that finds the other members of its town and reports them')
    .requiredOption('--town <name>', 'the town to join')
    .option('--listen <multiaddr>', 'address to listen on (repeatable; default /ip4/0.0.0.0/tcp/0)', collect, [])
    .option('--data-dir <dir>', 'key, peer store and DHT records (default .data/<town>/peer)')))
    .action(async (opts: PeerCommandOptions) => {
      const town = assertTownName(opts.town)
      const log = loggerFor(opts, 'peer')
      const bootstrap = await resolveBootstrap(opts)
      const peer = await createPeer({
        dataDir: opts.dataDir ?? path.join('.data', town, 'peer'),
        listen: opts.listen.length > 0 ? opts.listen : ALL_INTERFACES_LISTEN,
        bootstrap,
        town,
        logger: log,
        keyPass: process.env.MESHTOWN_KEY_PASS
      })
      process.stdout.write(`PeerId: ${peer.peerId.toString()}\n${peer.addresses().join('\n')}\n`)
      peer.directory?.addEventListener('member:found', (e) => {
        process.stdout.write(`found ${e.detail.toString()}\n`)
      })
      const stopping = new AbortController()
      const stop = async (): Promise<void> => { stopping.abort(); await peer.stop() }
      try {
        const via = await peer.connectBootstrap(bootstrap, { retries: opts.bootstrapRetries, signal: stopping.signal })
        log.info(`joined town ${town} via ${via}`)
      } catch (err) {
        await peer.stop()
        throw err
      }
      await runUntilSignal(stop, log)
    })
}
