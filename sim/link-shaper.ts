// Per-link latency and jitter, freezes and crashes for the simulator's nodes, as a wrapper around
// any libp2p transport (handed to the node through its `transports` option). Every byte a node's
// connection receives is delivered `ms ± jitter` later, in order, so each direction of a link is
// delayed once (at its receiving end). A stalled (frozen) node's bytes, in and out, are held at
// the receiving ends while its connections stay open; a crashed node's bytes are dropped.
// Stalls and crashes only see both ends when both nodes share this shaper (one process: the
// memory-transport mode); latency works per process, so it also works across worker processes.
import type { ConnectionGater, MultiaddrConnection, PeerId, Transport, Upgrader } from '@libp2p/interface'

/** One-way delay of a link in ms: `ms` plus a uniform random amount in [-jitter, +jitter]. */
export interface LinkDelay { ms: number, jitter: number }

/** A delay for the links between any peer in `a` and any peer in `b` (peer ids). */
export interface LinkRule extends LinkDelay { a: string[], b: string[] }

type Deliver = () => void

/** The receiving end of one raw connection of a local node. */
class Link {
  remote: string | null = null
  readonly #queue: Array<{ at: number, deliver: Deliver }> = []
  #last = 0
  #timer: ReturnType<typeof setTimeout> | undefined

  constructor (readonly local: string, readonly conn: MultiaddrConnection, readonly shaper: LinkShaper) {
    // The transport feeds received bytes and the end of the stream to these two methods of the
    // connection itself (AbstractMultiaddrConnection); routing them through a queue delays both in order.
    const c = conn as any
    const onData = c.onData.bind(c)
    const onClosed = c.onTransportClosed.bind(c)
    c.onData = (data: unknown) => { if (!this.#dead()) this.#arrive(() => onData(data)) }
    c.onTransportClosed = (err?: Error) => {
      if (err != null || this.#dead()) { this.drop(); onClosed(err); return }
      this.#arrive(() => onClosed())
    }
  }

  #dead (): boolean { return this.shaper.isDead(this.local) || (this.remote != null && this.shaper.isDead(this.remote)) }

  #arrive (deliver: Deliver): void {
    const s = this.shaper
    const delay = s.delayOf(this.local, this.remote)
    if (delay === 0 && this.#queue.length === 0 && !this.#held()) { deliver(); return }
    // Never before what arrived earlier: jitter must not reorder a byte stream.
    const at = Math.max(this.#last, performance.now() + delay)
    this.#last = at
    this.#queue.push({ at, deliver })
    this.kick()
  }

  #held (): boolean { return this.shaper.isStalled(this.local) || (this.remote != null && this.shaper.isStalled(this.remote)) }

  /** Delivers what is due and sets a timer for the next; called again when a stall ends. */
  kick (): void {
    if (this.#timer != null || this.#held()) return
    const now = performance.now()
    while (this.#queue.length > 0 && this.#queue[0].at <= now) (this.#queue.shift() as { deliver: Deliver }).deliver()
    if (this.#queue.length > 0) this.#timer = setTimeout(() => { this.#timer = undefined; this.kick() }, this.#queue[0].at - now)
  }

  drop (): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#queue.length = 0
    this.shaper.forget(this)
  }
}

export class LinkShaper {
  #base: LinkDelay = { ms: 0, jitter: 0 }
  #rules: Array<{ ms: number, jitter: number, a: Set<string>, b: Set<string> }> = []
  readonly #stalled = new Set<string>()
  readonly #dead = new Set<string>()
  readonly #links = new Set<Link>()
  readonly #byConn = new WeakMap<object, Link>()

  constructor (private readonly random: () => number = Math.random) {}

  /** The delay of every link (`base`) and of particular links (`rules`, the last matching one wins). */
  set (base: LinkDelay, rules: LinkRule[] = []): void {
    this.#base = base
    this.#rules = rules.map(r => ({ ms: r.ms, jitter: r.jitter, a: new Set(r.a), b: new Set(r.b) }))
  }

  delayOf (local: string, remote: string | null): number {
    let d = this.#base
    if (remote != null) {
      for (const r of this.#rules) if ((r.a.has(local) && r.b.has(remote)) || (r.b.has(local) && r.a.has(remote))) d = r
    }
    if (d.ms === 0 && d.jitter === 0) return 0
    return Math.max(0, d.ms + (this.random() * 2 - 1) * d.jitter)
  }

  /** Holds every byte to and from the node (its connections stay open) until `stall(id, false)`. */
  stall (id: string, on: boolean): void {
    if (on) this.#stalled.add(id)
    else {
      this.#stalled.delete(id)
      for (const l of this.#links) l.kick()
    }
  }

  isStalled (id: string): boolean { return this.#stalled.has(id) }
  isDead (id: string): boolean { return this.#dead.has(id) }

  /** Drops every byte to and from the node from now on and resets its connections, without a word. */
  crash (id: string): void {
    this.#dead.add(id)
    this.#stalled.delete(id)
    for (const l of [...this.#links]) if (l.local === id) l.conn.abort(new Error('simulated crash'))
  }

  /** Lets a crashed node's identity connect again (a restart). */
  revive (id: string): void { this.#dead.delete(id) }

  forget (link: Link): void { this.#links.delete(link) }

  /** Open connections being shaped (for tests: every one is released when its connection ends). */
  get size (): number { return this.#links.size }

  /** Wraps a libp2p transport factory so that every connection it makes or accepts is shaped. */
  transport (factory: (components: any) => Transport): (components: any) => Transport {
    return (components) => {
      const inner = factory(components)
      const local = String(components.peerId)
      const upgrader = (up: Upgrader): Upgrader => proxy(up, {
        upgradeInbound: async (maConn: MultiaddrConnection, opts: any) => { this.#attach(local, maConn, null); return await up.upgradeInbound(maConn, opts) },
        upgradeOutbound: async (maConn: MultiaddrConnection, opts: any) => {
          const remote = maConn.remoteAddr.getComponents().find(c => c.name === 'p2p')?.value ?? null
          this.#attach(local, maConn, remote)
          return await up.upgradeOutbound(maConn, opts)
        }
      })
      return proxy(inner, {
        dial: async (ma: any, opts: any) => await inner.dial(ma, { ...opts, upgrader: upgrader(opts.upgrader) }),
        createListener: (opts: any) => inner.createListener({ ...opts, upgrader: upgrader(opts.upgrader) })
      })
    }
  }

  /**
   * Wraps the node's connection gater: once encryption has told who is at the other end of an
   * inbound connection, that link gets its rule (the bytes of the handshake itself get the default).
   */
  gater (inner: ConnectionGater = {}): ConnectionGater {
    const learn = (peer: PeerId, maConn?: MultiaddrConnection): void => {
      const link = maConn == null ? undefined : this.#byConn.get(maConn)
      if (link != null) link.remote = peer.toString()
    }
    return {
      ...inner,
      denyInboundEncryptedConnection: async (peer, maConn) => { learn(peer, maConn); return await inner.denyInboundEncryptedConnection?.(peer, maConn) ?? false },
      denyOutboundEncryptedConnection: async (peer, maConn) => { learn(peer, maConn); return await inner.denyOutboundEncryptedConnection?.(peer, maConn) ?? false }
    }
  }

  #attach (local: string, maConn: MultiaddrConnection, remote: string | null): void {
    const link = new Link(local, maConn, this)
    link.remote = remote
    this.#links.add(link)
    this.#byConn.set(maConn, link)
    maConn.addEventListener('close', () => { link.drop() }, { once: true })
  }
}

/** `target` with some methods replaced; every other property read from it (methods bound to it). */
function proxy<T extends object> (target: T, overrides: Record<string, unknown>): T {
  return new Proxy(target, {
    get (t, key) {
      if (typeof key === 'string' && Object.hasOwn(overrides, key)) return overrides[key]
      const v = Reflect.get(t, key, t)
      return typeof v === 'function' ? v.bind(t) : v
    }
  })
}
