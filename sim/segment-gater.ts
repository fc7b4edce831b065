// A simulated network partition for the nodes of one process: while segments are set, no
// connection is dialled or accepted between peers in different segments. The coordinator also
// aborts the connections that already crossed, so to the nodes a partition looks like every
// cross-segment link failing at once (a reset, not a silent black hole).
import type { ConnectionGater, PeerId } from '@libp2p/interface'

export class SegmentGater {
  #segments: Map<string, string> | null = null

  /** Peer id -> segment name; null heals. Peers not in the map are in no segment and reach all. */
  set (segments: Record<string, string> | null): void {
    this.#segments = segments == null ? null : new Map(Object.entries(segments))
  }

  blocked (a: string, b: string): boolean {
    const sa = this.#segments?.get(a)
    const sb = this.#segments?.get(b)
    return sa != null && sb != null && sa !== sb
  }

  /**
   * The libp2p connection gater of the node with id `self`. A dial across is cut once connected,
   * as by a network that resets it: refused by `denyDialPeer`, it would be this node's own choice
   * not to dial, which says nothing about the peer (see ShoalNode's #rotate).
   */
  forLocal (self: string): ConnectionGater {
    const deny = (peer: PeerId): boolean => this.blocked(self, peer.toString())
    return {
      denyOutboundConnection: deny,
      denyInboundEncryptedConnection: deny,
      denyOutboundEncryptedConnection: deny
    }
  }
}
