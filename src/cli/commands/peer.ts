import path from 'node:path'
import type { Command } from 'commander'
import { addTownPeerOptions, loggerFor, runUntilSignal, startTownPeer, type TownPeerOptions } from '../common.js'


export function peerCommand (program: Command): void {
  addTownPeerOptions(program.command('peer')
    .description('run a plain town peer that finds the other members of its town and reports them'),
  { role: 'join', dataDir: 'key, peer store and DHT records (default .data/<town>/peer)' })
    .action(async (opts: TownPeerOptions) => {
      const log = loggerFor(opts, 'peer')
      const { peer, town, bootstrap } = await startTownPeer(opts, t => path.join('.data', t, 'peer'), log)
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
