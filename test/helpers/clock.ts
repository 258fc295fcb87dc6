import type { TopicValidatorResult } from '@libp2p/gossipsub'
import { splitBySize } from '../../src/protocols/clock/codec.js'
import { MAX_CLOCK_MESSAGE_BYTES } from '../../src/protocols/clock/constants.js'
import { memberOrder } from '../../src/protocols/clock/reach.js'
import { clockTopic } from '../../src/protocols/topics.js'
import { decodeJson, encodeJson } from '../../src/protocols/wire.js'
import { viewDigest, type Statement } from '../../src/town/clock.js'
import type { TestVillager } from './town.js'

export interface HeardClock {
  at: number
  from: string
  source: string
  voters: string[]
  result: TopicValidatorResult
  /** The clock topic's subscribers the hearer knew then. */
  subscribers: string[]
  /** The message's period and view digest, and the hearer's after taking it in (to tell a stale message from a view change). */
  sent: string
  heard: string
}

/**
 * Every clock message `v` takes in (the first copy of each, as its clock sees it) and
 * whether it let gossipsub forward it. Its clock's own topic validator, wrapped: a message
 * every other subscriber already has is taken in but not forwarded, and never reaches
 * the pubsub 'message' event.
 */
export function hearClock (v: TestVillager, town: string, onHeard: (h: HeardClock) => void): void {
  const topic = clockTopic(town)
  const validators = v.peer.pubsub.topicValidators
  const clockValidator = validators.get(topic)
  if (clockValidator == null) throw new Error(`${v.name} has no clock validator`)
  validators.set(topic, async (source, msg) => {
    const result = await clockValidator(source, msg)
    if (msg.type === 'signed') {
      const m = decodeJson(msg.data) as { stmts: Array<{ voter: string }>, day: number, period: string, digest?: string }
      const subscribers = v.peer.pubsub.getSubscribers(topic).map(String)
      const state = v.service.clock!.state
      const heard = state == null ? 'no state' : `day ${state.day} ${state.period} view ${viewDigest(state.view)}`
      onHeard({ at: Date.now(), from: msg.from.toString(), source: source.toString(), voters: m.stmts.map(s => s.voter), result, subscribers, sent: `day ${m.day} ${m.period} view ${m.digest}`, heard })
    }
    return result
  })
}

/** Every member that has not voted in the period acts (idle). */
export async function everyoneActs (vs: TestVillager[]): Promise<void> {
  for (const v of vs) {
    if (v.service.clock!.isMember() && !v.service.clock!.hasVoted()) await v.service.act('idle')
  }
}


/**
 * `from` takes in `stmts` (signed by anyone: made-up newcomers, members whose keys a test
 * holds) and publishes them on `town`'s clock topic, in messages within the bound.
 */
export async function publishAs (from: TestVillager, town: string, stmts: Statement[]): Promise<void> {
  const state = from.service.clock!.state!
  ;(from.service.clock as any).ingest(stmts, 'test')
  const envelope = { v: 1, town, day: state.day, period: state.period, digest: memberOrder(state.view).digest, forming: false, seq: 0 }
  for (const part of splitBySize(stmts, MAX_CLOCK_MESSAGE_BYTES - encodeJson({ ...envelope, stmts: [] }).byteLength)) {
    await from.peer.pubsub.publish(clockTopic(town), encodeJson({ ...envelope, stmts: part }))
  }
}
