import type { ConnectionGater, PeerId } from '@libp2p/interface'

/** Points at which a peer is disconnected and refused, and below which it may come back. */
export const QUARANTINE_POINTS = 80
const RELEASE_POINTS = 40

/**
 * Misbehaviour points per peer (garbage, floods), decaying by half every `halfLifeMs`. Gossipsub
 * reads them as its application-specific score, so a peer that keeps misbehaving is graylisted:
 * its gossip is no longer even parsed. Past QUARANTINE_POINTS the peer is also quarantined: its
 * connections are closed and refused both ways until its points decay below RELEASE_POINTS (one
 * half-life), since a graylisted peer still costs the reading and decrypting of all it sends.
 * Computed lazily; no timers.
 */
export class Penalties {
  private readonly points = new Map<string, { value: number, at: number, quarantined: boolean }>()

  constructor (private readonly halfLifeMs = 30_000, private readonly maxKeys = 4096) {}

  /** Adds points; true if this put the peer into quarantine (it was not in it before). */
  add (peer: string, points: number, now = Date.now()): boolean {
    const was = this.quarantined(peer, now)
    const value = this.of(peer, now) + points
    if (!this.points.has(peer) && this.points.size >= this.maxKeys) this.points.delete(this.points.keys().next().value as string)
    const quarantined = was || value >= QUARANTINE_POINTS
    this.points.set(peer, { value, at: now, quarantined })
    return quarantined && !was
  }

  of (peer: string, now = Date.now()): number {
    const p = this.points.get(peer)
    if (p == null) return 0
    const value = p.value * 0.5 ** ((now - p.at) / this.halfLifeMs)
    if (value < 0.01) { this.points.delete(peer); return 0 }
    return value
  }

  quarantined (peer: string, now = Date.now()): boolean {
    const p = this.points.get(peer)
    if (p?.quarantined !== true) return false
    if (this.of(peer, now) >= RELEASE_POINTS) return true
    p.quarantined = false
    return false
  }

  /** A connection gater refusing quarantined peers in both directions, on top of `inner`. */
  gater (inner: ConnectionGater = {}): ConnectionGater {
    const refuses = (peer: PeerId): boolean => this.quarantined(peer.toString())
    return {
      ...inner,
      denyDialPeer: async (peer) => refuses(peer) || (await inner.denyDialPeer?.(peer) ?? false),
      denyInboundEncryptedConnection: async (peer, conn) => refuses(peer) || (await inner.denyInboundEncryptedConnection?.(peer, conn) ?? false),
      denyOutboundEncryptedConnection: async (peer, conn) => refuses(peer) || (await inner.denyOutboundEncryptedConnection?.(peer, conn) ?? false)
    }
  }
}
