import { peerIdFromString } from '@libp2p/peer-id'
import { logger } from '@libp2p/logger'
import type { Libp2p, PeerId } from '@libp2p/interface'
import { decodeFrame, encodeFrame, LIMITS, type Frame, type PeerState, type ShoutEnvelope } from './codec/frame.js'
import { decodePayload, encodePayload, type Payload } from './codec/payload.js'
import { Wire } from './direct/wire.js'
import { Dialer } from './discovery/dialer.js'
import { Groups } from './groups/groups.js'
import type { GossipSub } from './groups/pubsub.js'
import { PeerTable } from './presence/peer-table.js'
import { AckTracker } from './presence/acks.js'
import { PendingDeliveries } from './presence/pending.js'
import { EventHub, type EventsOptions } from './emitter.js'
import type { ResolvedOptions } from './options.js'
import {
  InvalidArgumentError, MessageTooLargeError, NodeStoppedError, PeerNotFoundError, PeerUnreachableError
} from './errors.js'
import type { EventOf, NodeStats, PeerInfo, SendOptions, ShoalEvent, ShoalEventType } from './types.js'
import { multiaddr } from '@multiformats/multiaddr'

export type ShoalLibp2p = Libp2p<{ pubsub: GossipSub }>

// Bounds on what is held for a peer whose hello has not arrived yet (see #deliver).
const PENDING_MAX_ITEMS = 256
const PENDING_MAX_MS = 5000
// Hellos sent to a connected peer before giving up on it (each waits up to ackTimeout).
const HELLO_ATTEMPTS = 5
// How long stop() lets goodbyes and queued frames drain before closing connections.
const STOP_GRACE_MS = 1000
// Wire frames carry the payload plus a little framing; anything larger is not from an honest peer.
const FRAME_OVERHEAD = 512

/**
 * A member of the mesh. Created by `createNode`; see the README for the model. Public methods
 * validate their arguments and reject with typed errors; nothing a remote peer sends can make
 * them throw.
 */
export class ShoalNode {
  readonly id: string
  readonly name: string
  readonly #libp2p: ShoalLibp2p
  readonly #opts: ResolvedOptions
  readonly #log = logger('shoal:node')
  readonly #table = new PeerTable()
  readonly #hub: EventHub
  readonly #wire: Wire
  readonly #groups: Groups
  readonly #dialer: Dialer
  readonly #stats: NodeStats = {
    shoutsSent: 0, shoutFallbacks: 0, shoutsReceived: 0, duplicatesDropped: 0, whispersSent: 0, whispersReceived: 0, malformedDropped: 0
  }

  readonly #self: PeerState
  // Peers we have sent our hello to. Not the same as the table: a peer is introduced to us only
  // when its hello arrives, and a change made in between must still reach it.
  readonly #introduced = new Set<string>()
  readonly #acks: AckTracker
  readonly #pending: PendingDeliveries
  #stopping: Promise<void> | undefined

  constructor (libp2p: ShoalLibp2p, opts: ResolvedOptions, sightings: EventTarget) {
    this.#libp2p = libp2p
    this.#opts = opts
    this.id = libp2p.peerId.toString()
    this.name = opts.name
    this.#self = { name: opts.name, headers: { ...opts.headers }, groups: [...new Set(opts.groups)], ver: 1, addrs: [] }
    for (const g of this.#self.groups) checkGroup(g)
    this.#acks = new AckTracker(opts.ackTimeout, (missing, ver) => {
      this.#log('%d peer(s) did not acknowledge state %d within %d ms', missing, ver, opts.ackTimeout)
    })
    this.#pending = new PendingDeliveries(PENDING_MAX_ITEMS, PENDING_MAX_MS, (peer, count, why) => {
      this.#stats.malformedDropped += count
      this.#log.error('dropping %d message(s) from %s: %s', count, peer, why)
    })
    this.#hub = new EventHub((err, type) => {
      // A bug in the application's listener must be visible, but must not take the node down.
      console.error(`shoal: a '${type}' listener threw:`, err)
    })
    this.#wire = new Wire({
      libp2p,
      log: logger('shoal:wire'),
      maxFrameBytes: opts.maxMessageSize + FRAME_OVERHEAD,
      openTimeout: opts.sendTimeout,
      onFrame: (from, bytes) => { this.#onFrame(from, bytes) },
      onReject: () => { this.#stats.malformedDropped++ },
      onNotShoal: (peer) => {
        this.#log('%p does not speak shoal; closing', peer)
        void libp2p.hangUp(peer).catch(() => {})
      }
    })
    this.#groups = new Groups({
      pubsub: libp2p.services.pubsub,
      log: logger('shoal:groups'),
      stats: this.#stats,
      sendDirect: async (peer, frame) => { await this.#wire.send(peerIdFromString(peer), frame, AbortSignal.timeout(opts.sendTimeout)) },
      onShout: (from, shout) => { this.#onShout(from, shout) }
    })
    this.#dialer = new Dialer({
      libp2p,
      sightings,
      log: logger('shoal:dialer'),
      maxPeers: opts.maxPeers,
      bootstrap: opts.bootstrap.map(a => multiaddr(a)),
      bootstrapInterval: opts.bootstrapInterval,
      tieBreakDelay: 1000
    })
  }

  /** @internal called once by createNode */
  async start (): Promise<void> {
    await this.#wire.start()
    this.#libp2p.addEventListener('peer:connect', this.#onConnect)
    this.#libp2p.addEventListener('peer:disconnect', this.#onDisconnect)
    await this.#libp2p.start()
    this.#self.addrs = this.addresses().slice(0, LIMITS.addrs)
    this.#groups.start()
    for (const g of this.#self.groups) this.#groups.subscribe(g)
    this.#dialer.start()
  }

  /** The underlying libp2p node. Advanced use only: its API follows libp2p's major version. */
  get libp2p (): ShoalLibp2p { return this.#libp2p }

  /** Multiaddrs (with `/p2p/<id>`) other nodes can use to reach this one, e.g. as `bootstrap`. */
  addresses (): string[] { return this.#libp2p.getMultiaddrs().map(String) }

  on<K extends ShoalEventType>(type: K, listener: (event: EventOf<K>) => void): this {
    this.#hub.on(type, listener)
    return this
  }

  off<K extends ShoalEventType>(type: K, listener: (event: EventOf<K>) => void): this {
    this.#hub.off(type, listener)
    return this
  }

  /** Every event as an async iterator; ends when the node stops or `signal` aborts. */
  events (options?: EventsOptions): AsyncIterableIterator<ShoalEvent> { return this.#hub.iterate(options) }

  peers (): PeerInfo[] { return this.#table.list() }

  peer (id: string): PeerInfo | undefined { return this.#table.info(id) }

  peersIn (group: string): PeerInfo[] {
    return this.#table.membersOf(group).map(id => this.#table.info(id) as PeerInfo)
  }

  /** The groups this node is in. */
  groups (): string[] { return [...this.#self.groups] }

  stats (): NodeStats { return { ...this.#stats } }

  /**
   * Joins `group`. Resolves once every peer has acknowledged the change (or `ackTimeout`
   * passed for the ones that did not), so a shout sent by any of them afterwards reaches us.
   */
  async join (group: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    this.#checkRunning()
    checkGroup(group)
    if (this.#self.groups.includes(group)) return
    this.#groups.subscribe(group)
    this.#self.groups.push(group)
    await this.#publishState(options.signal)
  }

  /** Leaves `group`; resolves once every peer has acknowledged it, as `join` does. */
  async leave (group: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    this.#checkRunning()
    checkGroup(group)
    const i = this.#self.groups.indexOf(group)
    if (i < 0) return
    this.#self.groups.splice(i, 1)
    this.#groups.unsubscribe(group)
    await this.#publishState(options.signal)
  }

  /** Sends `data` to every current member of `group`, each exactly once. */
  async shout (group: string, data: Payload, options: { signal?: AbortSignal } = {}): Promise<void> {
    this.#checkRunning()
    checkGroup(group)
    const payload = this.#encode(data)
    options.signal?.throwIfAborted()
    await this.#groups.publish(group, payload, this.#table.membersOf(group))
    if (this.#opts.echo && this.#self.groups.includes(group)) {
      this.#hub.emit({ type: 'shout', from: this.#selfInfo(), group, data: decodePayload(payload) })
    }
  }

  /**
   * Sends `data` to one peer over a direct, encrypted stream. Resolves when the message is
   * queued on the stream; rejects with PeerNotFoundError for a peer not in the view, and with
   * PeerUnreachableError when the peer cannot be reached or does not drain within the timeout.
   */
  async whisper (peerId: string, data: Payload, options: SendOptions = {}): Promise<void> {
    this.#checkRunning()
    if (typeof peerId !== 'string') throw new InvalidArgumentError('peerId must be a string')
    const payload = this.#encode(data)
    if (!this.#table.has(peerId)) throw new PeerNotFoundError(peerId)
    const timeout = AbortSignal.timeout(options.timeout ?? this.#opts.sendTimeout)
    const signal = options.signal != null ? AbortSignal.any([options.signal, timeout]) : timeout
    try {
      await this.#wire.send(peerIdFromString(peerId), encodeFrame({ type: 'whisper', payload }), signal)
    } catch (err: any) {
      if (options.signal?.aborted === true) throw options.signal.reason
      const reason = timeout.aborted ? `no progress within ${options.timeout ?? this.#opts.sendTimeout} ms` : String(err?.message ?? err)
      throw new PeerUnreachableError(peerId, reason, { cause: err })
    }
    this.#stats.whispersSent++
  }

  /**
   * Leaves the mesh: peers see `exit` with reason 'left' at once. Releases every timer, stream
   * and socket, so a process with nothing else to do can exit.
   */
  async stop (): Promise<void> {
    this.#stopping ??= this.#shutdown()
    await this.#stopping
  }

  async #shutdown (): Promise<void> {
    // One deadline for the whole goodbye, but a signal per call: hundreds of peers would otherwise
    // hang hundreds of listeners on one signal.
    const deadline = Date.now() + STOP_GRACE_MS
    const grace = (): AbortSignal => AbortSignal.timeout(Math.max(1, deadline - Date.now()))
    const bye = encodeFrame({ type: 'bye' })
    this.#dialer.stop()
    await Promise.allSettled(this.#table.ids().map(async id => { await this.#wire.send(peerIdFromString(id), bye, grace()) }))
    await this.#wire.stop(grace)
    this.#groups.stop()
    this.#acks.clear()
    this.#pending.clear()
    this.#libp2p.removeEventListener('peer:connect', this.#onConnect)
    this.#libp2p.removeEventListener('peer:disconnect', this.#onDisconnect)
    this.#hub.close()
    await this.#libp2p.stop()
  }

  #checkRunning (): void {
    if (this.#stopping != null) throw new NodeStoppedError()
  }

  #encode (data: Payload): Uint8Array {
    const payload = encodePayload(data)
    if (payload.byteLength - 1 > this.#opts.maxMessageSize) throw new MessageTooLargeError(payload.byteLength - 1, this.#opts.maxMessageSize)
    return payload
  }

  #selfInfo (): PeerInfo {
    const s = this.#self
    return { id: this.id, name: s.name, headers: { ...s.headers }, groups: [...s.groups], addresses: [...s.addrs] }
  }

  #stateFrame (): Uint8Array { return encodeFrame({ type: 'state', state: this.#self }) }

  /** Sends our new state to every peer and waits until each has acknowledged it. */
  async #publishState (signal?: AbortSignal): Promise<void> {
    const ver = ++this.#self.ver
    const frame = this.#stateFrame()
    const peers = [...new Set([...this.#introduced, ...this.#table.ids()])]
    const acked = this.#acks.wait(peers, ver, signal)
    await Promise.all(peers.map(async id => { await this.#sendTo(id, frame) }))
    await acked
  }

  /** Frames to peers that fail are logged: the peer is going away and presence reports it. */
  async #sendTo (id: string, frame: Uint8Array): Promise<void> {
    await this.#wire.send(peerIdFromString(id), frame, AbortSignal.timeout(this.#opts.sendTimeout))
      .catch((err: Error) => { this.#log('send to %s failed: %s', id, err.message) })
  }

  readonly #onConnect = (evt: CustomEvent<PeerId>): void => {
    const id = evt.detail.toString()
    // The hello: the first frame on our stream to this peer, so it precedes anything else we send.
    this.#introduced.add(id)
    void this.#sendHello(id)
  }

  /**
   * Sends our hello and waits for the peer to acknowledge it, sending again while the peer stays
   * connected: a frame queued on a connection that then closes (a duplicate being pruned, say)
   * is lost, and a peer that never got our hello would never see us enter.
   */
  async #sendHello (id: string): Promise<void> {
    const peer = peerIdFromString(id)
    for (let attempt = 1; attempt <= HELLO_ATTEMPTS; attempt++) {
      if (this.#stopping != null || this.#libp2p.getConnections(peer).length === 0) return
      const ver = this.#self.ver
      try {
        await this.#wire.send(peer, this.#stateFrame(), AbortSignal.timeout(this.#opts.sendTimeout))
        await this.#acks.wait([id], ver)
      } catch (err: any) {
        this.#log('hello to %s failed: %s', id, err.message)
        await new Promise(resolve => setTimeout(resolve, 250))
      }
      if (this.#acks.ackedBy(id) >= ver) return
      this.#log('hello to %s not acknowledged (attempt %d)', id, attempt)
    }
  }

  readonly #onDisconnect = (evt: CustomEvent<PeerId>): void => {
    const id = evt.detail.toString()
    // A goodbye may still sit unread on the peer's stream: read it first, so a graceful leave is
    // not reported as lost. A peer that reconnected meanwhile was a flap, not an exit.
    void this.#wire.drained(id, 1000).then(() => {
      if (this.#stopping != null || this.#libp2p.getConnections(evt.detail).length > 0) return
      this.#gone(id, 'lost')
    })
  }

  #gone (id: string, reason: 'left' | 'lost'): void {
    this.#introduced.delete(id)
    this.#wire.close(id)
    this.#acks.forget(id)
    this.#pending.drop(id)
    const peer = this.#table.remove(id)
    if (peer != null) this.#hub.emit({ type: 'exit', peer, reason })
  }

  #onFrame (from: PeerId, bytes: Uint8Array): void {
    const id = from.toString()
    let frame: Frame
    try {
      frame = decodeFrame(bytes)
    } catch (err: any) {
      this.#stats.malformedDropped++
      this.#log.error('dropping malformed frame from %s: %s', id, err.message)
      return
    }
    switch (frame.type) {
      case 'state': this.#onState(id, frame.state); break
      case 'ack': this.#acks.ack(id, frame.ver); break
      case 'bye': this.#gone(id, 'left'); break
      case 'whisper': this.#onWhisper(id, frame.payload); break
      case 'shout': this.#groups.receiveDirect(id, frame.shout); break
      case 'peers': this.#dialer.offer(frame.peers.filter(p => p.id !== this.id && !this.#table.has(p.id))); break
    }
  }

  #onState (id: string, state: PeerState): void {
    const change = this.#table.apply(id, state)
    void this.#sendTo(id, encodeFrame({ type: 'ack', ver: state.ver }))
    if (change == null) return
    const peer = this.#table.info(id) as PeerInfo
    if (change.entered) {
      this.#hub.emit({ type: 'enter', peer })
      // Tell the newcomer who else is here, so one bootstrap address is enough to find everyone.
      const others = this.#table.ids().filter(p => p !== id).slice(0, LIMITS.peers)
        .map(p => ({ id: p, addrs: (this.#table.info(p) as PeerInfo).addresses }))
      if (others.length > 0) void this.#sendTo(id, encodeFrame({ type: 'peers', peers: others }))
    }
    for (const group of change.left) this.#hub.emit({ type: 'leave', peer, group })
    for (const group of change.joined) this.#hub.emit({ type: 'join', peer, group })
    if (change.entered) this.#pending.release(id)
  }

  #onShout (from: string, shout: ShoutEnvelope): void {
    // A copy sent just before we left (or a stale fallback) is not for us any more.
    if (!this.#self.groups.includes(shout.group)) return
    const data = this.#decode(from, shout.payload)
    if (data === undefined) return
    this.#deliver(from, peer => {
      this.#stats.shoutsReceived++
      this.#hub.emit({ type: 'shout', from: peer, group: shout.group, data })
    })
  }

  #onWhisper (from: string, payload: Uint8Array): void {
    const data = this.#decode(from, payload)
    if (data === undefined) return
    this.#deliver(from, peer => {
      this.#stats.whispersReceived++
      this.#hub.emit({ type: 'whisper', from: peer, data })
    })
  }

  #decode (from: string, payload: Uint8Array): Payload | undefined {
    try {
      if (payload.byteLength - 1 > this.#opts.maxMessageSize) throw new MessageTooLargeError(payload.byteLength - 1, this.#opts.maxMessageSize)
      return decodePayload(payload)
    } catch (err: any) {
      this.#stats.malformedDropped++
      this.#log.error('dropping message from %s: %s', from, err.message)
      return undefined
    }
  }

  /** Delivers a message now if its sender has introduced itself, or once it has (see PendingDeliveries). */
  #deliver (from: string, emit: (peer: PeerInfo) => void): void {
    const peer = this.#table.info(from)
    if (peer != null) emit(peer)
    else this.#pending.hold(from, () => { emit(this.#table.info(from) as PeerInfo) })
  }
}

function checkGroup (group: unknown): asserts group is string {
  if (typeof group !== 'string' || group.length === 0 || new TextEncoder().encode(group).byteLength > LIMITS.groupBytes) {
    throw new InvalidArgumentError(`group must be a non-empty string of at most ${LIMITS.groupBytes} bytes`)
  }
}
