import type { ConnectionGater, PeerId } from '@libp2p/interface'

/**
 * `maxPeers` for connections others open to us: the dialer stops dialling at the limit, and this
 * gater refuses inbound connections from new peers past it (a peer already connected may open
 * another, as both sides of a pair do when they dial at once).
 */
export class PeerCap {
  // Bound once libp2p exists (the gater is handed to libp2p before that).
  connectedPeers: () => PeerId[] = () => []
  onRefuse: (peer: string) => void = () => {}

  constructor (readonly max: number) {}

  /** Whether a connection from `peer` would take this node past `max` peers. */
  refuses (peer: PeerId): boolean {
    const connected = this.connectedPeers()
    if (connected.length < this.max || connected.some(p => p.equals(peer))) return false
    this.onRefuse(peer.toString())
    return true
  }

  /** A gater refusing inbound connections past `max`, on top of `inner`. */
  gater (inner: ConnectionGater = {}): ConnectionGater {
    return {
      ...inner,
      denyInboundEncryptedConnection: async (peer, conn) => (await inner.denyInboundEncryptedConnection?.(peer, conn) ?? false) || this.refuses(peer)
    }
  }
}
