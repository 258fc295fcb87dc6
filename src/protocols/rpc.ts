/**
 * Request/response over one long-lived stream per peer, for protocols with many
 * small exchanges (trades). Opening a stream per request costs a yamux stream,
 * protocol negotiation and a peer-store update on both sides, several times the
 * exchange itself; here each request is one frame each way, matched by an id.
 *
 * Frames are length-prefixed JSON, size-bounded before parsing:
 *   request  { id, body }
 *   reply    { id, ok: true, result } | { id, ok: false, error: { code, message } }
 * A frame that cannot be parsed gets an error reply with id -1 and the stream stays
 * usable; a frame over the size limit ends the stream (its framing is lost). A stream
 * that answers nothing while a request times out is given up (see Channel.call).
 */
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { lpStream, type LengthPrefixedStream } from '@libp2p/utils'
import { z } from 'zod'
import type { MeshLibp2p } from '../node/peer.js'
import { decodeJson, describeZodError, encodeJson, RemoteError, WireError, type HandlerOptions } from './wire.js'

const RequestFrameSchema = z.strictObject({ id: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER), body: z.unknown() })
const ReplyFrameSchema = z.union([
  z.strictObject({ id: z.number().int(), ok: z.literal(true), result: z.unknown() }),
  z.strictObject({ id: z.number().int(), ok: z.literal(false), error: z.strictObject({ code: z.string().max(64), message: z.string().max(2000) }) })
])

export interface RpcClientOptions {
  maxBytes: number
  timeoutMs?: number
}

interface Pending {
  resolve: (frame: z.infer<typeof ReplyFrameSchema>) => void
  reject: (err: Error) => void
  timer: ReturnType<typeof setTimeout>
}

/** One open stream to one peer, with the requests waiting on it. */
class Channel {
  private readonly pending = new Map<number, Pending>()
  private nextId = 0
  /** Reply frames read so far. */
  private framesRead = 0
  closed = false

  constructor (readonly stream: Stream, private readonly lp: LengthPrefixedStream<Stream>, private readonly onClose: () => void) {
    void this.readLoop()
  }

  async call (body: unknown, timeoutMs: number, signal?: AbortSignal): Promise<z.infer<typeof ReplyFrameSchema>> {
    const id = this.nextId++
    const readBefore = this.framesRead
    const reply = new Promise<z.infer<typeof ReplyFrameSchema>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new WireError('TIMEOUT', `no reply in ${timeoutMs} ms`))
        // Nothing at all came back since: the other end is not reading this stream (a handler stuck,
        // a link dead without a word), and every request after this one would wait on it as well.
        // Given up, the next request opens a new stream; a reply still on its way is lost, and the
        // caller sends its request again, as after any timeout.
        if (this.framesRead === readBefore) this.fail(new WireError('TIMEOUT', `the stream answered nothing in ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(id, { resolve, reject, timer })
      signal?.addEventListener('abort', () => {
        if (this.pending.delete(id)) { clearTimeout(timer); reject(signal.reason) }
      }, { once: true })
    })
    try {
      await this.lp.write(encodeJson({ id, body }), { signal })
    } catch (err: any) {
      this.fail(new WireError('UNREACHABLE', `stream lost: ${err.message}`))
    }
    return reply
  }

  private async readLoop (): Promise<void> {
    try {
      while (true) {
        const frame = await this.lp.read()
        this.framesRead++
        const parsed = ReplyFrameSchema.safeParse(decodeJson(frame.subarray()))
        if (!parsed.success) throw new WireError('BAD_RESPONSE', `malformed reply: ${describeZodError(parsed.error)}`)
        if (parsed.data.id === -1 && !parsed.data.ok) {
          // the server could not read one of our frames: it cannot say which, so all of them fail
          throw new RemoteError(parsed.data.error.code, parsed.data.error.message)
        }
        const waiting = this.pending.get(parsed.data.id)
        if (waiting == null) continue // a reply after its timeout
        this.pending.delete(parsed.data.id)
        clearTimeout(waiting.timer)
        waiting.resolve(parsed.data)
      }
    } catch (err: any) {
      this.fail(err instanceof WireError || err instanceof RemoteError ? err : new WireError('UNREACHABLE', `stream lost: ${err?.message ?? err}`))
    }
  }

  fail (err: Error): void {
    if (this.closed) return
    this.closed = true
    for (const p of this.pending.values()) { clearTimeout(p.timer); p.reject(err) }
    this.pending.clear()
    this.stream.abort(err)
    this.onClose()
  }
}

export class RpcClient {
  private readonly channels = new Map<string, Promise<Channel>>()

  constructor (private readonly libp2p: MeshLibp2p, readonly protocol: string, private readonly options: RpcClientOptions) {}

  /**
   * Send `body`, resolve with the validated result, reject with RemoteError (a
   * refusal with a code) or WireError (unreachable, timeout, bad reply).
   */
  async request<Res> (peer: PeerId, body: unknown, resultSchema: z.ZodType<Res>, options: { signal?: AbortSignal, timeoutMs?: number } = {}): Promise<Res> {
    const bytes = encodeJson({ id: 0, body })
    if (bytes.byteLength > this.options.maxBytes) throw new WireError('MESSAGE_TOO_LARGE', `request of ${bytes.byteLength} bytes exceeds ${this.options.maxBytes}`)
    const channel = await this.channel(peer, options.signal)
    const reply = await channel.call(body, options.timeoutMs ?? this.options.timeoutMs ?? 10_000, options.signal)
    if (!reply.ok) throw new RemoteError(reply.error.code, reply.error.message)
    const result = resultSchema.safeParse(reply.result)
    if (!result.success) throw new WireError('BAD_RESPONSE', `${this.protocol}: invalid reply: ${describeZodError(result.error)}`)
    return result.data
  }

  /** Drop every open stream (a stopping service). */
  close (): void {
    for (const p of this.channels.values()) void p.then(c => { c.fail(new WireError('UNREACHABLE', 'client closed')) }, () => {})
    this.channels.clear()
  }

  private async channel (peer: PeerId, signal?: AbortSignal): Promise<Channel> {
    const key = peer.toString()
    const existing = this.channels.get(key)
    if (existing != null) {
      const c = await existing.catch(() => undefined)
      if (c != null && !c.closed && c.stream.status === 'open') return c
      if (this.channels.get(key) === existing) this.channels.delete(key)
    }
    const opening = (async () => {
      const timeout = AbortSignal.timeout(this.options.timeoutMs ?? 10_000)
      let stream: Stream
      try {
        stream = await this.libp2p.dialProtocol(peer, this.protocol, { signal: signal == null ? timeout : AbortSignal.any([signal, timeout]) })
      } catch (err: any) {
        throw new WireError(timeout.aborted ? 'TIMEOUT' : 'UNREACHABLE', `cannot reach ${key} on ${this.protocol}: ${err.message}`)
      }
      const channel: Channel = new Channel(stream, lpStream(stream, { maxDataLength: this.options.maxBytes }), () => {
        if (this.channels.get(key) === opening) this.channels.delete(key)
      })
      return channel
    })()
    this.channels.set(key, opening)
    opening.catch(() => { if (this.channels.get(key) === opening) this.channels.delete(key) })
    return opening
  }
}

/**
 * Serve `protocol`: every request frame on every stream is validated and handled
 * (several at once per stream, up to `maxInFlight`), and answered with its id.
 */
export async function handleRpc<Req, Res> (
  libp2p: MeshLibp2p,
  protocol: string,
  requestSchema: z.ZodType<Req>,
  handler: (req: Req, connection: Connection) => Promise<Res> | Res,
  options: HandlerOptions & { maxInFlight?: number }
): Promise<void> {
  const maxInFlight = options.maxInFlight ?? 64
  await libp2p.handle(protocol, async (stream, connection) => {
    const lp = lpStream(stream, { maxDataLength: options.maxBytes })
    const reply = async (frame: unknown): Promise<void> => {
      try { await lp.write(encodeJson(frame)) } catch { /* the stream is gone; the client retries */ }
    }
    const refuse = async (id: number, code: string, message: string): Promise<void> => {
      options.onRefused?.(code, message, connection.remotePeer)
      await reply({ id, ok: false, error: { code, message } })
    }
    const inFlight = new Set<Promise<void>>()
    try {
      while (true) {
        let frame
        try {
          frame = await lp.read()
        } catch (err: any) {
          if (err.name === 'InvalidDataLengthError' || /length/i.test(err.message ?? '')) {
            await refuse(-1, 'MESSAGE_TOO_LARGE', `frame exceeds ${options.maxBytes} bytes`)
          }
          break
        }
        let id: number
        let body: unknown
        try {
          const parsed = RequestFrameSchema.safeParse(decodeJson(frame.subarray()))
          if (!parsed.success) { await refuse(-1, 'INVALID_REQUEST', `bad frame: ${describeZodError(parsed.error)}`); continue }
          id = parsed.data.id
          body = parsed.data.body
        } catch (err: any) {
          await refuse(-1, 'MALFORMED', err.message)
          continue
        }
        const request = requestSchema.safeParse(body)
        if (!request.success) { await refuse(id, 'INVALID_REQUEST', describeZodError(request.error)); continue }
        const work = (async () => {
          try {
            const result = await handler(request.data, connection)
            await reply({ id, ok: true, result })
          } catch (err: any) {
            if (err instanceof RemoteError) await refuse(id, err.code, err.message)
            else await refuse(id, 'INTERNAL', `internal error: ${err?.message ?? err}`)
          }
        })()
        inFlight.add(work)
        void work.finally(() => inFlight.delete(work))
        if (inFlight.size >= maxInFlight) await Promise.race(inFlight)
      }
      await Promise.all(inFlight)
      await stream.close().catch(() => {})
    } catch (err: any) {
      stream.abort(err)
    }
  }, { maxInboundStreams: options.maxInboundStreams ?? 16, maxOutboundStreams: 16 })
}
