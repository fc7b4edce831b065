// A simulated LAN segment for peer discovery inside one process. One real mDNS socket per
// virtual node is a packet storm (stack.md, pitfall 7); this bus gives every node what mDNS
// would, at the cost of a function call.
import { TypedEventEmitter, peerDiscoverySymbol, serviceCapabilities } from '@libp2p/interface'
import type { PeerDiscovery, PeerDiscoveryEvents, PeerId, PeerInfo, Startable } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** The libp2p components a discovery service on the bus uses. */
export interface LanComponents {
  peerId: PeerId
  addressManager: { getAddresses: () => Multiaddr[] }
}

export interface LanBusOptions {
  /**
   * Milliseconds an announcement takes to reach another node (default 0: the next turn of the
   * event loop, never synchronously inside the announcer's call stack).
   */
  latency?: number
  /** Extra random delay per delivery, uniform in [0, jitter) ms (default 0). */
  jitter?: number
  /** Milliseconds between re-announcements by every member; 0 turns them off (default 0). */
  reannounceInterval?: number
}

/** Counters for what went over the bus. */
export interface LanBusStats {
  /** Announcements sent (a node coming up, or re-announcing). */
  announcements: number
  /** Peer records handed to a discovery service (announcements heard plus answers). */
  deliveries: number
}

/**
 * One simulated LAN segment. Behaves like mDNS on a quiet network: a node that comes up is heard
 * by every node already there, and every one of them answers it, so both ends of each pair learn
 * of each other (as with mDNS, the node's dialer decides who dials). Addresses are whatever the
 * node listens on, so it works with `/memory` and TCP alike.
 */
export class LanBus {
  readonly latency: number
  readonly jitter: number
  readonly reannounceInterval: number
  readonly stats: LanBusStats = { announcements: 0, deliveries: 0 }
  readonly #members = new Set<LanDiscovery>()

  constructor (options: LanBusOptions = {}) {
    this.latency = options.latency ?? 0
    this.jitter = options.jitter ?? 0
    this.reannounceInterval = options.reannounceInterval ?? 0
  }

  /** How many discovery services are on the bus now (started and not stopped). */
  get size (): number { return this.#members.size }

  /** @internal a member came up (or re-announces): everyone hears it, and everyone answers. */
  announce (from: LanDiscovery): void {
    this.stats.announcements++
    const info = from.self()
    for (const m of this.#members) {
      if (m === from) continue
      m.hear(info)
      from.hear(m.self())
    }
  }

  /** @internal */
  join (m: LanDiscovery): void { this.#members.add(m) }

  /** @internal */
  part (m: LanDiscovery): void { this.#members.delete(m) }

  /** @internal */
  delay (): number { return this.latency + (this.jitter > 0 ? Math.random() * this.jitter : 0) }
}

/** A libp2p peer discovery service on `bus`: pass `discovery: [lanDiscovery(bus)]` to createNode. */
export function lanDiscovery (bus: LanBus): (components: LanComponents) => PeerDiscovery {
  return (components) => new LanDiscovery(bus, components)
}

// How long to wait for the transports to listen before announcing with no addresses at all.
const READY_POLL_MS = 5
const READY_MAX_MS = 5000

class LanDiscovery extends TypedEventEmitter<PeerDiscoveryEvents> implements PeerDiscovery, Startable {
  readonly [peerDiscoverySymbol] = this
  readonly [Symbol.toStringTag] = 'shoal/sim-lan'
  readonly [serviceCapabilities]: string[] = ['@libp2p/peer-discovery']
  readonly #bus: LanBus
  readonly #components: LanComponents
  readonly #timers = new Set<ReturnType<typeof setTimeout>>()
  #interval: ReturnType<typeof setInterval> | undefined
  #running = false

  constructor (bus: LanBus, components: LanComponents) {
    super()
    this.#bus = bus
    this.#components = components
  }

  isStarted (): boolean { return this.#running }

  self (): PeerInfo {
    return { id: this.#components.peerId, multiaddrs: this.#components.addressManager.getAddresses() }
  }

  /** A peer record arrives, asynchronously like a packet. */
  hear (info: PeerInfo): void {
    this.#later(this.#bus.delay(), () => {
      this.#bus.stats.deliveries++
      this.safeDispatchEvent('peer', { detail: info })
    })
  }

  start (): void { this.#running = true }

  // libp2p's transport manager starts listening in its own afterStart, concurrently with this
  // one: until it has, there is no address to hand out. Wait for one (transport-agnostic), then
  // join the bus. Answers are delivered on a later turn of the event loop, by which time the
  // node that owns this service has finished starting and listens for 'peer:discovery'.
  afterStart (): void {
    const deadline = Date.now() + READY_MAX_MS
    const tryJoin = (): void => {
      if (this.#components.addressManager.getAddresses().length === 0 && Date.now() < deadline) {
        this.#later(READY_POLL_MS, tryJoin)
        return
      }
      this.#bus.join(this)
      this.#bus.announce(this)
      if (this.#bus.reannounceInterval > 0) {
        this.#interval = setInterval(() => { this.#bus.announce(this) }, this.#bus.reannounceInterval)
        this.#interval.unref?.()
      }
    }
    this.#later(0, tryJoin)
  }

  stop (): void {
    this.#running = false
    this.#bus.part(this)
    if (this.#interval != null) clearInterval(this.#interval)
    this.#interval = undefined
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
  }

  #later (ms: number, fn: () => void): void {
    if (!this.#running) return
    const t = setTimeout(() => {
      this.#timers.delete(t)
      if (this.#running) fn()
    }, ms)
    this.#timers.add(t)
  }
}
