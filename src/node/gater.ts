import type { ConnectionGater, PeerId } from '@libp2p/interface'

/**
 * A connection gater whose deny-list changes at run time. Partition experiments
 * and tests cut links between chosen peers with it instead of touching the OS:
 * a blocked peer can neither dial us nor be dialled, and (through MeshPeer.block)
 * existing connections to it are closed.
 */
export class PartitionGater {
  private readonly blocked = new Set<string>()

  block (peerId: PeerId | string): void {
    this.blocked.add(peerId.toString())
  }

  unblock (peerId: PeerId | string): void {
    this.blocked.delete(peerId.toString())
  }

  /** Lift every block. */
  heal (): void {
    this.blocked.clear()
  }

  isBlocked (peerId: PeerId | string): boolean {
    return this.blocked.has(peerId.toString())
  }

  list (): string[] {
    return [...this.blocked].sort()
  }

  /** The libp2p-facing side: every hook that names a remote peer consults the list. */
  toConnectionGater (): ConnectionGater {
    const deny = (peerId: PeerId): boolean => this.isBlocked(peerId)
    return {
      denyDialPeer: deny,
      denyInboundEncryptedConnection: deny,
      denyOutboundEncryptedConnection: deny,
      denyInboundUpgradedConnection: deny,
      denyOutboundUpgradedConnection: deny,
      denyInboundRelayedConnection: (_relay, remote) => deny(remote),
      denyOutboundRelayedConnection: (_relay, remote) => deny(remote),
      // multiaddr-level hooks stay permissive: partitions are between peers, not addresses
      denyDialMultiaddr: () => false,
      filterMultiaddrForPeer: () => true
    }
  }
}
