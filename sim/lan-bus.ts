import { TypedEventEmitter, peerDiscoverySymbol } from '@libp2p/interface'
import type { PeerDiscovery, PeerDiscoveryEvents, PeerId, PeerInfo, Startable } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

interface LanComponents {
  peerId: PeerId
  addressManager: { getAddresses: () => Multiaddr[] }
}

/**
 * One simulated LAN segment. Behaves like mDNS on a quiet network: a node that comes up is heard
 * by every node already there, and hears all of them, without a multicast socket per node
 * (hundreds of those in one process are a packet storm).
 */
export class LanBus {
  readonly members = new Set<LanDiscovery>()

  announce (from: LanDiscovery): void {
    for (const m of this.members) {
      if (m === from) continue
      m.hear(from.self())
      from.hear(m.self())
    }
  }
}

/** A libp2p discovery service on `bus`: pass `[lanDiscovery(bus)]` as a node's `discovery`. */
export function lanDiscovery (bus: LanBus): (components: LanComponents) => PeerDiscovery {
  return (components) => new LanDiscovery(bus, components)
}

class LanDiscovery extends TypedEventEmitter<PeerDiscoveryEvents> implements PeerDiscovery, Startable {
  readonly [peerDiscoverySymbol] = this
  readonly [Symbol.toStringTag] = 'shoal/sim-lan'
  private running = false

  constructor (private readonly bus: LanBus, private readonly components: LanComponents) {
    super()
  }

  self (): PeerInfo {
    return { id: this.components.peerId, multiaddrs: this.components.addressManager.getAddresses() }
  }

  hear (info: PeerInfo): void {
    // Asynchronous like a packet: never re-enter the announcer's call stack.
    queueMicrotask(() => { if (this.running) this.safeDispatchEvent('peer', { detail: info }) })
  }

  start (): void { this.running = true }

  // Announce only once listening: before that there are no addresses to hand out.
  afterStart (): void {
    this.bus.members.add(this)
    this.bus.announce(this)
  }

  stop (): void {
    this.running = false
    this.bus.members.delete(this)
  }
}
