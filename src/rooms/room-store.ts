/**
 * A room as one agent keeps it in its peer's datastore: the manifest (config
 * and seats), which seat is its own, every message delivered to it in
 * delivery order (its transcript: what it could see, its own messages
 * included), and the result once the room is over.
 *
 * The log is the agent's memory: replaying it into an empty causal inbox
 * gives back exactly the delivered clock, so nothing else needs saving, and
 * an agent restarted from its data dir resumes where it stopped.
 */
import { Key, type Datastore } from 'interface-datastore'
import { RoomManifestSchema, RoomMessageSchema, type RoomManifest, type RoomMessage } from '../protocols/room/messages.js'
import type { RoomEnd } from './end-condition.js'

const PREFIX = '/meshtown/rooms'
const encoder = new TextEncoder()
const decoder = new TextDecoder()

function json (value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value))
}

function parse (bytes: Uint8Array): unknown {
  return JSON.parse(decoder.decode(bytes))
}

export interface StoredRoom {
  room: string
  self?: string
  manifest?: RoomManifest
  result?: RoomEnd
}

export class RoomStore {
  constructor (readonly datastore: Datastore, readonly room: string) {}

  private key (...parts: string[]): Key {
    return new Key([PREFIX, this.room, ...parts].join('/'))
  }

  private async read (key: Key): Promise<unknown> {
    if (!(await this.datastore.has(key))) return undefined
    return parse(await this.datastore.get(key))
  }

  async saveManifest (manifest: RoomManifest): Promise<void> {
    await this.datastore.put(this.key('manifest'), json(manifest))
  }

  async loadManifest (): Promise<RoomManifest | undefined> {
    const value = await this.read(this.key('manifest'))
    return value === undefined ? undefined : RoomManifestSchema.parse(value)
  }

  async saveSelf (name: string): Promise<void> {
    await this.datastore.put(this.key('self'), json(name))
  }

  async loadSelf (): Promise<string | undefined> {
    const value = await this.read(this.key('self'))
    return typeof value === 'string' ? value : undefined
  }

  /**
   * Messages delivered one after another, the first at `index` (its place in the
   * delivery order; zero-padded so keys sort as numbers), in one write: an agent
   * delivers in bursts, and one LevelDB write per message was a sixth of a busy
   * room's CPU.
   */
  async append (index: number, messages: readonly RoomMessage[]): Promise<void> {
    if (messages.length === 0) return
    const batch = this.datastore.batch()
    messages.forEach((msg, i) => { batch.put(this.logKey(index + i), json(msg)) })
    await batch.commit()
  }

  private logKey (index: number): Key {
    return this.key('log', String(index).padStart(10, '0'))
  }

  async loadLog (): Promise<RoomMessage[]> {
    const entries: Array<{ key: string, msg: RoomMessage }> = []
    for await (const { key, value } of this.datastore.query({ prefix: this.key('log').toString() + '/' })) {
      entries.push({ key: key.toString(), msg: RoomMessageSchema.parse(parse(value)) })
    }
    return entries.sort((a, b) => (a.key < b.key ? -1 : 1)).map(e => e.msg)
  }

  async saveResult (end: RoomEnd): Promise<void> {
    await this.datastore.put(this.key('result'), json(end))
  }

  async loadResult (): Promise<RoomEnd | undefined> {
    return await this.read(this.key('result')) as RoomEnd | undefined
  }

  /** Every room this datastore holds anything about. */
  static async list (datastore: Datastore): Promise<StoredRoom[]> {
    const rooms = new Set<string>()
    for await (const key of datastore.queryKeys({ prefix: PREFIX + '/' })) {
      const room = key.toString().slice(PREFIX.length + 1).split('/')[0]
      if (room != null && room !== '') rooms.add(room)
    }
    const out: StoredRoom[] = []
    for (const room of [...rooms].sort()) {
      const store = new RoomStore(datastore, room)
      out.push({ room, self: await store.loadSelf(), manifest: await store.loadManifest().catch(() => undefined), result: await store.loadResult() })
    }
    return out
  }
}
