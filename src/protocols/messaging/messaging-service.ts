import { randomBytes } from 'node:crypto'
import { TopicValidatorResult, type Message } from '@libp2p/gossipsub'
import type { Startable } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { Key } from 'interface-datastore'
import { TypedEventEmitter } from 'main-event'
import { z } from 'zod'
import type { MeshPeer } from '../../node/peer.js'
import { VillagerError, type VillagerService } from '../../town/villager-service.js'
import { chatTopic } from '../topics.js'
import { decodeJson, encodeJson, handle, request, RemoteError, WireError } from '../wire.js'
import { MAX_INBOX, MAX_MESSAGE_BYTES, MAX_MESSAGE_CHARS, MESSAGE_PROTOCOL, MESSAGE_TIMEOUT_MS } from './constants.js'

const Text = z.string().trim().min(1, 'empty message').max(MAX_MESSAGE_CHARS, `longer than ${MAX_MESSAGE_CHARS} characters`)
const PrivateMessageSchema = z.strictObject({ text: Text })
const BroadcastSchema = z.strictObject({ v: z.literal(1), id: z.string().max(32), text: Text })
const InboxEntrySchema = z.strictObject({
  id: z.string(), kind: z.enum(['private', 'broadcast']), from: z.string(), fromName: z.string(), text: z.string(), time: z.number()
})
export type InboxEntry = z.infer<typeof InboxEntrySchema>

export interface MessagingEvents {
  message: CustomEvent<InboxEntry>
}

const INBOX_PREFIX = '/meshtown/inbox'

export class MessagingService extends TypedEventEmitter<MessagingEvents> implements Startable {
  private readonly peer: MeshPeer
  private readonly villager: VillagerService
  private readonly topic: string
  private inbox: InboxEntry[] = []
  private started = false
  readonly rejections: Record<string, number> = {}
  private readonly onGossip = (evt: CustomEvent<Message>): void => {
    if (evt.detail.topic !== this.topic || evt.detail.type !== 'signed') return
    const parsed = BroadcastSchema.safeParse(safeDecode(evt.detail.data))
    if (!parsed.success) return
    void this.store({ id: parsed.data.id, kind: 'broadcast', from: evt.detail.from.toString(), fromName: this.villager.nameOf(evt.detail.from.toString()), text: parsed.data.text, time: Date.now() })
  }

  constructor (peer: MeshPeer, villager: VillagerService) {
    super()
    this.peer = peer
    this.villager = villager
    this.topic = chatTopic(villager.town)
  }

  async start (): Promise<void> {
    for await (const { value } of this.peer.datastore.query({ prefix: INBOX_PREFIX })) {
      const parsed = InboxEntrySchema.safeParse(safeDecode(value))
      if (parsed.success) this.inbox.push(parsed.data)
    }
    this.inbox.sort((a, b) => a.time - b.time)
    this.peer.pubsub.topicValidators.set(this.topic, (_from, msg) => this.validate(msg))
    this.peer.pubsub.subscribe(this.topic)
    this.peer.pubsub.addEventListener('message', this.onGossip)
    await handle(this.peer.libp2p, MESSAGE_PROTOCOL, PrivateMessageSchema, async (req, conn) => {
      if (this.villager.villager == null) throw new RemoteError('NO_VILLAGER', 'this peer has no villager to read messages')
      const from = conn.remotePeer.toString()
      const entry = await this.store({ id: randomBytes(6).toString('base64url'), kind: 'private', from, fromName: this.villager.nameOf(from), text: req.text, time: Date.now() })
      return { id: entry.id }
    }, {
      maxBytes: MAX_MESSAGE_BYTES,
      onRefused: (code) => { this.rejections[code] = (this.rejections[code] ?? 0) + 1 }
    })
    this.started = true
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.peer.pubsub.removeEventListener('message', this.onGossip)
    this.peer.pubsub.topicValidators.delete(this.topic)
    await this.peer.libp2p.unhandle(MESSAGE_PROTOCOL).catch(() => {})
  }

  /** Received messages, oldest first. */
  messages (): InboxEntry[] {
    return [...this.inbox]
  }

  async send (target: string, text: string): Promise<{ to: string, id: string }> {
    const me = this.villager.requireVillager().villager
    const checked = Text.safeParse(text)
    if (!checked.success) throw new VillagerError('INVALID_MESSAGE', 400, `message ${checked.error.issues[0]!.message}`)
    const { peerId, name } = this.villager.resolveMember(target)
    if (peerId === this.peer.peerId.toString()) throw new VillagerError('SELF_MESSAGE', 400, `${me.name} cannot send a message to itself`)
    try {
      const reply = await request(this.peer.libp2p, peerIdFromString(peerId), MESSAGE_PROTOCOL, { text: checked.data }, z.object({ id: z.string() }), {
        maxBytes: MAX_MESSAGE_BYTES, timeoutMs: MESSAGE_TIMEOUT_MS
      })
      return { to: name, id: reply.id }
    } catch (err) {
      if (err instanceof RemoteError) throw new VillagerError(err.code, 422, `${name} refused the message: ${err.message}`)
      if (err instanceof WireError) throw new VillagerError('UNREACHABLE', 503, `${name} cannot be reached right now: ${err.message}`)
      throw err
    }
  }

  async broadcast (text: string): Promise<{ id: string, recipients: number }> {
    this.villager.requireVillager()
    const checked = Text.safeParse(text)
    if (!checked.success) throw new VillagerError('INVALID_MESSAGE', 400, `message ${checked.error.issues[0]!.message}`)
    const id = randomBytes(6).toString('base64url')
    const result = await this.peer.pubsub.publish(this.topic, encodeJson({ v: 1, id, text: checked.data }))
    return { id, recipients: result.recipients.length }
  }

  private validate (msg: Message): TopicValidatorResult {
    if (msg.type !== 'signed' || msg.data.byteLength > MAX_MESSAGE_BYTES) return this.reject('TOO_LARGE')
    const parsed = BroadcastSchema.safeParse(safeDecode(msg.data))
    if (!parsed.success) return this.reject('MALFORMED')
    return TopicValidatorResult.Accept
  }

  private reject (code: string): TopicValidatorResult {
    this.rejections[code] = (this.rejections[code] ?? 0) + 1
    return TopicValidatorResult.Reject
  }

  /** Durable before it is acknowledged (the reply to a private message). */
  private async store (entry: InboxEntry): Promise<InboxEntry> {
    const key = new Key(`${INBOX_PREFIX}/${String(entry.time).padStart(15, '0')}-${entry.id}`)
    await this.peer.datastore.db.put(key.toString(), encodeJson(entry), { sync: true } as any)
    this.inbox.push(entry)
    if (this.inbox.length > MAX_INBOX) this.inbox.splice(0, this.inbox.length - MAX_INBOX)
    this.safeDispatchEvent('message', { detail: entry })
    return entry
  }
}

function safeDecode (bytes: Uint8Array): unknown {
  try { return decodeJson(bytes) } catch { return undefined }
}

