import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Connection, Libp2p, Logger, PeerId, PeerInfo as Libp2pPeerInfo } from '@libp2p/interface'

/** A peer and where to reach it, as another peer named it. */
export interface PeerAddress { id: string, addrs: string[] }

export interface DialerInit {
  libp2p: Libp2p
  log: Logger
  /**
   * Every sighting from every discovery service (each mDNS answer, not just the first): libp2p's
   * own 'peer:discovery' fires only for peers new to its peer store, so a failed first dial would
   * never be retried.
   */
  sightings: EventTarget
  /** Stop dialling newly discovered peers past this many connected peers. */
  maxPeers: number
  /** Static peers, dialled at start and re-dialled whenever they are not connected. */
  bootstrap: Multiaddr[]
  bootstrapInterval: number
  /** How long the peer with the higher id waits for the other to dial before dialling itself. */
  tieBreakDelay: number
  /**
   * In a partial mesh: whether a connection to this peer is wanted, with `pending` dials of ours
   * under way (see Overlay). Without it every discovered peer is dialled, up to `maxPeers`.
   */
  wants?: (id: string, pending: number, dialling: boolean) => boolean
  /**
   * Milliseconds, at most, that a wanted sighting waits at random before its dial: nodes that hear
   * the same announcements in the same order would otherwise all pick the same first peers.
   */
  spread?: number
}

/**
 * Decides whom to dial. libp2p 3 does not dial discovered peers by itself; left to both sides,
 * mDNS makes every pair dial each other and keep two connections. Here the lower peer id dials
 * at once and the higher one only if no connection appeared within `tieBreakDelay`. Under load a
 * handshake can outlast that delay and both dials succeed; then the higher id closes the
 * connection it dialled, so both sides keep the same one.
 */
export class Dialer {
  private readonly timers = new Set<ReturnType<typeof setTimeout>>()
  private readonly dialing = new Set<string>()
  // Dials made for traffic waiting on a connection (see connect), shared by all who wait.
  private readonly connecting = new Map<string, Promise<void>>()
  private readonly bootstrapPeers = new Map<string, string>() // address -> peer id last reached there
  private stopped = false
  private readonly self: string

  constructor (private readonly init: DialerInit) {
    this.self = init.libp2p.peerId.toString()
  }

  start (): void {
    this.init.sightings.addEventListener('peer', this.onDiscovery as EventListener)
    this.init.libp2p.addEventListener('connection:open', this.onConnectionOpen)
    if (this.init.bootstrap.length > 0) this.bootstrapTick()
  }

  stop (): void {
    this.stopped = true
    this.init.sightings.removeEventListener('peer', this.onDiscovery as EventListener)
    this.init.libp2p.removeEventListener('connection:open', this.onConnectionOpen)
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
  }

  /**
   * Peers a neighbour told us about. They hear of us at about the same moment (the neighbour
   * passes newcomers on to everyone), so the same tie-break as for discovery applies, after
   * `delay` ms.
   */
  offer (peers: PeerAddress[], delay = 0): void {
    for (const p of peers) {
      let id: PeerId
      try {
        id = peerIdFromString(p.id)
      } catch {
        this.init.log.error('a peer named an invalid peer id')
        continue
      }
      const addrs = p.addrs.flatMap(a => { try { return [multiaddr(a)] } catch { return [] } })
      // Known at once, not only when our turn to dial comes: a whisper or shout may dial it first.
      if (addrs.length > 0) {
        this.init.libp2p.peerStore.merge(id, { multiaddrs: addrs })
          .catch((err: Error) => { this.init.log('could not store addresses of %p: %s', id, err.message) })
      }
      this.tieBreak(id, addrs, delay)
    }
  }

  /**
   * Resolves once a connection to `peer` is open, for traffic that needs one now (a whisper, a
   * shout's direct copy, a request): it dials at once, whatever the tie-break says, since waiting
   * for the other side held such traffic past its timeout on a busy machine. A dial already made
   * for waiting traffic is shared.
   */
  async connect (peer: PeerId, signal?: AbortSignal): Promise<void> {
    const { libp2p } = this.init
    if (libp2p.getConnections(peer).some(c => c.status === 'open')) return
    const key = peer.toString()
    let dialing = this.connecting.get(key)
    if (dialing == null) {
      dialing = libp2p.dial(peer, { signal }).then(() => {}).finally(() => { this.connecting.delete(key) })
      this.connecting.set(key, dialing)
    }
    await dialing
  }

  private readonly onDiscovery = (evt: CustomEvent<Libp2pPeerInfo>): void => {
    this.tieBreak(evt.detail.id, evt.detail.multiaddrs)
  }

  private tieBreak (id: PeerId, addrs: Multiaddr[], delay = 0): void {
    // mDNS repeats every peer every few seconds: in a partial mesh most sightings are not wanted,
    // and a timer for each would be thousands a minute.
    const key = id.toString()
    if (this.init.wants != null && !this.init.wants(key, this.dialing.size, false)) return
    const wait = delay + (key < this.self ? this.init.tieBreakDelay : 0) + Math.random() * (this.init.spread ?? 0)
    if (wait > 0) this.later(wait, () => { void this.dial(id, addrs) })
    else void this.dial(id, addrs)
  }

  private readonly onConnectionOpen = (evt: CustomEvent<Connection>): void => {
    const remote = evt.detail.remotePeer
    if (remote.toString() > this.self) return // the lower id never closes: it keeps what it dialled
    const conns = this.init.libp2p.getConnections(remote)
    if (!conns.some(c => c.direction === 'inbound') || !conns.some(c => c.direction === 'outbound')) return
    for (const c of conns) {
      if (c.direction !== 'outbound') continue
      this.init.log('closing duplicate connection to %p', remote)
      // Graceful: frames already written on it are still delivered; the wire reopens on the other.
      c.close().catch((err: Error) => { c.abort(err) })
    }
  }

  private async dial (id: PeerId, addrs: Multiaddr[]): Promise<void> {
    const key = id.toString()
    const { libp2p } = this.init
    if (this.stopped || key === this.self || this.dialing.has(key)) return
    if (libp2p.getConnections(id).length > 0) return
    if (libp2p.getPeers().length >= this.init.maxPeers) return
    if (this.init.wants != null && !this.init.wants(key, this.dialing.size, true)) return
    this.dialing.add(key)
    try {
      if (addrs.length > 0) await libp2p.peerStore.merge(id, { multiaddrs: addrs })
      await libp2p.dial(id)
    } catch (err: any) {
      this.init.log('dial %p failed: %s', id, err.message)
    } finally {
      this.dialing.delete(key)
    }
  }

  private bootstrapTick (): void {
    if (this.stopped) return
    const { libp2p } = this.init
    for (const ma of this.init.bootstrap) {
      const addr = ma.toString()
      const known = this.bootstrapPeers.get(addr) ?? ma.getComponents().find(c => c.name === 'p2p')?.value
      if (known === this.self) continue
      if (known != null && libp2p.getConnections(peerIdFromString(known)).length > 0) continue
      if (this.dialing.has(addr)) continue
      this.dialing.add(addr)
      libp2p.dial(ma, { signal: AbortSignal.timeout(this.init.bootstrapInterval) })
        .then(conn => { this.bootstrapPeers.set(addr, conn.remotePeer.toString()) })
        .catch((err: Error) => { this.init.log('bootstrap %s not reachable: %s', addr, err.message) })
        .finally(() => { this.dialing.delete(addr) })
    }
    this.later(this.init.bootstrapInterval, () => { this.bootstrapTick() })
  }

  private later (ms: number, fn: () => void): void {
    if (this.stopped) return
    const t = setTimeout(() => { this.timers.delete(t); fn() }, ms)
    this.timers.add(t)
  }
}
