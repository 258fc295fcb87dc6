import { serviceCapabilities, type Connection, type PeerId, type Startable } from '@libp2p/interface'
import { Key, type Datastore } from 'interface-datastore'
import PQueue from 'p-queue'
import { z } from 'zod'
import type { Logger } from '../../node/logger.js'
import type { MeshLibp2p } from '../../node/peer.js'
import { LIMITS, MERCHANT_PRICES } from '../../town/constants.js'
import { ITEMS, type Item, type MerchantPrices } from '../../town/rules.js'
import { describeZodError, handle, RemoteError } from '../wire.js'
import {
  DEFAULT_HANDLER_TIMEOUT_MS, LEDGER_KEY_PREFIX, MAX_INBOUND_STREAMS_PER_CONNECTION,
  MAX_MERCHANT_MESSAGE_BYTES, MERCHANT_PROTOCOL, REQUEST_ID_PATTERN, TOTALS_KEY
} from './constants.js'
import type { Merchant, MerchantComponents, MerchantInit } from './index.js'

/** Codes the merchant refuses an order with, on top of wire.ts's own (MALFORMED, INVALID_REQUEST, ...). */
export const MERCHANT_ERROR_CODES = ['NOT_FOR_SALE', 'NOT_BOUGHT', 'INVALID_QUANTITY', 'REQUEST_ID_REUSED', 'UNAVAILABLE'] as const
export type MerchantErrorCode = (typeof MERCHANT_ERROR_CODES)[number]

// ---------------------------------------------------------------------------------------
// Schemas

export const RequestIdSchema = z.string().regex(REQUEST_ID_PATTERN, 'requestId must be 8 to 64 letters, digits, _ or -')
export const ItemSchema = z.enum(ITEMS)
export const OrderOpSchema = z.enum(['buy', 'sell'])
export const OrderQuantitySchema = z.number().int().min(1).max(LIMITS.maxOrderQuantity)
export const UnitPriceSchema = z.number().int().min(1)

export const PricesRequestSchema = z.strictObject({ op: z.literal('prices') })
/** `buy`: the villager buys from the merchant; `sell`: the villager sells to it. */
export const OrderRequestSchema = z.strictObject({
  op: OrderOpSchema,
  requestId: RequestIdSchema,
  item: ItemSchema,
  quantity: OrderQuantitySchema
})
/** Every request a merchant answers. */
export const MerchantRequestSchema = z.discriminatedUnion('op', [PricesRequestSchema, OrderRequestSchema])

/**
 * What the handler parses: the same as MerchantRequestSchema except that any JSON
 * number passes as a quantity, so that a bad one is refused as INVALID_QUANTITY
 * (the rules' own code) rather than as a generic INVALID_REQUEST.
 */
const IncomingRequestSchema = z.discriminatedUnion('op', [
  PricesRequestSchema,
  OrderRequestSchema.extend({ quantity: z.number() })
])
type IncomingRequest = z.infer<typeof IncomingRequestSchema>

export const PriceTableSchema = z.object({
  sells: z.partialRecord(ItemSchema, UnitPriceSchema),
  buys: z.partialRecord(ItemSchema, UnitPriceSchema)
})

export const OrderResultSchema = z.object({
  requestId: RequestIdSchema,
  op: OrderOpSchema,
  item: ItemSchema,
  quantity: OrderQuantitySchema,
  unitPrice: UnitPriceSchema,
  /** Coins the villager pays (buy) or receives (sell): unitPrice * quantity. */
  total: z.number().int().min(1)
})

const ItemCountsSchema = z.object(Object.fromEntries(ITEMS.map(item => [item, z.number().int().min(0)])) as Record<Item, z.ZodNumber>)

export const MerchantStatsSchema = z.object({
  /** Orders settled, buys and sells together; a replayed order is not counted again. */
  sales: z.number().int().min(0),
  /** Coins villagers paid the merchant (their buys). */
  coinsIn: z.number().int().min(0),
  /** Coins the merchant paid villagers (their sells). */
  coinsOut: z.number().int().min(0),
  /** Units the merchant sold, per item. */
  sold: ItemCountsSchema,
  /** Units the merchant bought, per item. */
  bought: ItemCountsSchema
})

const LedgerRecordSchema = OrderResultSchema.extend({
  peer: z.string(),
  recordedAt: z.string()
})

export type PriceTable = z.infer<typeof PriceTableSchema>
export type MerchantRequest = z.infer<typeof MerchantRequestSchema>
export type OrderRequest = z.infer<typeof OrderRequestSchema>
export type OrderOp = z.infer<typeof OrderOpSchema>
export type OrderResult = z.infer<typeof OrderResultSchema>
export type MerchantStats = z.infer<typeof MerchantStatsSchema>
type LedgerRecord = z.infer<typeof LedgerRecordSchema>

export function emptyStats (): MerchantStats {
  const zeros = (): Record<Item, number> => Object.fromEntries(ITEMS.map(item => [item, 0])) as Record<Item, number>
  return { sales: 0, coinsIn: 0, coinsOut: 0, sold: zeros(), bought: zeros() }
}

/**
 * A price table the merchant can trade by: whole prices from 1, and for every item
 * it both sells and buys, a buying price below its selling price, so that buying
 * and selling straight back never pays.
 */
export function validatePriceTable (prices: MerchantPrices): PriceTable {
  const parsed = PriceTableSchema.safeParse(prices)
  if (!parsed.success) throw new Error(`invalid merchant price table: ${describeZodError(parsed.error)}`)
  for (const item of ITEMS) {
    const sells = parsed.data.sells[item]
    const buys = parsed.data.buys[item]
    if (sells !== undefined && buys !== undefined && buys >= sells) {
      throw new Error(`invalid merchant price table: ${item} is bought at ${buys}, not below its selling price ${sells}`)
    }
  }
  return parsed.data
}

// ---------------------------------------------------------------------------------------
// Service

const encoder = new TextEncoder()
const decoder = new TextDecoder()

function encodeRecord (value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value))
}

function decodeRecord<T> (bytes: Uint8Array, schema: z.ZodType<T>, what: string): T {
  const parsed = schema.safeParse(JSON.parse(decoder.decode(bytes)))
  // the merchant's own data dir is damaged: refusing to trade beats trading on wrong books
  if (!parsed.success) throw new Error(`merchant ${what} in the datastore is damaged: ${describeZodError(parsed.error)}`)
  return parsed.data
}

function isNotFound (err: any): boolean {
  return err?.name === 'NotFoundError'
}

export function ledgerKey (peer: PeerId | string, requestId: string): Key {
  return new Key(`${LEDGER_KEY_PREFIX}/${peer.toString()}/${requestId}`)
}

/**
 * The merchant: an NPC peer with fixed, published prices and unlimited stock and
 * coins. Every order is written to a ledger keyed by (villager, requestId) before
 * it is answered, so a villager that retries after a crash or a lost reply gets the
 * same result and is never charged twice.
 */
export class MerchantService implements Merchant, Startable {
  readonly prices: PriceTable
  readonly [serviceCapabilities] = ['@meshtown/merchant']
  readonly [Symbol.toStringTag] = '@meshtown/merchant'

  private readonly libp2p: MeshLibp2p
  private readonly datastore: Datastore
  private readonly log: Logger
  private readonly handlerTimeoutMs: number
  private readonly maxInboundStreams: number
  /**
   * One ledger write at a time: the check for an earlier order with the same
   * requestId and the write of the new one must not interleave, or a retry racing
   * its original would be counted twice.
   */
  private readonly ledgerQueue = new PQueue({ concurrency: 1 })
  private totals: MerchantStats = emptyStats()
  private running = false

  constructor (components: MerchantComponents, init: MerchantInit = {}) {
    this.libp2p = components.libp2p
    this.datastore = components.datastore
    this.log = components.log
    this.prices = validatePriceTable(init.prices ?? MERCHANT_PRICES)
    this.handlerTimeoutMs = init.handlerTimeoutMs ?? DEFAULT_HANDLER_TIMEOUT_MS
    this.maxInboundStreams = init.maxInboundStreams ?? MAX_INBOUND_STREAMS_PER_CONNECTION
  }

  isStarted (): boolean {
    return this.running
  }

  async start (): Promise<void> {
    if (this.running) return
    this.totals = await this.loadTotals()
    await handle(this.libp2p, MERCHANT_PROTOCOL, IncomingRequestSchema, async (req, connection) => this.answer(req, connection), {
      maxBytes: MAX_MERCHANT_MESSAGE_BYTES,
      timeoutMs: this.handlerTimeoutMs,
      maxInboundStreams: this.maxInboundStreams,
      onRefused: (code, message, from) => { this.log.info(`refused ${code} to ${from.toString()}: ${message}`) }
    })
    this.running = true
  }

  /** Stops taking requests and waits for the orders already queued, so none is cut off mid-write. */
  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    await this.libp2p.unhandle(MERCHANT_PROTOCOL).catch(() => {})
    await this.ledgerQueue.onIdle()
  }

  stats (): MerchantStats {
    return structuredClone(this.totals)
  }

  private async answer (req: IncomingRequest, connection: Connection): Promise<PriceTable | OrderResult> {
    if (!this.running) throw new RemoteError('UNAVAILABLE', 'the merchant is closing; try again later')
    if (req.op === 'prices') return this.prices
    const quantity = OrderQuantitySchema.safeParse(req.quantity)
    if (!quantity.success) {
      throw new RemoteError('INVALID_QUANTITY', `quantity must be a whole number from 1 to ${LIMITS.maxOrderQuantity}, got ${req.quantity}`)
    }
    const order: OrderRequest = { ...req, quantity: quantity.data }
    return this.ledgerQueue.add(async () => this.settle(connection.remotePeer, order))
  }

  private async settle (peer: PeerId, order: OrderRequest): Promise<OrderResult> {
    const key = ledgerKey(peer, order.requestId)
    const earlier = await this.readRecord(key)
    if (earlier != null) {
      if (earlier.op === order.op && earlier.item === order.item && earlier.quantity === order.quantity) {
        this.log.debug(`replayed ${order.op} ${order.requestId} for ${peer.toString()}`)
        return resultOf(earlier)
      }
      throw new RemoteError('REQUEST_ID_REUSED',
        `requestId ${order.requestId} was already used for ${earlier.op} ${earlier.quantity} ${earlier.item}; a new order needs a new requestId`)
    }
    const unitPrice = this.unitPrice(order)
    const result: OrderResult = { ...order, unitPrice, total: unitPrice * order.quantity }
    const totals = withOrder(this.totals, result)
    const record: LedgerRecord = { ...result, peer: peer.toString(), recordedAt: new Date().toISOString() }
    // one atomic batch: a crash leaves either the record and its totals, or neither
    const batch = this.datastore.batch()
    batch.put(key, encodeRecord(record))
    batch.put(new Key(TOTALS_KEY), encodeRecord(totals))
    await batch.commit()
    this.totals = totals
    const [verb, direction] = order.op === 'buy' ? ['sold', 'to'] : ['bought', 'from']
    this.log.info(`${verb} ${order.quantity} ${order.item} at ${unitPrice} = ${result.total} coins ${direction} ${peer.toString()} (request ${order.requestId})`)
    return result
  }

  private unitPrice (order: OrderRequest): number {
    if (order.op === 'buy') {
      const price = this.prices.sells[order.item]
      if (price === undefined) throw new RemoteError('NOT_FOR_SALE', `the merchant does not sell ${order.item}; it sells ${listed(this.prices.sells)}`)
      return price
    }
    const price = this.prices.buys[order.item]
    if (price === undefined) throw new RemoteError('NOT_BOUGHT', `the merchant does not buy ${order.item}; it buys ${listed(this.prices.buys)}`)
    return price
  }

  private async readRecord (key: Key): Promise<LedgerRecord | undefined> {
    try {
      return decodeRecord(await this.datastore.get(key), LedgerRecordSchema, `ledger record ${key.toString()}`)
    } catch (err) {
      if (isNotFound(err)) return undefined
      throw err
    }
  }

  private async loadTotals (): Promise<MerchantStats> {
    try {
      return decodeRecord(await this.datastore.get(new Key(TOTALS_KEY)), MerchantStatsSchema, 'totals')
    } catch (err) {
      if (isNotFound(err)) return emptyStats()
      throw err
    }
  }
}

function resultOf (record: LedgerRecord): OrderResult {
  const { peer, recordedAt, ...result } = record
  return result
}

function withOrder (totals: MerchantStats, order: OrderResult): MerchantStats {
  const next = structuredClone(totals)
  next.sales++
  if (order.op === 'buy') {
    next.sold[order.item] += order.quantity
    next.coinsIn += order.total
  } else {
    next.bought[order.item] += order.quantity
    next.coinsOut += order.total
  }
  return next
}

function listed (priceList: Partial<Record<Item, number>>): string {
  const items = ITEMS.filter(item => priceList[item] !== undefined)
  return items.length > 0 ? items.join(', ') : 'nothing'
}
