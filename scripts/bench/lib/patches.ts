/**
 * Experiments, applied to one bench process (nothing in src/ is edited); each is
 * measured as its own variant when asked for with --patch. Earlier experiments
 * that paid off are now in src/ (a vote published on its own before it is
 * applied, no re-publish at every boundary, the thin mesh, heartbeats with only
 * their author's statements): see BENCHMARKS.md.
 *
 *   d1, d2, d6  Gossipsub mesh degree 1, 2 or 6 (the library's default) instead of
 *         createPeer's thin mesh (2): what mesh forwarding costs and buys.
 *
 *   quietdir  Diagnostic: the town directory stops querying the DHT after its fast rounds
 *         (it backs off to one query in 10 min while nothing changes; this is the limit).
 *
 *   nostatus  Diagnostic, not a proposal: stop the villager's town-status publisher
 *         (src/protocols/town-status), to see what its notices cost the town.
 */
import type { ClockService } from '../../../src/protocols/clock/clock-service.js'
import type { MeshPeer } from '../../../src/node/peer.js'

export async function applyPatch (name: string, _clock: ClockService, peer: MeshPeer): Promise<void> {
  switch (name) {
    case 'quietdir':
      // diagnostic: once past its fast rounds, the town directory never queries the DHT again
      // (it still redials lost members): what the settled town's DHT lookups cost
      ;(peer.directory as any).queryGap = Number.MAX_SAFE_INTEGER
      ;(peer.directory as any).maxQueryEveryRounds = Number.MAX_SAFE_INTEGER
      break
    case 'links2':
      // the member links' dial concurrency before this round (two at a time), to measure the change
      ;(peer.memberLinks as any).queue.concurrency = 2
      break
    case 'd1':
    case 'd2':
    case 'd6':
    case 'nostatus':
    case 'noidw':
    case 'lazy1':
      break // applied elsewhere (gossipsubOptions, applyTradePatch)
    default:
      throw new Error(`unknown patch ${name}`)
  }
}

/** Options for createPeer that a patch changes. */
export function gossipsubOptions (patches: string[]): Record<string, unknown> | undefined {
  let out: Record<string, unknown> | undefined
  const add = (o: Record<string, unknown>): void => { out = { ...out, ...o } }
  if (patches.includes('d1')) add({ D: 1, Dlo: 1, Dhi: 2, Dout: 0 })
  if (patches.includes('d2')) add({ D: 2, Dlo: 1, Dhi: 3, Dout: 0 })
  if (patches.includes('d6')) add({ D: 6, Dlo: 4, Dhi: 12, Dout: 2 })
  if (patches.includes('noidw')) add({ idontwantMinDataSize: 1 << 20 })
  if (patches.includes('lazy1')) add({ Dlazy: 1 })
  return out
}

export function applyTradePatch (_name: string, _trades: unknown, _villager: unknown, _peer: MeshPeer): void {
  // no trade experiments at present: the last one (an unsynced "delivered" flag) is in src/
}
