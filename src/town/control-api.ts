/**
 * A villager's local control API: JSON over HTTP on loopback, in the shape of the
 * older villager REST API so its scripts keep working. The CLI and the agents
 * drive a villager through it. Requests from anywhere but loopback are refused.
 */
import { chmod, rm } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { peerIdFromString } from '@libp2p/peer-id'
import { z } from 'zod'
import type { MeshPeer } from '../node/peer.js'
import { describeZodError } from '../protocols/wire.js'
import { viewDigest } from './clock.js'
import { LIMITS } from './constants.js'
import { ITEMS, OCCUPATIONS } from './rules.js'
import type { MessagingService } from '../protocols/messaging/index.js'
import type { TradeService } from '../protocols/trade/index.js'
import { VillagerError, type VillagerService } from './villager-service.js'
import type { ClockService } from '../protocols/clock/clock-service.js'

export const MAX_BODY_BYTES = 64 * 1024

export class HttpError extends Error {
  constructor (readonly status: number, readonly code: string, message: string) {
    super(message)
  }
}

type Route = (ctx: { body: unknown, url: URL }) => Promise<unknown> | unknown
export type Routes = Record<string, Route>

const Quantity = z.number().int().min(1).max(LIMITS.maxOrderQuantity)
const CreateBody = z.object({
  name: z.string(),
  occupation: z.enum(OCCUPATIONS),
  gender: z.string().default('unspecified'),
  personality: z.string().default('')
})
const EatBody = z.object({ quantity: Quantity.default(1) }).default({ quantity: 1 })
const OrderBody = z.object({ item: z.enum(ITEMS), quantity: Quantity })
/** The older design's single endpoint for merchant trades. */
const LegacyTradeBody = z.object({
  target: z.literal('merchant', { error: 'POST /action/trade is for the merchant; trade with a villager with POST /trade/request' }),
  item: z.enum(ITEMS),
  quantity: Quantity,
  action: z.enum(['buy', 'sell']).default('buy')
})

const Target = z.string().min(1).max(100)
const TradeRequestBody = z.object({
  target: Target,
  item: z.enum(ITEMS),
  quantity: z.number(),
  price: z.number(),
  /** From the requester's side, as in the older API: it buys from or sells to the target. */
  action: z.enum(['buy', 'sell']).default('buy'),
  /** Seconds until the trade expires. */
  expires_in: z.number().positive().optional()
})
const TradeIdBody = z.union([
  z.object({ trade_id: z.string().min(1) }).transform(b => b.trade_id),
  z.object({ id: z.string().min(1) }).transform(b => b.id)
])
const MessageText = z.union([
  z.object({ message: z.string() }).transform(b => b.message),
  z.object({ text: z.string() }).transform(b => b.text)
])
const SendBody = z.object({ target: Target }).and(z.union([z.object({ message: z.string() }), z.object({ text: z.string() })]))

const PeerBody = z.object({ peer: z.string().min(1).max(100) })

/**
 * Cutting links for partition experiments: the peer's connection gater, driven
 * from outside. A name resolves through the town's membership, anything else
 * must be a PeerId.
 */
function netRoutes (peer: MeshPeer, villager: VillagerService): Routes {
  const target = (body: unknown): string => {
    const name = parse(PeerBody, body).peer
    try { return villager.resolveMember(name).peerId } catch {}
    try { return peerIdFromString(name).toString() } catch {
      throw new HttpError(400, 'INVALID_PEER', `"${name}" is neither a villager of this town nor a PeerId`)
    }
  }
  return {
    'GET /net': () => ({
      peerId: peer.peerId.toString(),
      addresses: peer.addresses(),
      connections: peer.connectedPeers().map(id => ({ peerId: id, name: villager.clock?.state?.view[id]?.name ?? null })),
      blocked: peer.gater.list()
    }),
    'POST /net/block': async ({ body }) => { const id = target(body); await peer.block(id); return { blocked: peer.gater.list() } },
    'POST /net/unblock': ({ body }) => { peer.unblock(target(body)); return { blocked: peer.gater.list() } },
    'POST /net/heal': () => { peer.heal(); return { blocked: [] } }
  }
}

export interface TownServices {
  trades?: TradeService
  messaging?: MessagingService
}

export function villagerRoutes (peer: MeshPeer, villager: VillagerService, services: TownServices = {}): Routes {
  const timeView = (): unknown => {
    const clock = villager.clock
    const time = clock?.time()
    if (clock == null || time == null) return { town: villager.town, synced: false }
    return {
      town: villager.town,
      synced: true,
      day: time.day,
      period: time.period,
      member: clock.isMember(),
      voted: clock.hasVoted(),
      awaiting: clock.awaitedNames(),
      members: clock.tally()?.members.length ?? 0,
      /** Peers agree on the membership when their digests are equal. */
      viewDigest: clock.state == null ? null : viewDigest(clock.state.view)
    }
  }
  return {
    'GET /health': () => ({ ok: true, peerId: peer.peerId.toString(), town: villager.town, villager: villager.villager?.name ?? null, connections: peer.connectedPeers().length }),
    'GET /villager': () => {
      const v = villager.villager
      if (v == null) throw new HttpError(404, 'NO_VILLAGER', 'no villager on this peer yet: POST /villager with {"name","occupation","gender","personality"}')
      return v
    },
    'POST /villager': async ({ body }) => villager.create(parse(CreateBody, body)),
    'POST /action/produce': async () => villager.act('produce'),
    'POST /action/sleep': async () => villager.act('sleep'),
    'POST /action/idle': async () => villager.act('idle'),
    'POST /action/eat': async ({ body }) => villager.eat(parse(EatBody, body ?? {}).quantity),
    'POST /action/buy': async ({ body }) => { const b = parse(OrderBody, body); return villager.trade('buy', b.item, b.quantity) },
    'POST /action/sell': async ({ body }) => { const b = parse(OrderBody, body); return villager.trade('sell', b.item, b.quantity) },
    'POST /action/trade': async ({ body }) => { const b = parse(LegacyTradeBody, body); return villager.trade(b.action, b.item, b.quantity) },
    'GET /time': timeView,
    'GET /status': () => {
      const t = villager.clock?.tally()
      if (t == null) return { ...(timeView() as object), members: [] }
      return {
        ...(timeView() as object),
        majority: t.majority,
        members: t.members.map(m => ({ name: m.name, occupation: m.occupation, peerId: m.id, voted: m.voted, action: m.action ?? null, evictVotes: m.evictVotes })),
        awaiting: t.awaited.map(id => t.members.find(m => m.id === id)?.name ?? id),
        evicted: t.evicted,
        relay: relayView(villager.clock!.relayStatus(), t.members)
      }
    },
    'GET /prices': async () => villager.prices(),
    ...netRoutes(peer, villager),
    ...(services.trades == null ? {} : tradeRoutes(services.trades)),
    ...(services.messaging == null ? {} : messageRoutes(services.messaging))
  }
}

/** Who carries today's votes (null: no relay, every vote published by its voter), and this villager's part in it. */
function relayView (r: ReturnType<ClockService['relayStatus']>, members: Array<{ id: string, name: string }>): unknown {
  return { enabled: r.enabled, member: r.relay == null ? null : members.find(m => m.id === r.relay)?.name ?? r.relay, held: r.held, handed: r.handed, fallbacks: r.fallbacks, timeouts: r.timeouts }
}

function tradeRoutes (trades: TradeService): Routes {
  return {
    'POST /trade/request': async ({ body }) => {
      const b = parse(TradeRequestBody, body)
      return trades.propose({
        target: b.target, side: b.action, item: b.item, quantity: b.quantity, unitPrice: b.price,
        expiresInMs: b.expires_in == null ? undefined : Math.round(b.expires_in * 1000)
      })
    },
    'GET /trades': () => trades.received(),
    'GET /mytrades': () => trades.initiated(),
    'POST /trade/accept': async ({ body }) => trades.accept(parse(TradeIdBody, body)),
    'POST /trade/reject': async ({ body }) => trades.reject(parse(TradeIdBody, body)),
    'POST /trade/confirm': async ({ body }) => trades.confirm(parse(TradeIdBody, body)),
    'POST /trade/cancel': async ({ body }) => trades.cancel(parse(TradeIdBody, body))
  }
}

function messageRoutes (messaging: MessagingService): Routes {
  return {
    'POST /messages/send': async ({ body }) => {
      const b = parse(SendBody, body)
      return messaging.send(b.target, 'message' in b ? b.message : b.text)
    },
    'POST /messages/broadcast': async ({ body }) => messaging.broadcast(parse(MessageText, body)),
    'GET /messages': () => messaging.messages()
  }
}

function parse<T> (schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body)
  if (!r.success) throw new HttpError(400, 'INVALID_REQUEST', describeZodError(r.error))
  return r.data
}

export function isLoopback (address: string | undefined): boolean {
  if (address == null) return false
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.')
}

export interface ControlApi {
  server: Server
  port: number
  url: string
  close: () => Promise<void>
}

/**
 * Serve `routes` on 127.0.0.1:port (0 = any free port), or on a Unix socket
 * (`{ socket: path }`): a socket file is reachable from other network namespaces
 * of the machine and guarded by file permissions instead of by address.
 */
export async function startControlApi (routes: Routes, port: number | { socket: string }, host = '127.0.0.1'): Promise<ControlApi> {
  if (typeof port === 'object') return startOnSocket(routes, port.socket)
  const server = createServer((req, res) => { void serve(routes, req, res) })
  // keep-alive sockets would hold a stopping peer open
  server.keepAliveTimeout = 1_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'EADDRINUSE' ? new VillagerError('PORT_IN_USE', 0, `control API port ${port} is in use: choose another --api-port`) : err)
    })
    server.listen(port, host, () => resolve())
  })
  const actual = (server.address() as AddressInfo).port
  return {
    server,
    port: actual,
    url: `http://${host}:${actual}`,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}

async function startOnSocket (routes: Routes, socket: string): Promise<ControlApi> {
  await rm(socket, { force: true })
  const server = createServer((req, res) => { void serve(routes, req, res, true) })
  server.keepAliveTimeout = 1_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(socket, () => resolve())
  })
  await chmod(socket, 0o600)
  return {
    server,
    port: 0,
    url: `unix:${socket}`,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => resolve()))
      await rm(socket, { force: true })
    }
  }
}

async function serve (routes: Routes, req: IncomingMessage, res: ServerResponse, unixSocket = false): Promise<void> {
  const send = (status: number, payload: unknown): void => {
    const body = JSON.stringify(payload)
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  }
  const fail = (status: number, code: string, message: string): void => send(status, { error: { code, message } })
  if (!unixSocket && !isLoopback(req.socket.remoteAddress)) {
    fail(403, 'NOT_LOOPBACK', 'the control API only answers requests from this machine')
    req.resume()
    return
  }
  const url = new URL(req.url ?? '/', 'http://localhost')
  const route = routes[`${req.method} ${url.pathname}`]
  if (route == null) {
    const allowed = Object.keys(routes).filter(r => r.endsWith(` ${url.pathname}`)).map(r => r.split(' ')[0])
    req.resume()
    if (allowed.length > 0) fail(405, 'METHOD_NOT_ALLOWED', `${req.method} ${url.pathname}: use ${allowed.join(' or ')}`)
    else fail(404, 'NOT_FOUND', `no endpoint ${req.method} ${url.pathname}`)
    return
  }
  try {
    const body = await readBody(req)
    const result = await route({ body, url })
    send(req.method === 'POST' && url.pathname === '/villager' ? 201 : 200, result)
  } catch (err: any) {
    if (err instanceof HttpError) fail(err.status, err.code, err.message)
    else if (err instanceof VillagerError) fail(err.status, err.code, err.message)
    else fail(500, 'INTERNAL', `internal error: ${err?.message ?? err}`)
  }
}

async function readBody (req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += chunk.length
    if (size > MAX_BODY_BYTES) throw new HttpError(413, 'BODY_TOO_LARGE', `request body over ${MAX_BODY_BYTES} bytes`)
    chunks.push(chunk)
  }
  if (size === 0) return undefined
  const text = Buffer.concat(chunks).toString('utf8')
  try {
    return JSON.parse(text)
  } catch {
    throw new HttpError(400, 'INVALID_JSON', 'the request body is not valid JSON')
  }
}
