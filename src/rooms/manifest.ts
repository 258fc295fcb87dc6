/**
 * A room's manifest (config + seats, the wire form) and what an agent makes of
 * it: the validated config and the seat table that ties each agent name to
 * the one peer allowed to speak as it.
 */
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { stringify } from 'yaml'
import type { RoomManifest, Seat } from '../protocols/room/messages.js'
import { loadRoomConfig, type RoomConfig } from './config.js'

export class ManifestError extends Error {
  override name = 'ManifestError'
}

export interface RoomSetup {
  readonly room: string
  readonly config: RoomConfig
  readonly manifest: RoomManifest
  /** Agent name -> the peer that holds its seat. */
  readonly seats: ReadonlyMap<string, PeerId>
  readonly addrs: ReadonlyMap<string, readonly string[]>
}

/** The config as YAML: what travels, so a joiner checks it exactly like a local file. */
export function configYaml (config: RoomConfig): string {
  return stringify(config)
}

export function buildManifest (room: string, config: RoomConfig, creator: string, seats: readonly Seat[]): RoomManifest {
  const sealed = config.agents.every(a => seats.some(s => s.name === a.name))
  return { room, yaml: configYaml(config), creator, seats: [...seats], sealed }
}

/** Throws ManifestError (or RoomConfigError, with lines) when the manifest cannot be a room. */
export function setupFromManifest (manifest: RoomManifest): RoomSetup {
  const config = loadRoomConfig(manifest.yaml, `room ${manifest.room}`)
  const names = new Set(config.agents.map(a => a.name))
  const seats = new Map<string, PeerId>()
  const addrs = new Map<string, readonly string[]>()
  const peers = new Set<string>()
  for (const seat of manifest.seats) {
    if (!names.has(seat.name)) throw new ManifestError(`seat ${seat.name} is not an agent of room ${manifest.room}`)
    let peer: PeerId
    try {
      peer = peerIdFromString(seat.peer)
    } catch (err: any) {
      throw new ManifestError(`seat ${seat.name}: bad peer id: ${err.message}`)
    }
    // one peer, one agent: otherwise one peer could speak for two seats
    if (peers.has(peer.toString())) throw new ManifestError(`peer ${seat.peer} holds more than one seat`)
    peers.add(peer.toString())
    seats.set(seat.name, peer)
    addrs.set(seat.name, seat.addrs)
  }
  return { room: manifest.room, config, manifest, seats, addrs }
}
