import type { ConnectionGater, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

const LOOPBACK = new Set(['127.0.0.1', '::1'])

/** The IP address in a connection's multiaddr (none for the memory transport). */
export function hostOf (addr: Multiaddr): string | undefined {
  return addr.getComponents().find(c => c.name === 'ip4' || c.name === 'ip6')?.value
}

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
  // Network hosts a quarantined peer connected from -> that peer. A new key pair costs nothing,
  // while a quarantine costs the peer 80 points of garbage sent to each node: a host refused
  // only by peer id could come back under a new one at once, and a peer id is only known after
  // the handshake, whose work each refused redial still cost.
  private readonly hosts = new Map<string, string>()

  constructor (private readonly halfLifeMs = 30_000, private readonly maxKeys = 4096) {}

  /** Adds points; true if this put the peer into quarantine (it was not in it before). */
  add (peer: string, points: number, now = Date.now()): boolean {
    const was = this.quarantined(peer, now)
    const value = this.of(peer, now) + points
    const quarantined = was || value >= QUARANTINE_POINTS
    this.bounded(this.points, peer, { value, at: now, quarantined })
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

  /**
   * Extends `peer`'s quarantine to the hosts it connected from: they are refused before the
   * handshake, whatever peer id they come back with, for as long as `peer` is quarantined.
   * Not the loopback address, which every peer on this machine shares (a simulated mesh).
   */
  quarantineHosts (peer: string, hosts: Iterable<string>): void {
    if (!this.quarantined(peer)) return
    for (const host of hosts) {
      if (LOOPBACK.has(host)) continue
      this.bounded(this.hosts, host, peer)
    }
  }

  /** Sets `key` in `map`, dropping the oldest entry first if a new key would pass maxKeys. */
  private bounded<V> (map: Map<string, V>, key: string, value: V): void {
    if (!map.has(key) && map.size >= this.maxKeys) map.delete(map.keys().next().value as string)
    map.set(key, value)
  }

  hostQuarantined (host: string, now = Date.now()): boolean {
    const peer = this.hosts.get(host)
    if (peer == null) return false
    if (this.quarantined(peer, now)) return true
    this.hosts.delete(host)
    return false
  }

  /** A connection gater refusing quarantined peers in both directions, and their hosts before the handshake, on top of `inner`. */
  gater (inner: ConnectionGater = {}): ConnectionGater {
    const refuses = (peer: PeerId): boolean => this.quarantined(peer.toString())
    return {
      ...inner,
      denyInboundConnection: async (conn) => {
        const host = hostOf(conn.remoteAddr)
        return (host != null && this.hostQuarantined(host)) || (await inner.denyInboundConnection?.(conn) ?? false)
      },
      denyDialPeer: async (peer) => refuses(peer) || (await inner.denyDialPeer?.(peer) ?? false),
      denyInboundEncryptedConnection: async (peer, conn) => refuses(peer) || (await inner.denyInboundEncryptedConnection?.(peer, conn) ?? false),
      denyOutboundEncryptedConnection: async (peer, conn) => refuses(peer) || (await inner.denyOutboundEncryptedConnection?.(peer, conn) ?? false)
    }
  }
}
