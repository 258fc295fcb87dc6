import path from 'node:path'
import type { Command } from 'commander'
import { ALL_INTERFACES_LISTEN, createPeer } from '../../node/peer.js'
import { createMerchant, type PriceTable } from '../../protocols/merchant/index.js'
import { assertTownName } from '../../protocols/town-directory/index.js'
import { ITEMS } from '../../town/rules.js'
import { addBootstrapOptions, addLogOptions, collect, loggerFor, resolveBootstrap, runUntilSignal, type LogOptions } from '../common.js'

interface MerchantCommandOptions extends LogOptions {
  town: string
  listen: string[]
  dataDir?: string
  bootstrap: string[]
  bootstrapFile?: string
  bootstrapRetries: number
}

/** The price table as the README shows it: one line per item the merchant trades, `-` where it does not. */
export function formatPriceTable (prices: PriceTable): string {
  const rows = ITEMS
    .filter(item => prices.sells[item] !== undefined || prices.buys[item] !== undefined)
    .map(item => [item, String(prices.sells[item] ?? '-'), String(prices.buys[item] ?? '-')])
  const header = ['item', 'sells at', 'buys at']
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => r[i]!.length)))
  const line = (cells: string[]): string => cells.map((c, i) => i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)).join('  ').trimEnd()
  return ['Prices (coins per unit):', line(header), ...rows.map(line)].join('\n')
}

export function merchantCommand (program: Command): void {
  addBootstrapOptions(addLogOptions(program.command('merchant')
    .description('run the town merchant: fixed published prices, villagers buy from and sell to it')
    .requiredOption('--town <name>', 'the town to serve')
    .option('--listen <multiaddr>', 'address to listen on (repeatable; default /ip4/0.0.0.0/tcp/0)', collect, [])
    .option('--data-dir <dir>', 'key, peer store, ledger and totals (default .data/<town>/merchant)')))
    .action(async (opts: MerchantCommandOptions) => {
      const town = assertTownName(opts.town)
      const log = loggerFor(opts, 'merchant')
      const bootstrap = await resolveBootstrap(opts)
      const peer = await createPeer({
        dataDir: opts.dataDir ?? path.join('.data', town, 'merchant'),
        listen: opts.listen.length > 0 ? opts.listen : ALL_INTERFACES_LISTEN,
        bootstrap,
        town,
        logger: log,
        keyPass: process.env.MESHTOWN_KEY_PASS
      })
      const merchant = createMerchant(peer)
      const stopping = new AbortController()
      const stop = async (): Promise<void> => {
        stopping.abort()
        // before the peer: the merchant finishes its ledger writes into the peer's datastore
        await merchant.stop()
        await peer.stop()
      }
      try {
        // open for business before joining, so villagers that identify us see the protocol
        await merchant.start()
        process.stdout.write(`PeerId: ${peer.peerId.toString()}\n${peer.addresses().join('\n')}\n${formatPriceTable(merchant.prices)}\n`)
        const { sales, coinsIn, coinsOut } = merchant.stats()
        if (sales > 0) log.info(`ledger so far: ${sales} sales, ${coinsIn} coins in, ${coinsOut} coins out`)
        const via = await peer.connectBootstrap(bootstrap, { retries: opts.bootstrapRetries, signal: stopping.signal })
        log.info(`merchant of town ${town} open, joined via ${via}`)
      } catch (err) {
        await stop()
        throw err
      }
      await runUntilSignal(stop, log)
    })
}
