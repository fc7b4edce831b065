import { TypedEventEmitter, peerDiscoverySymbol, serviceCapabilities } from '@libp2p/interface'
import type { PeerDiscovery, PeerDiscoveryEvents, PeerInfo, Startable } from '@libp2p/interface'

// A repeated sighting with the same addresses still reaches libp2p this often: its peer store
// ages out addresses it is not told of again.
const REFRESH_MS = 10 * 60_000
// Peers remembered at most (a LAN rarely has more); past this the memory starts over.
const MAX_REMEMBERED = 10_000

type Service = PeerDiscovery & Partial<Startable> & { [Symbol.toStringTag]?: string }

/**
 * Wraps a discovery service factory. Every sighting goes to `sightings`, for the Dialer, which
 * retries a peer it failed to reach each time it is heard of. libp2p hears only what is new: a
 * peer, or new addresses. mDNS repeats every peer every few seconds and libp2p writes each
 * sighting to its peer store under a lock; with 300 simulated peers those writes were a quarter
 * of the machine.
 */
export function relayed (factory: (components: any) => PeerDiscovery, sightings: EventTarget): (components: any) => PeerDiscovery {
  return components => new RelayedDiscovery(factory(components) as Service, sightings)
}

class RelayedDiscovery extends TypedEventEmitter<PeerDiscoveryEvents> implements PeerDiscovery, Startable {
  readonly [peerDiscoverySymbol] = this
  readonly [serviceCapabilities]: string[] = ['@libp2p/peer-discovery']
  readonly #told = new Map<string, { addrs: string, at: number }>()

  constructor (private readonly inner: Service, sightings: EventTarget) {
    super()
    inner.addEventListener('peer', evt => {
      sightings.dispatchEvent(new CustomEvent('peer', { detail: evt.detail }))
      if (this.#isNews(evt.detail)) this.safeDispatchEvent('peer', { detail: evt.detail })
    })
  }

  get [Symbol.toStringTag] (): string { return `shoal/relayed(${this.inner[Symbol.toStringTag] ?? 'discovery'})` }

  #isNews (peer: PeerInfo): boolean {
    const id = peer.id.toString()
    const addrs = peer.multiaddrs.map(a => a.toString()).sort().join(' ')
    const now = Date.now()
    const told = this.#told.get(id)
    if (told != null && told.addrs === addrs && now - told.at < REFRESH_MS) return false
    if (this.#told.size >= MAX_REMEMBERED) this.#told.clear()
    this.#told.set(id, { addrs, at: now })
    return true
  }

  async beforeStart (): Promise<void> { await this.inner.beforeStart?.() }
  async start (): Promise<void> { await this.inner.start?.() }
  async afterStart (): Promise<void> { await this.inner.afterStart?.() }
  async beforeStop (): Promise<void> { await this.inner.beforeStop?.() }
  async stop (): Promise<void> {
    await this.inner.stop?.()
    this.#told.clear()
  }

  async afterStop (): Promise<void> { await this.inner.afterStop?.() }
}
