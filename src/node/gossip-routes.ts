import type { GossipSub } from '@libp2p/gossipsub'
import type { Libp2p } from '@libp2p/interface'

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
