// Peer discovery for simulator nodes in worker processes: the coordinator plays the LAN (it knows
// every node's segment) and forwards to each node the announcements it would hear, like mDNS
// on that segment, without a multicast socket per node. In one process, sim/lan-bus.ts does this.
import { TypedEventEmitter, peerDiscoverySymbol, serviceCapabilities } from '@libp2p/interface'
import type { PeerDiscovery, PeerDiscoveryEvents, PeerInfo, Startable } from '@libp2p/interface'
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

// Every node of a worker hears every peer on each re-announcement: parsed once per worker, the
// ids and addresses cost what one node's would. Parsed afresh for each node, with the checks
// they led to, they took a third of each worker's time at 500 peers: a cost of the simulation.
// Peer ids and multiaddrs are immutable, so sharing them between nodes is safe.
const seen = new Map<string, { key: string, info: PeerInfo }>()

function parsed (p: Sighting): PeerInfo {
  const key = p.addrs.join(' ')
  const held = seen.get(p.id)
  if (held?.key === key) return held.info
  const info = { id: peerIdFromString(p.id), multiaddrs: p.addrs.map(a => multiaddr(a)) }
  seen.set(p.id, { key, info })
  return info
}

const SIGHTINGS_PER_TURN = 20

class FeedDiscovery extends TypedEventEmitter<PeerDiscoveryEvents> implements PeerDiscovery, Startable {
  readonly [peerDiscoverySymbol] = this
  readonly [Symbol.toStringTag] = 'shoal/sim-feed'
  readonly [serviceCapabilities]: string[] = ['@libp2p/peer-discovery']
  #running = false

  isStarted (): boolean { return this.#running }
  start (): void { this.#running = true }
  stop (): void { this.#running = false }

  /**
   * A few sightings per turn of the event loop, as packets would come: heard all at once, one
   * re-announcement to the 125 nodes of a worker at 500 peers was 60 000 sightings in one turn,
   * a stall of seconds in which every probe of those nodes went unanswered.
   */
  hear (peers: Sighting[]): void {
    const from = (start: number): void => {
      setImmediate(() => {
        const end = Math.min(peers.length, start + SIGHTINGS_PER_TURN)
        for (let i = start; i < end && this.#running; i++) {
          try {
            this.safeDispatchEvent('peer', { detail: parsed(peers[i]) })
          } catch {
            // A malformed announcement is dropped, as a LAN packet would be.
          }
        }
        if (end < peers.length && this.#running) from(end)
      })
    }
    from(0)
  }
}
