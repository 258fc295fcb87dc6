import type { GossipsubOpts } from '@libp2p/gossipsub'
import type { MeshPeer } from '../node/peer.js'
import { roomNetwork, type RoomNetworkInit, type RoomNetworkService } from '../protocols/room/index.js'

/** The room protocols on a running peer; room messages are signed with the peer's own key. */
export async function startRoomNetwork (peer: MeshPeer, options: { init?: RoomNetworkInit } = {}): Promise<RoomNetworkService> {
  const network = roomNetwork(options.init)({ libp2p: peer.libp2p, privateKey: peer.privateKey, log: peer.log })
  await network.start()
  return network
}

/**
 * Gossipsub options for peers that play in rooms (on top of createPeer's, which
 * drop duplicate copies before checking their signatures).
 */
export const ROOM_GOSSIPSUB_OPTIONS: Partial<GossipsubOpts> = {
  // the author already floods each message to every subscriber it is connected to
  // (floodPublish), and room agents connect to each other: a thinner mesh forwards
  // fewer redundant copies and still covers a member the author cannot reach
  D: 3,
  Dlo: 2,
  Dhi: 5,
  Dout: 1
}
