import type { GossipSub } from '@libp2p/gossipsub'
import type { Libp2p, PeerId } from '@libp2p/interface'
import { z } from 'zod'

/**
 * How a message names a peer its author sent it to: the last PEER_TAG_CHARS
 * characters of its PeerId (about 70 random bits: a match by chance, or one
 * forged at great cost, only spares one copy, which catch-up and repairs cover).
 */
export const PEER_TAG_CHARS = 12
export const PeerTagSchema = z.string().length(PEER_TAG_CHARS).regex(/^[1-9A-HJ-NP-Za-km-z]+$/, 'not base58')

export function peerTag (peerId: string): string {
  return peerId.slice(-PEER_TAG_CHARS)
}

/**
 * A gossip message's author as a string. gossipsub decodes `from` into a new PeerId
 * for every message, whose string is then base58-encoded anew (a few % of a busy
 * villager's CPU); most messages come straight from their author, whose connection's
 * PeerId keeps its string.
 */
export function authorOf (source: PeerId, from: PeerId): string {
  return from.equals(source) ? source.toString() : from.toString()
}

/**
 * Whether the author of a message received from `source`, which names the peers
 * it sent the message to in `reached` (tags), reached every other subscriber of
 * `topic` this peer knows: then nobody needs a forwarded copy from here.
 */
export function othersReached (pubsub: GossipSub, topic: string, source: string, author: string, reached: readonly string[]): boolean {
  for (const peer of pubsub.getSubscribers(topic)) {
    const id = peer.toString()
    if (id !== source && id !== author && !reached.includes(peerTag(id))) return false
  }
  return true
}

/**
 * The peers this peer's gossipsub forwards `topic`'s messages to (its mesh), or
 * undefined if a release no longer has the class's public `getMeshPeers` (not in
 * its interface): then receivers forward as if every subscriber were in the mesh.
 */
export function meshPeers (pubsub: GossipSub, topic: string): string[] | undefined {
  const get = (pubsub as unknown as { getMeshPeers?: (topic: string) => string[] }).getMeshPeers
  return typeof get === 'function' ? get.call(pubsub, topic) : undefined
}

/**
 * Which subscribers of `topic` an own publish is sent to now: floodPublish sends
 * to every subscriber it holds an outbound stream to. @libp2p/gossipsub keeps those
 * streams in a public field of its class, not in its interface; if a release no
 * longer has it the answer is nobody, so receivers fall back to plain forwarding
 * instead of trusting a guess. Gossipsub learns of a closed connection a moment
 * after libp2p does, and a publish in that moment is lost on it: a peer counts only
 * while libp2p still holds an open connection to it.
 */
export function publishReach (libp2p: Libp2p<{ pubsub: GossipSub }>, topic: string): Set<string> {
  const pubsub = libp2p.services.pubsub
  const streams = (pubsub as unknown as { streamsOutbound?: unknown }).streamsOutbound
  const reached = new Set<string>()
  if (!(streams instanceof Map)) return reached
  const linked = new Set(libp2p.getConnections().filter(c => c.status === 'open').map(c => c.remotePeer.toString()))
  for (const peer of pubsub.getSubscribers(topic)) {
    const id = peer.toString()
    if (streams.has(id) && linked.has(id)) reached.add(id)
  }
  return reached
}
