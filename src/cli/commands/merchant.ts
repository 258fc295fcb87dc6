import path from 'node:path'
import type { Command } from 'commander'
import { createMerchant, type PriceTable } from '../../protocols/merchant/index.js'
import { startPeerStatus, type TownStatusPublisher } from '../../protocols/town-status/index.js'
import { ITEMS } from '../../town/rules.js'
import { addTownPeerOptions, loggerFor, runUntilSignal, startTownPeer, type TownPeerOptions } from '../common.js'


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
  addTownPeerOptions(program.command('merchant')
    .description('run the town merchant: fixed published prices, villagers buy from and sell to it'),
  { role: 'serve', dataDir: 'key, peer store, ledger and totals (default .data/<town>/merchant)' })
    .action(async (opts: TownPeerOptions) => {
      const log = loggerFor(opts, 'merchant')
      const { peer, town, bootstrap } = await startTownPeer(opts, t => path.join('.data', t, 'merchant'), log)
      const merchant = createMerchant(peer)
      let status: TownStatusPublisher | undefined
      const stopping = new AbortController()
      const stop = async (): Promise<void> => {
        stopping.abort()
        await status?.stop()
        // before the peer: the merchant finishes its ledger writes into the peer's datastore
        await merchant.stop()
        await peer.stop()
      }
      try {
        // open for business before joining, so villagers that identify us see the protocol
        await merchant.start()
        status = await startPeerStatus(peer, { town, role: 'merchant' })
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
