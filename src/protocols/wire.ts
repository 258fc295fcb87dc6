/**
 * JSON request/response over one libp2p stream, shared by every direct protocol
 * (merchant, clock catch-up, trades, messaging). One length-prefixed frame each
 * way; both are size-bounded before parsing and schema-validated before use. A
 * refused request gets a typed error reply, never a dropped stream.
 */
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'
import { z } from 'zod'
import type { MeshLibp2p } from '../node/peer.js'

export const WIRE_ERROR_CODES = [
  'MESSAGE_TOO_LARGE', 'MALFORMED', 'INVALID_REQUEST', 'INTERNAL', 'TIMEOUT', 'UNREACHABLE', 'UNSUPPORTED_PROTOCOL', 'BAD_RESPONSE'
] as const
export type WireErrorCode = (typeof WIRE_ERROR_CODES)[number]

/** An error that crosses the wire: a code the caller can branch on, a message a person can act on. */
export class RemoteError extends Error {
  override name = 'RemoteError'
  constructor (readonly code: string, message: string) {
    super(message)
  }
}

/** A failure on our side of a request: could not reach the peer, bad reply, timeout. */
export class WireError extends Error {
  override name = 'WireError'
  constructor (readonly code: WireErrorCode, message: string) {
    super(message)
  }
}

export type Reply<T> = { ok: true, result: T } | { ok: false, error: { code: string, message: string } }

const ErrorReplySchema = z.object({ ok: z.literal(false), error: z.object({ code: z.string().max(64), message: z.string().max(2000) }) })

export interface WireOptions {
  /** Largest frame accepted in either direction. */
  maxBytes: number
  timeoutMs?: number
  signal?: AbortSignal
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

export function encodeJson (value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value))
}

/** Decode bytes that must be UTF-8 JSON; throws WireError('MALFORMED') otherwise. */
export function decodeJson (bytes: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(bytes))
  } catch (err: any) {
    throw new WireError('MALFORMED', `not UTF-8 JSON: ${err.message}`)
  }
}

/** One line saying which fields are wrong: enough to fix a client, short enough to log. */
export function describeZodError (err: z.ZodError): string {
  return err.issues.slice(0, 5).map(i => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ')
}

export async function request<Res> (
  libp2p: MeshLibp2p,
  peer: PeerId | Multiaddr,
  protocol: string,
  body: unknown,
  resultSchema: z.ZodType<Res>,
  options: WireOptions
): Promise<Res> {
  const signal = AbortSignal.any([AbortSignal.timeout(options.timeoutMs ?? 10_000), ...(options.signal != null ? [options.signal] : [])])
  let stream: Stream
  try {
    stream = await libp2p.dialProtocol(peer, protocol, { signal })
  } catch (err: any) {
    // a peer that does not speak the protocol (an older build) is reachable: the caller may try another version
    const code = signal.aborted ? 'TIMEOUT' : err.name === 'UnsupportedProtocolError' ? 'UNSUPPORTED_PROTOCOL' : 'UNREACHABLE'
    throw new WireError(code, `cannot reach ${peer.toString()} on ${protocol}: ${err.message}`)
  }
  try {
    const lp = lpStream(stream, { maxDataLength: options.maxBytes })
    const bytes = encodeJson(body)
    if (bytes.byteLength > options.maxBytes) throw new WireError('MESSAGE_TOO_LARGE', `request of ${bytes.byteLength} bytes exceeds ${options.maxBytes}`)
    await lp.write(bytes, { signal })
    let frame
    try {
      frame = await lp.read({ signal })
    } catch (err: any) {
      if (signal.aborted) throw new WireError('TIMEOUT', `${protocol}: no reply from ${peer.toString()} in time`)
      throw new WireError('BAD_RESPONSE', `${protocol}: reply from ${peer.toString()} unreadable: ${err.message}`)
    }
    const reply = decodeJson(frame.subarray()) as any
    if (reply?.ok === false) {
      const parsed = ErrorReplySchema.safeParse(reply)
      if (!parsed.success) throw new WireError('BAD_RESPONSE', `${protocol}: malformed error reply`)
      throw new RemoteError(parsed.data.error.code, parsed.data.error.message)
    }
    if (reply?.ok !== true) throw new WireError('BAD_RESPONSE', `${protocol}: reply is neither ok nor error`)
    const result = resultSchema.safeParse(reply.result)
    if (!result.success) throw new WireError('BAD_RESPONSE', `${protocol}: invalid reply: ${describeZodError(result.error)}`)
    await stream.close({ signal }).catch(() => {})
    return result.data
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
    throw err
  }
}

export type Handler<Req, Res> = (req: Req, connection: Connection) => Promise<Res> | Res

export interface HandlerOptions {
  /** Largest request accepted. */
  maxBytes: number
  /** Largest reply sent (the caller's bound on it); a larger one is refused as REPLY_TOO_LARGE, not sent for the caller to drop. */
  maxReplyBytes?: number
  timeoutMs?: number
  maxInboundStreams?: number
  /** Called for every refused request (counting, logging). */
  onRefused?: (code: string, message: string, from: PeerId) => void
}

/**
 * Register a JSON handler. A handler throws RemoteError to refuse a request with
 * a code; anything else becomes an INTERNAL error reply (and is logged by the caller).
 */
export async function handle<Req, Res> (
  libp2p: MeshLibp2p,
  protocol: string,
  requestSchema: z.ZodType<Req>,
  handler: Handler<Req, Res>,
  options: HandlerOptions
): Promise<void> {
  await libp2p.handle(protocol, async (stream, connection) => {
    const signal = AbortSignal.timeout(options.timeoutMs ?? 10_000)
    const lp = lpStream(stream, { maxDataLength: options.maxBytes })
    const refuse = async (code: string, message: string): Promise<void> => {
      options.onRefused?.(code, message, connection.remotePeer)
      await lp.write(encodeJson({ ok: false, error: { code, message } }), { signal })
    }
    try {
      let frame
      try {
        frame = await lp.read({ signal })
      } catch (err: any) {
        if (/length/i.test(err.message ?? '') || err.name === 'InvalidDataLengthError') {
          await refuse('MESSAGE_TOO_LARGE', `request exceeds ${options.maxBytes} bytes`)
          await stream.close({ signal }).catch(() => {})
          return
        }
        throw err
      }
      let parsed: Req
      try {
        const value = decodeJson(frame.subarray())
        const result = requestSchema.safeParse(value)
        if (!result.success) {
          await refuse('INVALID_REQUEST', describeZodError(result.error))
          await stream.close({ signal })
          return
        }
        parsed = result.data
      } catch (err: any) {
        await refuse('MALFORMED', err.message)
        await stream.close({ signal })
        return
      }
      try {
        const reply = encodeJson({ ok: true, result: await handler(parsed, connection) })
        if (options.maxReplyBytes != null && reply.byteLength > options.maxReplyBytes) {
          throw new RemoteError('REPLY_TOO_LARGE', `the reply is ${reply.byteLength} bytes, over this protocol's bound of ${options.maxReplyBytes}`)
        }
        await lp.write(reply, { signal })
      } catch (err: any) {
        if (err instanceof RemoteError) await refuse(err.code, err.message)
        else await refuse('INTERNAL', `internal error: ${err.message ?? err}`)
      }
      await stream.close({ signal })
    } catch (err: any) {
      stream.abort(err)
    }
  }, { maxInboundStreams: options.maxInboundStreams ?? 64, maxOutboundStreams: 64 })
}
