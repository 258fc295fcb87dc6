/**
 * Joining a room from nothing but its id: find who serves it in the DHT,
 * fetch the config, claim a seat, and wait until every seat is taken.
 */
import type { PeerId } from '@libp2p/interface'
import { silentLogger, type Logger } from '../node/logger.js'
import type { MeshLibp2p } from '../node/peer.js'
import type { RoomNetworkService } from '../protocols/room/index.js'
import type { RoomManifest } from '../protocols/room/messages.js'
import { RemoteError } from '../protocols/wire.js'
import { setupFromManifest, type RoomSetup } from './manifest.js'

export class JoinError extends Error {
  override name = 'JoinError'
}

export interface JoinOptions {
  network: RoomNetworkService
  libp2p: MeshLibp2p
  room: string
  /** The seat to claim; without it the manifest is only read. */
  as?: string
  /** Give up after this long (finding the room, then waiting for the other seats). */
  timeoutMs?: number
  pollMs?: number
  signal?: AbortSignal
  log?: Logger
  /** Called while the room waits for other agents to take their seats. */
  onWaiting?: (taken: number, total: number) => void
}

const sleep = async (ms: number, signal: AbortSignal): Promise<void> => new Promise(resolve => {
  const t = setTimeout(resolve, ms)
  signal.addEventListener('abort', () => { clearTimeout(t); resolve() }, { once: true })
})

/** Resolves with the sealed room (or the current manifest when not claiming). */
export async function joinRoom (options: JoinOptions): Promise<RoomSetup> {
  const log = options.log ?? silentLogger()
  const signal = AbortSignal.any([AbortSignal.timeout(options.timeoutMs ?? 120_000), ...(options.signal != null ? [options.signal] : [])])
  const pollMs = options.pollMs ?? 500
  const self = options.libp2p.peerId
  const claim = options.as === undefined ? undefined : { name: options.as, addrs: options.libp2p.getMultiaddrs().map(a => a.toString()) }
  let source: PeerId | undefined
  let manifest: RoomManifest | undefined
  let lastError = 'no provider found yet'
  while (manifest === undefined) {
    if (signal.aborted) throw new JoinError(`room ${options.room} not found: ${lastError}`)
    try {
      for await (const provider of options.network.findProviders(options.room, AbortSignal.any([signal, AbortSignal.timeout(5_000)]))) {
        if (provider.id.equals(self)) continue
        if (provider.multiaddrs.length > 0) await options.libp2p.peerStore.merge(provider.id, { multiaddrs: provider.multiaddrs }).catch(() => {})
        try {
          manifest = await options.network.fetchConfig(provider.id, { room: options.room, ...(claim !== undefined ? { claim } : {}) }, signal)
          source = provider.id
          break
        } catch (err: any) {
          // a seat refusal is final: another peer plays that agent
          if (err instanceof RemoteError && ['SEAT_TAKEN', 'NO_SUCH_SEAT', 'ALREADY_SEATED'].includes(err.code)) throw new JoinError(err.message)
          lastError = err.message
        }
      }
    } catch (err: any) {
      if (err instanceof JoinError) throw err
      lastError = err.message
    }
    if (manifest === undefined) await sleep(pollMs, signal)
  }
  log.debug(`room ${options.room}: config from ${source?.toString() ?? '?'}`)
  let setup = checkedSetup(manifest, options)
  let reported = -1
  while (claim !== undefined && !manifest.sealed) {
    if (manifest.seats.length !== reported) options.onWaiting?.(manifest.seats.length, setup.config.agents.length)
    reported = manifest.seats.length
    await sleep(pollMs, signal)
    if (signal.aborted) throw new JoinError(`room ${options.room}: gave up waiting for the other agents (${manifest.seats.length}/${setup.config.agents.length} seats taken)`)
    try {
      manifest = await options.network.fetchConfig(source as PeerId, { room: options.room, claim }, signal)
      setup = checkedSetup(manifest, options)
    } catch (err: any) {
      if (err instanceof JoinError) throw err
      if (err instanceof RemoteError && ['SEAT_TAKEN', 'NO_SUCH_SEAT', 'ALREADY_SEATED'].includes(err.code)) throw new JoinError(err.message)
      log.debug(`room ${options.room}: polling the host failed: ${err.message}`)
    }
  }
  return setup
}

function checkedSetup (manifest: RoomManifest, options: JoinOptions): RoomSetup {
  if (manifest.room !== options.room) throw new JoinError(`asked for room ${options.room}, got ${manifest.room}`)
  let setup: RoomSetup
  try {
    setup = setupFromManifest(manifest)
  } catch (err: any) {
    throw new JoinError(`room ${options.room} has an unusable config: ${err.message}`)
  }
  if (options.as !== undefined && !setup.seats.get(options.as)?.equals(options.libp2p.peerId)) {
    throw new JoinError(`seat ${options.as} of room ${options.room} was not given to this peer`)
  }
  return setup
}
