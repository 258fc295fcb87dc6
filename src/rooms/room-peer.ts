import type { GossipsubOpts } from '@libp2p/gossipsub'
import { THIN_MESH, type MeshPeer } from '../node/peer.js'
import { roomNetwork, type RoomNetworkInit, type RoomNetworkService } from '../protocols/room/index.js'

/** The room protocols on a running peer; room messages are signed with the peer's own key. */
export async function startRoomNetwork (peer: MeshPeer, options: { init?: RoomNetworkInit } = {}): Promise<RoomNetworkService> {
  const network = roomNetwork(options.init)({ libp2p: peer.libp2p, privateKey: peer.privateKey, log: peer.log })
  await network.start()
  return network
}

/** Gossipsub options for peers that play in rooms: createPeer's thin mesh, named for the callers that pass it. */
export const ROOM_GOSSIPSUB_OPTIONS: Partial<GossipsubOpts> = THIN_MESH
