import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { Command } from 'commander'
import { createPeer } from '../../node/peer.js'
import { addLogOptions, collect, DEFAULT_BOOTSTRAP_FILE, loggerFor, PROJECT_ROOT, runUntilSignal, type LogOptions } from '../common.js'

export const DEFAULT_BOOTSTRAP_LISTEN = '/ip4/0.0.0.0/tcp/4710'
export const DEFAULT_BOOTSTRAP_DATA_DIR = path.join(PROJECT_ROOT, 'bootstrap', '.data')

interface BootstrapOptions extends LogOptions {
  listen: string[]
  dataDir: string
  addrsFile: string
}

export function bootstrapCommand (program: Command): void {
  addLogOptions(program.command('bootstrap')
    .description('run a bootstrap peer: a DHT server other peers are told about, so they can find their town')
    .option('--listen <multiaddr>', `address to listen on (repeatable; default ${DEFAULT_BOOTSTRAP_LISTEN})`, collect, [])
    .option('--data-dir <dir>', 'key and DHT records live here; the same dir keeps the same PeerId', DEFAULT_BOOTSTRAP_DATA_DIR)
    .option('--addrs-file <file>', 'write the full multiaddrs here for other peers to read', DEFAULT_BOOTSTRAP_FILE))
    .action(async (opts: BootstrapOptions) => {
      const log = loggerFor(opts, 'bootstrap')
      const peer = await createPeer({
        dataDir: opts.dataDir,
        listen: opts.listen.length > 0 ? opts.listen : [DEFAULT_BOOTSTRAP_LISTEN],
        logger: log,
        keyPass: process.env.MESHTOWN_KEY_PASS
      })
      const addrs = peer.addresses()
      process.stdout.write(`PeerId: ${peer.peerId.toString()}\n${addrs.join('\n')}\n`)
      await mkdir(path.dirname(opts.addrsFile), { recursive: true })
      await writeFile(opts.addrsFile, addrs.join('\n') + '\n')
      log.info(`bootstrap peer up; addresses written to ${opts.addrsFile}`)
      peer.libp2p.addEventListener('peer:connect', (e) => { log.debug(`connected ${e.detail.toString()}`) })
      await runUntilSignal(async () => { await peer.stop() }, log)
    })
}
