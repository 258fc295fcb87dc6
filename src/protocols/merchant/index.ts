/**
 * The merchant: an NPC peer with fixed, published prices that villagers buy from
 * and sell to by direct request/response on MERCHANT_PROTOCOL (JSON over wire.ts).
 * `{op:'prices'}` returns the price table; `{op:'buy'|'sell', requestId, item,
 * quantity}` settles an order. An order is idempotent per (villager, requestId): a
 * retry gets the stored result, and the same requestId with other contents is
 * refused with REQUEST_ID_REUSED.
 */
import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Datastore } from 'interface-datastore'
import type { Logger } from '../../node/logger.js'
import type { MeshLibp2p } from '../../node/peer.js'
import type { Item, MerchantPrices } from '../../town/rules.js'
import { request, WireError } from '../wire.js'
import {
  DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_WAIT_FOR_MERCHANT_MS, MAX_MERCHANT_MESSAGE_BYTES, MERCHANT_PROTOCOL
} from './constants.js'
import {
  MerchantService, OrderResultSchema, PriceTableSchema,
  type MerchantStats, type OrderOp, type OrderResult, type PriceTable
} from './merchant-service.js'

export * from './constants.js'
export {
  MerchantService, MERCHANT_ERROR_CODES, MerchantRequestSchema, OrderRequestSchema, PricesRequestSchema,
  OrderResultSchema, PriceTableSchema, MerchantStatsSchema, RequestIdSchema, OrderQuantitySchema,
  emptyStats, validatePriceTable, ledgerKey,
  type MerchantErrorCode, type MerchantRequest, type OrderRequest, type OrderOp, type OrderResult,
  type PriceTable, type MerchantStats
} from './merchant-service.js'

export interface MerchantInit {
  /** Unit prices; MERCHANT_PRICES by default. Validated: whole coins from 1, buying below selling. */
  prices?: MerchantPrices
  /** The merchant gives up on one request after this many ms. */
  handlerTimeoutMs?: number
  /** Concurrent merchant requests per connection. */
  maxInboundStreams?: number
}

/** What the merchant runs on; a MeshPeer has all of it. */
export interface MerchantComponents {
  libp2p: MeshLibp2p
  /** Where the ledger and the totals live: the peer's own data dir, so they survive a restart. */
  datastore: Datastore
  log: Logger
}

export interface Merchant {
  readonly prices: PriceTable
  /** Totals since the data dir was made: they survive restarts. */
  stats(): MerchantStats
}

/** Start it after the peer and stop it before the peer: it writes to the peer's datastore. */
export function createMerchant (components: MerchantComponents, init: MerchantInit = {}): MerchantService {
  return new MerchantService(components, init)
}

// ---------------------------------------------------------------------------------------
// Client

export interface MerchantRequestOptions {
  signal?: AbortSignal
  /** Dial and reply together, in ms. */
  timeoutMs?: number
}

export interface MerchantClient {
  prices(merchant: PeerId | Multiaddr, options?: MerchantRequestOptions): Promise<PriceTable>
  /**
   * Buy `quantity` of `item`. Retrying with the same requestId after a failure is
   * safe: the merchant answers an order it has already settled with the same result.
   */
  buy(merchant: PeerId | Multiaddr, requestId: string, item: Item, quantity: number, options?: MerchantRequestOptions): Promise<OrderResult>
  sell(merchant: PeerId | Multiaddr, requestId: string, item: Item, quantity: number, options?: MerchantRequestOptions): Promise<OrderResult>
}

/**
 * Requests to a merchant. Refusals reject with RemoteError (its `code` is one of
 * MERCHANT_ERROR_CODES or wire.ts's), failures on our side with WireError.
 * Quantities are not checked here: the merchant is the one authority on what it accepts.
 */
export function merchantClient (libp2p: MeshLibp2p, defaults: MerchantRequestOptions = {}): MerchantClient {
  const wireOptions = (options: MerchantRequestOptions = {}): { maxBytes: number, timeoutMs: number, signal?: AbortSignal } => ({
    maxBytes: MAX_MERCHANT_MESSAGE_BYTES,
    timeoutMs: options.timeoutMs ?? defaults.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    signal: options.signal ?? defaults.signal
  })
  const order = async (op: OrderOp, merchant: PeerId | Multiaddr, requestId: string, item: Item, quantity: number, options?: MerchantRequestOptions): Promise<OrderResult> => {
    const result = await request(libp2p, merchant, MERCHANT_PROTOCOL, { op, requestId, item, quantity }, OrderResultSchema, wireOptions(options))
    if (result.requestId !== requestId || result.op !== op || result.item !== item || result.quantity !== quantity) {
      throw new WireError('BAD_RESPONSE', `${MERCHANT_PROTOCOL}: reply settles ${result.op} ${result.quantity} ${result.item} (${result.requestId}), not the order sent`)
    }
    return result
  }
  return {
    prices: async (merchant, options) => request(libp2p, merchant, MERCHANT_PROTOCOL, { op: 'prices' }, PriceTableSchema, wireOptions(options)),
    buy: async (merchant, requestId, item, quantity, options) => order('buy', merchant, requestId, item, quantity, options),
    sell: async (merchant, requestId, item, quantity, options) => order('sell', merchant, requestId, item, quantity, options)
  }
}

/**
 * A connected peer that runs a merchant, going by its peer store record (identify
 * fills in the protocols a peer handles). With several, the lowest PeerId, so that
 * every caller picks the same one.
 */
export async function findMerchant (libp2p: MeshLibp2p): Promise<PeerId | undefined> {
  const connected = libp2p.getPeers().sort((a, b) => a.toString() < b.toString() ? -1 : 1)
  for (const peer of connected) {
    const record = await libp2p.peerStore.get(peer).catch(() => undefined)
    if (record?.protocols.includes(MERCHANT_PROTOCOL) === true) return peer
  }
  return undefined
}

export interface WaitForMerchantOptions {
  signal?: AbortSignal
  timeoutMs?: number
}

/**
 * Resolve with a merchant as soon as one is connected and identified. Rejects with
 * WireError('TIMEOUT') after `timeoutMs`, or with the signal's reason when aborted.
 */
export async function waitForMerchant (libp2p: MeshLibp2p, options: WaitForMerchantOptions = {}): Promise<PeerId> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_FOR_MERCHANT_MS
  const signal = AbortSignal.any([AbortSignal.timeout(timeoutMs), ...(options.signal != null ? [options.signal] : [])])
  let wake = (): void => {}
  // a peer's protocols change only when it is identified or its record is updated: look again then
  const onChange = (): void => { wake() }
  libp2p.addEventListener('peer:identify', onChange)
  libp2p.addEventListener('peer:update', onChange)
  signal.addEventListener('abort', onChange)
  try {
    while (true) {
      // armed before looking, so that a change during the look is not missed
      const changed = new Promise<void>(resolve => { wake = resolve })
      const found = await findMerchant(libp2p)
      if (found != null) return found
      if (signal.aborted) {
        if (options.signal?.aborted === true) throw options.signal.reason
        throw new WireError('TIMEOUT', `no merchant among the ${libp2p.getPeers().length} connected peers after ${timeoutMs} ms`)
      }
      await changed
    }
  } finally {
    libp2p.removeEventListener('peer:identify', onChange)
    libp2p.removeEventListener('peer:update', onChange)
    signal.removeEventListener('abort', onChange)
  }
}
