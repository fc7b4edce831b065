// Peer discovery for simulator nodes in worker processes: the coordinator plays the LAN (it knows
// every node's segment) and forwards to each node the announcements it would hear, like mDNS
// on that segment, without a multicast socket per node. In one process, sim/lan-bus.ts does this.
import { TypedEventEmitter, peerDiscoverySymbol, serviceCapabilities } from '@libp2p/interface'
import type { PeerDiscovery, PeerDiscoveryEvents, Startable } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'

/** A peer as the coordinator announces it: plain data, so it crosses IPC. */
export interface Sighting { id: string, addrs: string[] }

export interface Feed {
  /** Pass to createNode's `discovery` option. */
  discovery: (components: unknown) => PeerDiscovery
  /** Peers this node hears about now, on a later turn of the event loop, like packets. */
  hear: (peers: Sighting[]) => void
}

export function feedDiscovery (): Feed {
  let service: FeedDiscovery | undefined
  return {
    discovery: () => (service = new FeedDiscovery()),
    hear: (peers) => { service?.hear(peers) }
  }
}

class FeedDiscovery extends TypedEventEmitter<PeerDiscoveryEvents> implements PeerDiscovery, Startable {
  readonly [peerDiscoverySymbol] = this
  readonly [Symbol.toStringTag] = 'shoal/sim-feed'
  readonly [serviceCapabilities]: string[] = ['@libp2p/peer-discovery']
  #running = false

  isStarted (): boolean { return this.#running }
  start (): void { this.#running = true }
  stop (): void { this.#running = false }

  hear (peers: Sighting[]): void {
    setImmediate(() => {
      for (const p of peers) {
        if (!this.#running) return
        try {
          this.safeDispatchEvent('peer', { detail: { id: peerIdFromString(p.id), multiaddrs: p.addrs.map(a => multiaddr(a)) } })
        } catch {
          // A malformed announcement is dropped, as a LAN packet would be.
        }
      }
    })
  }
}
