import { peerIdFromString } from '@libp2p/peer-id'
import { logger } from '@libp2p/logger'
import type { Libp2p, Logger, PeerId, PrivateKey } from '@libp2p/interface'
import { decodeFrame, encodeFrame, headersProblem, whisperFrame, LIMITS, type Frame, type PeerState, type RelayedState, type ShoutEnvelope, type SignedState } from './codec/frame.js'
import { decodePayload, joinParts, partsOf, payloadParts, type Payload, type PayloadParts } from './codec/payload.js'
import { Wire } from './direct/wire.js'
import { Requests } from './direct/requests.js'
import { gather, scatter } from './direct/gather.js'
import { WorkQueues, consumerHeader, type ConsumeOptions, type EnqueueOptions, type Job } from './patterns/work-queue.js'
import { SureWhisper } from './patterns/sure-whisper.js'
import { validator, type HandleOptions } from './patterns/typed.js'
import { checkMessageHeaders, withHeaders } from './patterns/filter.js'
import { GroupSettings, shoutsOf, type JoinOptions, type Received, type Shout } from './groups/group-settings.js'
import { Dialer } from './discovery/dialer.js'
import { Overlay } from './discovery/overlay.js'
import { Groups } from './groups/groups.js'
import type { GossipSub } from './groups/pubsub.js'
import { PeerTable } from './presence/peer-table.js'
import { AckTracker } from './presence/acks.js'
import { PendingDeliveries } from './presence/pending.js'
import { Prober } from './presence/prober.js'
import { Suspicions } from './presence/suspicion.js'
import { suspicionBounds } from './presence/profile.js'
import { idHash, viewDigest } from './presence/digest.js'
import { signState, verifyState } from './presence/signed-state.js'
import type { StateChange } from './presence/peer-table.js'
import { worstLagSince } from './presence/lag.js'
import type { Lane } from './direct/wire.js'
import type { Uint8ArrayList } from 'uint8arraylist'
import { EventHub, type EventsOptions } from './emitter.js'
import type { ResolvedOptions } from './options.js'
import {
  InvalidArgumentError, MessageTooLargeError, NodeStoppedError, PeerNotFoundError, PeerUnreachableError, ShoalError, NotEnoughRepliesError, QueueFullError
} from './errors.js'
import type { EventOf, GatherItem, GatherOptions, GatherResult, IncomingRequest, NodeStats, PeerInfo, RequestHandler, RequestOptions, SendOptions, ShoalEvent, ShoalEventType } from './types.js'
import { multiaddr } from '@multiformats/multiaddr'
import { sample } from './util/sample.js'
import type { PeerPolicy } from './trust/peer-policy.js'
import { Limits } from './limits/limits.js'
import { Penalties, hostOf } from './limits/penalties.js'
import { ShoutPacer } from './limits/shout-pacer.js'
import type { PeerCap } from './limits/peer-cap.js'

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
// How long the redial after a dropped connection may take. A dead process refuses at once, so
// this only bounds the verdict on a live but busy peer, whose handshake can take a while.
const REDIAL_TIMEOUT_MS = 2000
// Lifeguard's K: independent suspicions after which a suspect gets the shortest timeout.
const EXPECTED_CONFIRMATIONS = 3
// How long a peer that left or was lost is remembered with its last version, so copies of that
// version still travelling (a relay, a neighbour's view) cannot bring it back (memberlist: 30 s).
const TOMBSTONE_MS = 30_000
// A peer we learnt of from others is not probed until we connect to it or this passes: dialling
// a hundred newcomers takes a while on a busy machine, and a probe waiting on a dial is no probe.
const JOIN_GRACE_MS = 3000
// How long a node is a newcomer, whose relaying of views would only repeat old news (see #settled).
const NEWCOMER_MS = 10_000
// How long the connection to a peer declared lost stays open: if it was frozen, not dead, it
// reads the verdict there when it wakes up and refutes it, without a reconnection storm.
const LINGER_MS = 10_000
// In a partial mesh: how long a pruned peer has to hang up itself before we do (see #prune).
const PRUNE_HANGUP_MS = 5000
// Dials to peers learnt from a relay wait this long (plus up to as much again, spread at random).
const RELAY_DIAL_DELAY_MS = 200
// How long the higher id of a new pair waits for the lower to dial before dialling itself. Under
// load a handshake takes over a second; a shorter wait made both dial, and pruning the duplicate
// could lose what was already written on it (gossip, a shout's direct copy).
const TIE_BREAK_MS = 3000
// How long a shout's direct copy to a member may wait for a connection or room on its stream.
const SHOUT_COPY_TIMEOUT_MS = 30_000
// How long a member past its high-water mark may read nothing before its shout copies are dropped
// instead of holding up the shouter: longer than a busy machine's pauses, short next to sendTimeout.
const QUEUE_STALL_MS = 2000
// A connection open this long is past duplicate pruning and gossipsub's stream set-up; before
// that, a shout also goes to the member directly (the receiver drops the second copy).
const SETTLED_CONNECTION_MS = 5000
// How many random peers a node tells of a peer whose connection died (see #declareLost).
const DEAD_FANOUT = 3
// Signed states are handed over in frames of about this size at most.
const STATES_FRAME_BYTES = 64 * 1024
// In a partial mesh: connected members each of our groups should have (gossipsub's mesh degree).
const GROUP_DEGREE = 6
// In a partial mesh: the random wait, at most, before a discovered peer is dialled (see Dialer).
const DIAL_SPREAD_MS = 1000
// In a partial mesh: one sync round in this many dials a random peer and prunes a surplus connection (see #rotate).
const ROTATE_EVERY = 5

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
  readonly #log: Logger
  readonly #table = new PeerTable()
  readonly #hub: EventHub
  readonly #wire: Wire
  readonly #groups: Groups
  readonly #dialer: Dialer
  // Set in a partial mesh (the `degree` option): which connections to keep.
  readonly #overlay: Overlay | undefined
  readonly #requests: Requests<Payload, PeerInfo>
  readonly #queues: WorkQueues
  readonly #sure: SureWhisper
  readonly #limits: Limits
  readonly #pacer: ShoutPacer
  // What this node joined its groups with (filter, key, validate): see join.
  readonly #settings = new GroupSettings()
  readonly #stats: NodeStats = {
    shoutsSent: 0,
    shoutFallbacks: 0,
    shoutsReceived: 0,
    duplicatesDropped: 0,
    staleDropped: 0,
    whispersSent: 0,
    whispersReceived: 0,
    malformedDropped: 0,
    unknownSenderDropped: 0,
    expiredDropped: 0,
    filteredDropped: 0,
    unreadableDropped: 0,
    forgedDropped: 0,
    invalidDropped: 0,
    deniedDropped: 0,
    rateLimited: 0,
    queueDropped: 0,
    queueRejected: 0,
    peersRefused: 0,
    oversizeDropped: 0,
    quarantined: 0,
    presenceFramesSent: 0,
    presenceBytesSent: 0,
    probesFailed: 0,
    localHealth: 0 // read from the prober in stats()
  }

  readonly #self: PeerState
  readonly #privateKey: PrivateKey
  readonly #policy: PeerPolicy | undefined
  // #self as signed by us; renewed with every version (see #resign).
  #signed: SignedState | undefined
  // Peers we have sent our hello to. Not the same as the table: a peer is introduced to us only
  // when its hello arrives, and a change made in between must still reach it.
  readonly #introduced = new Set<string>()
  // Peers whose own state reached us over a connection of theirs (their hello, or a change).
  readonly #heardFirstHand = new Set<string>()
  // Peers others declared dead whom we are pinging before we believe it (#onDeadFrame).
  readonly #checking = new Set<string>()
  readonly #acks: AckTracker
  readonly #pending: PendingDeliveries
  readonly #prober: Prober
  readonly #suspicions: Suspicions
  #syncTimer: ReturnType<typeof setInterval> | undefined
  // Partial mesh: signed states to pass on to the neighbours, together, on the next turn of the
  // event loop (see #passOn).
  readonly #outbox = new Map<string, RelayedState>()
  #outboxFlush: ReturnType<typeof setTimeout> | undefined
  // When we last sent a peer our versions or states it lacked, or told a peer it was declared
  // dead: at most once per sync interval each.
  readonly #versionsSent = new Map<string, number>()
  readonly #viewSent = new Map<string, number>()
  readonly #deathNoticed = new Map<string, number>()
  readonly #lingering = new Set<ReturnType<typeof setTimeout>>()
  #startedAt = 0
  #stopping: Promise<void> | undefined

  constructor (libp2p: ShoalLibp2p, opts: ResolvedOptions, deps: { sightings: EventTarget, privateKey: PrivateKey, policy?: PeerPolicy, peerCap?: PeerCap, penalties?: Penalties, gossipLimits?: { overRate: (author: string, count: number) => boolean, spent: (author: string) => boolean } }) {
    this.#libp2p = libp2p
    this.#opts = opts
    this.#privateKey = deps.privateKey
    this.#policy = deps.policy
    this.id = libp2p.peerId.toString()
    this.name = opts.name
    this.#log = this.#logger('node')
    // The version doubles as SWIM's incarnation number; starting from the clock makes a restarted
    // node (same key, new process) newer than anything its peers remember of its last life.
    this.#self = { name: opts.name, headers: { ...opts.headers }, groups: [...new Set(opts.groups)], ver: Date.now(), addrs: [] }
    for (const g of this.#self.groups) checkGroup(g)
    this.#acks = new AckTracker(opts.ackTimeout, (missing, ver) => {
      this.#log('%d peer(s) did not acknowledge state %d within %d ms', missing, ver, opts.ackTimeout)
    })
    this.#pending = new PendingDeliveries(PENDING_MAX_ITEMS, PENDING_MAX_MS, (peer, count, why) => {
      this.#stats.unknownSenderDropped += count
      this.#log.error('dropping %d message(s) from %s: %s', count, peer, why)
    })
    this.#hub = new EventHub((err, type) => {
      // A bug in the application's listener must be visible, but must not take the node down.
      console.error(`shoal: a '${type}' listener threw:`, err)
    })
    const penalties = deps.penalties ?? new Penalties()
    this.#limits = new Limits({
      shoutRate: opts.maxInboundShouts,
      messageRate: opts.maxInboundMessages,
      byteRate: opts.maxInboundBytes,
      maxQueuedBytes: opts.maxQueuedBytes,
      stallMs: QUEUE_STALL_MS,
      stats: this.#stats,
      penalties,
      onQuarantine: peer => {
        this.#log.error('quarantining %s: it sent garbage or flooded', peer)
        const id = peerIdFromString(peer)
        penalties.quarantineHosts(peer, this.#libp2p.getConnections(id).map(c => hostOf(c.remoteAddr)).filter(h => h != null))
        void this.#libp2p.hangUp(id).catch(() => {})
      },
      report: (peer, kind, channel, dropped) => { this.#hub.emit({ type: 'limit', peerId: peer, kind, channel, dropped }) }
    })
    this.#pacer = new ShoutPacer({ inboundRate: opts.maxInboundShouts, maxWaitMs: opts.sendTimeout })
    if (deps.peerCap != null) deps.peerCap.onRefuse = peer => { this.#limits.hit(peer, 'peers', 'connection') }
    if (deps.gossipLimits != null) deps.gossipLimits.overRate = (author, count) => this.#limits.overShoutRate(author, count)
    if (deps.gossipLimits != null) deps.gossipLimits.spent = author => this.#limits.spent(author)
    this.#wire = new Wire({
      libp2p,
      log: this.#logger('wire'),
      maxFrameBytes: opts.maxMessageSize + FRAME_OVERHEAD,
      openTimeout: opts.sendTimeout,
      onFrame: (from, bytes) => { this.#onFrame(from, bytes) },
      onReject: (from, err) => {
        this.#stats.malformedDropped++
        // Only a broken framing (it-length-prefixed's Invalid*Error) is the peer's fault: a stream
        // reset, as when a duplicate connection is pruned, must not cost an honest peer points.
        if (/^Invalid.*Length.*Error$/.test(err.name)) this.#limits.malformed(from.toString())
        if (err.name === 'InvalidDataLengthError') this.#limits.hit(from.toString(), 'size', 'wire')
      },
      connect: async (peer, signal) => { await this.#dialer.connect(peer, signal) },
      onNotShoal: (peer) => {
        this.#log('%p does not speak shoal; closing', peer)
        void libp2p.hangUp(peer).catch(() => {})
      }
    })
    this.#requests = new Requests({
      log: this.#logger('requests'),
      decode: payload => this.#checkedPayload(payload),
      encode: value => this.#parts(value as Payload),
      send: (peer, frame) => this.#wire.trySend(peer, frame) ? undefined : this.#sendDirect(peer, frame, opts.sendTimeout)
    })
    this.#sure = new SureWhisper({
      log: this.#logger('whisper'),
      send: async (peer, frame, signal) => { await this.#sendDirect(peer, frame, signal) },
      deliver: (from, payload) => { this.#onWhisper(from, payload) },
      dropped: why => { if (why === 'duplicate') this.#stats.duplicatesDropped++; else this.#stats.expiredDropped++ }
    })
    this.#queues = new WorkQueues({
      log: this.#logger('queue'),
      selfId: this.id,
      consumers: queue => this.#consumersOf(queue),
      request: async (peer, service, payload, options) => await this.#ask(peer, service, partsOf(payload), options.timeout, options.signal),
      handle: (service, handler) => this.#requests.handle(service, handler),
      advertise: async (queue, prefetch) => { await this.#advertise(queue, prefetch) }
    })
    this.#groups = new Groups({
      pubsub: libp2p.services.pubsub,
      log: this.#logger('groups'),
      stats: this.#stats,
      sendDirect: (peer, frame) => {
        if (this.#wire.trySend(peer, frame)) return { queued: Promise.resolve(), sent: Promise.resolve() }
        // Not connected yet, or the stream is full. The shout does not wait for the copy to go
        // out: one member that stops reading must not hold up everyone else's copies. The copy
        // waits for room (as a whisper would) or for a connection, longer, since one on a busy
        // machine can take seconds. Past the member's high-water mark the shout itself waits while
        // the member reads, and the copy is dropped (counted, reported) once it reads nothing.
        const queued = this.#limits.room(peer, frame.byteLength, 'shout')
        const sent = queued.then(async room => {
          if (!room) return
          const signal = AbortSignal.timeout(this.#wire.hasConnection(peer) ? opts.sendTimeout : SHOUT_COPY_TIMEOUT_MS)
          await this.#limits.sendReserved(peer, frame.byteLength, async () => { await this.#wire.send(peerIdFromString(peer), frame, signal) })
        })
        return { queued: queued.then(() => {}), sent }
      },
      settled: () => this.#settledPeers(),
      onShout: (from, shout) => { this.#onShout(from, shout) },
      admit: (author, bytes) => this.#limits.admit(author, 'shout', bytes),
      malformed: peer => { this.#limits.malformed(peer) }
    })
    this.#prober = new Prober({
      tuning: opts.presence,
      log: this.#logger('probe'),
      members: () => this.#probeable(),
      send: (to, frame) => { this.#sendPresence(to, frame, 'control') },
      onFailed: target => { this.#onProbeFailed(target) }
    })
    this.#suspicions = new Suspicions({
      bounds: () => suspicionBounds(opts.presence, this.#table.size + 1),
      expectedConfirmations: EXPECTED_CONFIRMATIONS,
      onExpire: (peer, ver, reporters) => { this.#declareLost(peer, ver, reporters.has(this.id) ? 'probed' : 'heard') },
      // Stalls shorter than a probe timeout are noise; longer ones may have hidden a refutation.
      stallSince: since => { const lag = worstLagSince(since); return lag > opts.presence.probeTimeout ? lag : 0 }
    })
    this.#overlay = opts.degree == null
      ? undefined
      : new Overlay({
        degree: opts.degree,
        groupDegree: GROUP_DEGREE,
        connected: () => this.#connectedIds(),
        groups: () => this.#self.groups,
        groupsOf: id => this.#table.groups(id),
        ids: () => this.#table.ids(),
        strangerInterval: opts.presence.syncInterval
      })
    const overlay = this.#overlay
    this.#dialer = new Dialer({
      libp2p,
      sightings: deps.sightings,
      log: this.#logger('dialer'),
      maxPeers: opts.maxPeers,
      bootstrap: opts.bootstrap.map(a => multiaddr(a)),
      bootstrapInterval: opts.bootstrapInterval,
      tieBreakDelay: TIE_BREAK_MS,
      ...(overlay != null ? { wants: (id, pending, dialling) => overlay.wants(id, pending, dialling), spread: DIAL_SPREAD_MS } : {})
    })
  }

  /** @internal called once by createNode */
  async start (): Promise<void> {
    await this.#wire.start()
    this.#libp2p.addEventListener('peer:connect', this.#onConnect)
    this.#libp2p.addEventListener('peer:disconnect', this.#onDisconnect)
    await this.#resign()
    this.#startedAt = Date.now()
    await this.#libp2p.start()
    this.#self.addrs = this.addresses().slice(0, LIMITS.addrs)
    this.#self.ver++
    await this.#resign()
    this.#groups.start()
    for (const g of this.#self.groups) this.#groups.subscribe(g)
    this.#dialer.start()
    this.#prober.start()
    this.#syncTimer = setInterval(() => { this.#sync() }, this.#opts.presence.syncInterval)
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

  /**
   * The shouts to `group` as an async iterator (as `events()`, ending as it does); `T` is what
   * the `validate` this node joined the group with returns.
   */
  shouts<T = Payload>(group: string, options?: EventsOptions): AsyncIterableIterator<Shout<T>> {
    checkGroup(group)
    return shoutsOf<T>(this.#hub.iterate(options), group)
  }

  peers (): PeerInfo[] { return this.#table.list() }

  peer (id: string): PeerInfo | undefined { return this.#table.info(id) }

  peersIn (group: string): PeerInfo[] {
    return this.#table.membersOf(group).map(id => this.#table.info(id) as PeerInfo)
  }

  /**
   * Sets one of this node's headers. Resolves once every peer has acknowledged it (as `join`
   * does); each of them sees an `update` event.
   */
  async setHeader (key: string, value: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    this.#checkRunning()
    if (typeof key !== 'string' || key.length === 0 || typeof value !== 'string') throw new InvalidArgumentError('setHeader needs a non-empty string key and a string value')
    const headers = { ...this.#self.headers, [key]: value }
    const problem = headersProblem(headers)
    if (problem != null) throw new InvalidArgumentError(problem)
    if (this.#self.headers[key] === value) return
    this.#self.headers = headers
    await this.#publishState(options.signal)
  }

  /** This node's headers. */
  headers (): Record<string, string> { return { ...this.#self.headers } }

  /** The groups this node is in. */
  groups (): string[] { return [...this.#self.groups] }

  stats (): NodeStats { return { ...this.#stats, localHealth: this.#prober.health } }

  /**
   * Joins `group`. Resolves once every peer has acknowledged the change (or `ackTimeout`
   * passed for the ones that did not), so a shout sent by any of them afterwards reaches us.
   */
  async join<T = Payload>(group: string, options: JoinOptions<T> = {}): Promise<void> {
    this.#checkRunning()
    checkGroup(group)
    // Joining again only replaces these options (all of them: one not given is dropped).
    this.#settings.prepare(group, options)()
    if (this.#self.groups.includes(group)) return
    this.#groups.subscribe(group)
    this.#self.groups.push(group)
    this.#mend()
    await this.#publishState(options.signal)
  }

  /** Leaves `group`; resolves once every peer has acknowledged it, as `join` does. */
  async leave (group: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    this.#checkRunning()
    checkGroup(group)
    const i = this.#self.groups.indexOf(group)
    if (i < 0) return
    this.#self.groups.splice(i, 1)
    this.#settings.clear(group)
    this.#groups.unsubscribe(group)
    await this.#publishState(options.signal)
  }

  /**
   * Sends `data` to every current member of `group`, each exactly once. Shouts are paced below
   * `maxInboundShouts` (what peers accept from one sender): past it a shout waits its turn, and
   * rejects with RateLimitedError at once if that is more than `sendTimeout` away, or with the
   * signal's reason if it aborts while waiting.
   */
  async shout (group: string, data: Payload, options: { signal?: AbortSignal, headers?: Record<string, string> } = {}): Promise<void> {
    this.#checkRunning()
    checkGroup(group)
    const headers = options.headers ?? {}
    checkMessageHeaders(headers)
    const payload = this.#encode(data)
    // Headers count towards maxMessageSize: the frame limit peers enforce is derived from it.
    const body = options.headers != null ? withHeaders(headers, payload) : payload
    if (body.byteLength - 1 > this.#opts.maxMessageSize) throw new MessageTooLargeError(body.byteLength - 1, this.#opts.maxMessageSize)
    const own = this.#settings.checkOwn(group, payload)
    // Peers drop what an author sends past maxInboundShouts, without telling it: wait our turn.
    await this.#pacer.turn(options.signal)
    // In a partial mesh, members we are not connected to hear the shout through gossipsub's mesh.
    const members = this.#table.membersOf(group)
    const connected = this.#overlay != null ? this.#connectedIds() : undefined
    await this.#groups.publish(group, this.#settings.seal(group, this.id, body), connected != null ? members.filter(id => connected.has(id)) : members)
    if (this.#opts.echo && this.#self.groups.includes(group) && this.#settings.accepts(group, headers)) {
      this.#hub.emit({ type: 'shout', from: this.#selfInfo(), group, data: own() as Payload, headers: { ...headers } })
    }
  }

  /**
   * Sends `data` to one peer over a direct, encrypted stream. Resolves when the message is
   * queued on the stream (with `ack` or `ttl`: once the peer acknowledged it, see SureWhisper);
   * rejects with PeerNotFoundError for a peer not in the view, and with PeerUnreachableError
   * when the peer cannot be reached or does not drain (or acknowledge) within the timeout.
   */
  async whisper (peerId: string, data: Payload, options: SendOptions = {}): Promise<void> {
    this.#checkRunning()
    if (typeof peerId !== 'string') throw new InvalidArgumentError('peerId must be a string')
    const payload = this.#encode(data)
    if (!this.#table.has(peerId)) throw new PeerNotFoundError(peerId)
    if (options.ack === true || options.ttl != null) {
      if (options.ttl != null && !(options.ttl > 0)) throw new InvalidArgumentError('ttl must be a positive number of milliseconds')
      await this.#sure.send(peerId, payload, { timeout: options.timeout ?? options.ttl ?? this.#opts.sendTimeout, ttl: options.ttl, signal: options.signal })
      this.#stats.whispersSent++
      return
    }
    const frame = whisperFrame(payload)
    if (options.signal == null && this.#wire.trySend(peerId, frame)) {
      this.#stats.whispersSent++
      return
    }
    const timeout = AbortSignal.timeout(options.timeout ?? this.#opts.sendTimeout)
    const signal = options.signal != null ? AbortSignal.any([options.signal, timeout]) : timeout
    try {
      await this.#bounded(peerId, frame, signal)
    } catch (err: any) {
      if (options.signal?.aborted === true) throw options.signal.reason
      if (err instanceof QueueFullError) throw err
      const reason = timeout.aborted ? `no progress within ${options.timeout ?? this.#opts.sendTimeout} ms` : String(err?.message ?? err)
      throw new PeerUnreachableError(peerId, reason, { cause: err })
    }
    this.#stats.whispersSent++
  }

  /**
   * Answers requests for `service` from any peer with `handler`'s return value (or the value its
   * promise resolves to). A handler that throws or rejects sends the requester a RemoteError
   * with its message. Replaces an earlier handler for the same service; returns a function that
   * removes this one. With `validate`, the handler only ever sees what it returned (see typed.ts).
   */
  handle<T = Payload>(service: string, handler: RequestHandler<T>, options: HandleOptions<T> = {}): () => void {
    this.#checkRunning()
    checkService(service)
    if (typeof handler !== 'function') throw new InvalidArgumentError('handler must be a function')
    if (options.validate == null) return this.#requests.handle(service, handler as RequestHandler)
    const check = validator(options.validate, 'request')
    // The request object is made for this one handler: its data is replaced by the checked value
    // (a copy would read, and so make, its signal).
    return this.#requests.handle(service, req => {
      const typed = req as unknown as IncomingRequest<T>
      typed.data = check(req.data)
      return handler(typed)
    })
  }

  /**
   * Asks one peer's `service` handler and resolves with its reply. Many requests may be in flight
   * at once, to one peer or many. Rejects with PeerNotFoundError (not in the view),
   * NoHandlerError (the peer does not handle `service`, at once), RemoteError (its handler
   * failed), RequestTimeoutError, PeerLostError (it left or was lost meanwhile),
   * PeerUnreachableError, or the signal's reason.
   */
  request (peerId: string, service: string, data: Payload, options: RequestOptions = {}): Promise<Payload> {
    // Not async: the request's own promise is returned, with no other wrapped around it; a bad
    // argument still rejects rather than throws.
    try {
      this.#checkRunning()
      if (typeof peerId !== 'string') throw new InvalidArgumentError('peerId must be a string')
      checkService(service)
      const payload = this.#parts(data)
      if (!this.#table.has(peerId)) throw new PeerNotFoundError(peerId)
      return this.#ask(peerId, service, payload, this.#timeout(options.timeout), options.signal)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /**
   * Scatter-gather: asks `service` of every other member of `group` at once and resolves with
   * the replies, the members that do not handle it, and those that failed or did not answer
   * within `timeout`. Resolves early once `max` replies are in; rejects with
   * NotEnoughRepliesError if fewer than `min` came.
   */
  async gather (group: string, service: string, data: Payload, options: GatherOptions = {}): Promise<GatherResult> {
    const [targets, ask, max] = this.#scatterArgs(group, service, data, options)
    const result = await gather(targets, ask, max, options.signal)
    if (result.replies.length < (options.min ?? 0)) throw new NotEnoughRepliesError(result, options.min as number)
    return result
  }

  /** As `gather`, but yields each member's answer as it arrives. Breaking out of the loop abandons the rest. */
  gatherEach (group: string, service: string, data: Payload, options: Omit<GatherOptions, 'min'> = {}): AsyncGenerator<GatherItem> {
    return scatter(...this.#scatterArgs(group, service, data, options), options.signal)
  }

  /**
   * Hands `data` to exactly one live consumer of `queue` (the one with the fewest jobs in flight,
   * within its prefetch) and resolves with its handler's result once it acknowledged. A consumer
   * lost before acknowledging gets the job taken back and given to another (at-least-once; the
   * job id is stable for deduplication). Waits while `queue` has no consumer.
   */
  async enqueue (queue: string, data: Payload, options: EnqueueOptions = {}): Promise<Payload> {
    this.#checkRunning()
    return await this.#queues.enqueue(queue, this.#encode(data), options)
  }

  /** Consumes jobs of `queue`; resolves (once peers know) to a function that stops consuming. */
  async consume<T = Payload>(queue: string, handler: (job: Job<T>) => unknown, options: ConsumeOptions<T> = {}): Promise<() => Promise<void>> {
    this.#checkRunning()
    return await this.#queues.consume(queue, handler, options)
  }

  #consumersOf (queue: string): Array<{ id: string, prefetch: number }> {
    const key = consumerHeader(queue)
    const out: Array<{ id: string, prefetch: number }> = []
    for (const peer of this.#table.list()) {
      const prefetch = Number(peer.headers[key])
      if (Number.isInteger(prefetch) && prefetch > 0) out.push({ id: peer.id, prefetch })
    }
    return out
  }

  /** Consumers announce themselves in a header, so producers know them, and their prefetch, from presence. */
  async #advertise (queue: string, prefetch: number | undefined): Promise<void> {
    const headers = { ...this.#self.headers }
    if (prefetch == null) delete headers[consumerHeader(queue)]
    else headers[consumerHeader(queue)] = String(prefetch)
    const problem = headersProblem(headers)
    if (problem != null) throw new InvalidArgumentError(problem)
    this.#self.headers = headers
    await this.#publishState()
  }

  /**
   * A frame straight to a peer's data stream: at once if it has room, else waiting (and dialling)
   * under `limit`, a signal or a timeout in ms. A timeout is only made when needed: the fast path
   * is most sends, and a timer per frame showed in request round trips.
   */
  async #sendDirect (peer: string, frame: Uint8Array, limit: AbortSignal | number): Promise<void> {
    if (this.#wire.trySend(peer, frame)) return
    const signal = typeof limit === 'number' ? AbortSignal.timeout(limit) : limit
    await this.#bounded(peer, frame, signal)
  }

  /** A direct send that waits for room, refused with QueueFullError past the peer's high-water mark. */
  async #bounded (peer: string, frame: Uint8Array | Uint8ArrayList, signal: AbortSignal): Promise<void> {
    try {
      await this.#limits.bounded(peer, frame.byteLength, async () => { await this.#wire.send(peerIdFromString(peer), frame, signal) })
    } catch (err) {
      if (err instanceof QueueFullError) this.#stats.queueRejected++
      throw err
    }
  }

  #scatterArgs (group: string, service: string, data: Payload, options: GatherOptions): [PeerInfo[], (peer: PeerInfo, signal: AbortSignal) => Promise<Payload>, number] {
    this.#checkRunning()
    checkGroup(group)
    checkService(service)
    const payload = this.#parts(data)
    const timeout = this.#timeout(options.timeout)
    const max = options.max ?? Infinity
    if (!(max > 0) || (options.min != null && !(options.min >= 0))) throw new InvalidArgumentError('min must be at least 0 and max more than 0')
    return [this.peersIn(group), async (peer, signal) => await this.#ask(peer.id, service, payload, timeout, signal), max]
  }

  #timeout (ms: number | undefined): number {
    const timeout = ms ?? this.#opts.requestTimeout
    if (!(timeout > 0)) throw new InvalidArgumentError('timeout must be a positive number of milliseconds')
    return timeout
  }

  #ask (peerId: string, service: string, payload: PayloadParts, timeout: number, signal?: AbortSignal): Promise<Payload> {
    return this.#requests.request(peerId, service, payload, timeout, signal).then(reply => this.#checkedPayload(reply), (err: any) => {
      if (err instanceof ShoalError || signal?.aborted === true) throw err
      throw new PeerUnreachableError(peerId, String(err?.message ?? err), { cause: err })
    })
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
    // The goodbye is a version of its own, which every peer acknowledges once it has read it.
    const ver = ++this.#self.ver
    const bye = encodeFrame({ type: 'bye', ver })
    this.#dialer.stop()
    this.#prober.stop()
    this.#limits.stop()
    this.#pacer.stop()
    this.#queues.stop()
    this.#sure.stop()
    this.#requests.stop()
    clearInterval(this.#syncTimer)
    clearTimeout(this.#outboxFlush)
    for (const t of this.#lingering) clearTimeout(t)
    this.#suspicions.clearAll()
    // A leaving node dials no one: a peer it is not connected to hears of the leave from the others.
    const connected = this.#connectedIds()
    const peers = this.#table.ids().filter(id => connected.has(id))
    const acked = this.#acks.wait(peers, ver, grace())
    await Promise.allSettled(peers.map(async id => { await this.#wire.sendConnected(peerIdFromString(id), bye, grace()) }))
    // Connections close only once every peer has read the goodbye (or the grace ran out): closing
    // them at once loads every peer with a hundred teardowns while it is still reading the
    // goodbyes, and measured at 40 peers made the leave seen by all in 70-120 ms instead of 20.
    await acked
    await this.#wire.stop(grace)
    this.#groups.stop()
    this.#acks.clear()
    this.#pending.clear()
    this.#libp2p.removeEventListener('peer:connect', this.#onConnect)
    this.#libp2p.removeEventListener('peer:disconnect', this.#onDisconnect)
    this.#hub.close()
    await this.#libp2p.stop()
  }

  /**
   * Logs of component `name` (`DEBUG=shoal*`), named after this node too: a simulator worker or a
   * test runs many nodes in one process, and a line must say whose it is.
   */
  #logger (name: string): Logger { return logger(`shoal:${name}:${this.id.slice(-6)}`) }

  #checkRunning (): void {
    if (this.#stopping != null) throw new NodeStoppedError()
  }

  #encode (data: Payload): Uint8Array { return joinParts(this.#parts(data)) }

  /** As #encode, for a payload written straight into its frame (requests and replies). */
  #parts (data: Payload): PayloadParts {
    const parts = payloadParts(data)
    if (parts.body.byteLength > this.#opts.maxMessageSize) throw new MessageTooLargeError(parts.body.byteLength, this.#opts.maxMessageSize)
    return parts
  }

  #selfInfo (): PeerInfo {
    const s = this.#self
    return { id: this.id, name: s.name, headers: { ...s.headers }, groups: [...s.groups], addresses: [...s.addrs], state: 'alive' }
  }

  #stateFrame (): Uint8Array { return encodeFrame({ type: 'state', signed: this.#signed as SignedState }) }

  /** Signs #self as it is now; every change of it (a new version) must be signed before it is sent. */
  async #resign (): Promise<void> {
    const signed = await signState(this.#privateKey, this.#self)
    // Two changes in quick succession may finish signing out of order; the newest signature wins.
    if (this.#signed == null || signed.state.ver >= this.#signed.state.ver) this.#signed = signed
  }

  /** Sends our new state to every peer and waits until each has acknowledged it. */
  async #publishState (signal?: AbortSignal): Promise<void> {
    const ver = ++this.#self.ver
    await this.#resign()
    const frame = this.#stateFrame()
    // In a partial mesh the neighbours acknowledge, and pass the change on to everyone else.
    const partial = this.#overlay != null
    const peers = partial ? this.#neighbours() : [...new Set([...this.#introduced, ...this.#table.ids()])]
    this.#count(frame, peers.length)
    const acked = this.#acks.wait(peers, ver, signal)
    await Promise.all(peers.map(async id => { await this.#sendTo(id, frame, 'data', !partial) }))
    await acked
  }

  /**
   * Frames to peers that fail are logged: the peer is going away and presence reports it. Only
   * a change the application made (`dial`) opens a connection; presence traffic rides on those
   * the Dialer made, and a peer not connected yet catches up through its hello or anti-entropy.
   */
  async #sendTo (id: string, frame: Uint8Array, lane: Lane = 'data', dial = false): Promise<void> {
    if (this.#wire.trySend(id, frame, lane)) return
    let peer: PeerId
    try {
      peer = peerIdFromString(id)
    } catch {
      return // an id a peer made up in a frame; nothing to send it to
    }
    const signal = AbortSignal.timeout(this.#opts.sendTimeout)
    await (dial ? this.#wire.send(peer, frame, signal, lane) : this.#wire.sendConnected(peer, frame, signal, lane))
      .catch((err: Error) => { this.#log('send to %s failed: %s', id, err.message) })
  }

  /** Sends a presence frame, counted in stats so its cost per node can be measured. */
  #sendPresence (id: string, frame: Frame, lane: Lane, dial = false): void {
    const bytes = encodeFrame(frame)
    this.#count(bytes, 1)
    void this.#sendTo(id, bytes, lane, dial)
  }

  #count (frame: Uint8Array, copies: number): void {
    this.#stats.presenceFramesSent += copies
    this.#stats.presenceBytesSent += frame.byteLength * copies
  }

  /** Sends a presence frame to every neighbour except `except`; encoded once for all. */
  #broadcast (frame: Frame, lane: Lane, except?: string): void {
    this.#sendAll(this.#neighbours(except), frame, lane)
  }

  /**
   * The peers presence news goes to: in a full mesh everyone in the view; in a partial mesh the
   * ones we are connected to (and introduced to), each of which passes news on to its own.
   */
  #neighbours (except?: string): string[] {
    if (this.#overlay == null) return this.#table.ids().filter(id => id !== except)
    // Connected peers in the view, and those we just sent our hello to (not in the view until
    // theirs arrives). Not #introduced alone: a peer wrongly declared lost leaves it, and after
    // refuting is back in the view over the same connection, with no new hello to re-add it.
    // One pass over the connections: this runs for every frame relayed, hundreds a second.
    const out = new Set<string>()
    for (const c of this.#libp2p.getConnections()) {
      const id = c.remotePeer.toString()
      if (id !== except && (this.#table.has(id) || this.#introduced.has(id))) out.add(id)
    }
    return [...out]
  }

  /** In a partial mesh, passes news heard from `from` on to the other neighbours (each passes it on once: when it is news to it). */
  #relay (frame: Frame, from: string): void {
    if (this.#overlay != null) this.#broadcast(frame, 'control', from)
  }

  #sendAll (to: string[], frame: Frame, lane: Lane): void {
    const bytes = encodeFrame(frame)
    this.#count(bytes, to.length)
    for (const id of to) void this.#sendTo(id, bytes, lane)
  }

  /**
   * Passes news on to every neighbour (partial mesh). What arrives in one turn of the event loop
   * goes out as one frame per neighbour, the newest version of each peer only: while a mesh forms
   * states arrive in bursts, and a frame each (each a Noise frame, a write) kept worker processes
   * too busy to accept connections at 200 peers. The neighbours it came from get it back too and
   * drop it as old news, cheaper than a frame encoded for each neighbour.
   */
  #passOn (news: RelayedState[]): void {
    for (const n of news) {
      const held = this.#outbox.get(n.id)
      if (held == null || held.signed.state.ver < n.signed.state.ver) this.#outbox.set(n.id, n)
    }
    this.#outboxFlush ??= setTimeout(() => {
      this.#outboxFlush = undefined
      const batch = [...this.#outbox.values()]
      this.#outbox.clear()
      if (this.#stopping == null) this.#sendStates(this.#neighbours(), batch)
    }, 0)
  }

  /** Sends signed states to peers (news, or a whole `view`), in frames of bounded size. */
  #sendStates (to: string[], states: RelayedState[], type: 'states' | 'view' = 'states'): void {
    if (to.length === 0) return
    let batch: RelayedState[] = []
    let bytes = 0
    for (const s of states) {
      const size = s.id.length + s.signed.body.byteLength + s.signed.sig.byteLength + 8
      if (batch.length > 0 && (bytes + size > STATES_FRAME_BYTES || batch.length >= LIMITS.peers)) {
        this.#sendAll(to, { type, states: batch }, 'data')
        batch = []
        bytes = 0
      }
      batch.push(s)
      bytes += size
    }
    if (batch.length > 0) this.#sendAll(to, { type, states: batch }, 'data')
  }

  /** Our view as signed states, ourselves included: what a newcomer or a peer out of sync is handed. */
  #view (except?: string): RelayedState[] {
    const view: RelayedState[] = [{ id: this.id, signed: this.#signed as SignedState }]
    for (const id of this.#table.ids()) {
      const signed = this.#table.signed(id)
      if (id !== except && signed != null) view.push({ id, signed })
    }
    return view
  }

  /**
   * Whether this node has been in the mesh a while. A view handed to a newcomer is news to the
   * newcomer alone; passed on, as before, each newcomer sent the whole view to each neighbour,
   * which at 200 peers kept worker processes too busy to accept connections. A settled node
   * passes a view's news on: it may come from the other side of a healed partition.
   */
  #settled (): boolean { return Date.now() - this.#startedAt > NEWCOMER_MS }

  /** Peers we hold an open connection to. */
  #connectedIds (): Set<string> {
    return new Set(this.#libp2p.getConnections().map(c => c.remotePeer.toString()))
  }

  /** Peers the prober may pick: connected ones, and those we have not reached long after hearing of them. */
  #probeable (): string[] {
    const connected = this.#connectedIds()
    // In a partial mesh a peer we are not connected to is watched by its own neighbours.
    if (this.#overlay != null) return this.#table.ids().filter(id => connected.has(id))
    const now = Date.now()
    return this.#table.ids().filter(id => connected.has(id) || now - (this.#table.since(id) ?? now) > JOIN_GRACE_MS)
  }

  /** No connection to `peer` has been open for long. */
  #newlyConnected (peer: string): boolean {
    const now = Date.now()
    return !this.#libp2p.getConnections(peerIdFromString(peer)).some(c => c.status === 'open' && now - c.timeline.open > SETTLED_CONNECTION_MS)
  }

  /** Peers with a connection that has been open for a while (see Groups' `settled`): one pass, for every member of a shout at once. */
  #settledPeers (): Set<string> {
    const now = Date.now()
    const out = new Set<string>()
    for (const c of this.#libp2p.getConnections()) if (c.status === 'open' && now - c.timeline.open > SETTLED_CONNECTION_MS) out.add(c.remotePeer.toString())
    return out
  }

  /** A report about `peer` at version `ver` when we already hold a newer version of it. */
  #outdated (peer: string, ver: number): boolean { return (this.#table.ver(peer) ?? Infinity) > ver }

  // --- failure detection (SWIM + Lifeguard; see presence/) ---

  #onProbeFailed (target: string): void {
    // A probe in flight when the connection was pruned on purpose failed for that reason alone.
    if (this.#overlay?.recentlyPruned(target) === true && !this.#connectedIds().has(target)) return
    this.#stats.probesFailed++
    const ver = this.#table.ver(target)
    if (ver == null) return
    // Our own suspicion is news to the others even when they already suspect: it confirms theirs,
    // and shortens the suspect's timeout. Past K confirmations the timeout is at its minimum, so
    // more would only add traffic, when the mesh may already be overloaded.
    const result = this.#suspect(target, ver, this.id)
    if (result === 'new' || (result === 'confirmed' && this.#suspicions.confirmations(target) <= EXPECTED_CONFIRMATIONS)) {
      this.#broadcast({ type: 'suspect', peer: target, ver }, 'control')
    }
  }

  /** Applies a suspicion of `peer` at version `ver` reported by `from`. */
  #suspect (peer: string, ver: number, from: string): 'new' | 'confirmed' | 'known' | 'stale' {
    if (this.#outdated(peer, ver)) return 'stale'
    const result = this.#suspicions.report(peer, ver, from)
    if (result === 'new' && this.#table.setSuspect(peer, true)) {
      this.#log('%s is suspect (reported by %s)', peer, from)
      this.#hub.emit({ type: 'suspect', peer: this.#table.info(peer) as PeerInfo, since: this.#suspicions.since(peer) as number })
    }
    return result
  }

  #onSuspectFrame (from: string, peer: string, ver: number): void {
    if (peer === this.id) { this.#refute(from, ver); return }
    // In a full mesh, only from a peer we hold as a live member. One we suspect, or no longer
    // hold, has itself been out of reach: whatever it failed to reach meanwhile is the likeliest
    // its own links' doing, and its word may be seconds old (frames held while its links stalled
    // arrive all at once when they recover). Our own probes, and the other members, still speak
    // for the peer, and the reporter sent the suspect its suspicion itself. Not in a partial mesh:
    // there we may be the suspect's only way to hear of it and refute; dropped by nodes that
    // suspected the relayer, suspicions went on at others unrefuted, and live peers were declared
    // lost (two runs of scale-500: 1 454 and 1 948 false exits, against none without the rule).
    if (this.#overlay == null && (!this.#table.has(from) || this.#table.isSuspect(from))) return
    if (this.#suspect(peer, ver, from) !== 'new') return
    const frame: Frame = { type: 'suspect', peer, ver }
    if (this.#overlay == null) {
      // Pass a fresh suspicion on to the suspect itself: the reporter may be the one that cannot
      // reach it, and only the suspect can refute.
      this.#sendPresence(peer, frame, 'control')
      // Lifeguard shortens a suspicion with each independent confirmation, but in round robin a
      // given peer is probed by anyone only about every other period: a frozen peer kept its
      // suspicion near the longest timeout. About K of the nodes that hear of it check at once.
      if (Math.random() < EXPECTED_CONFIRMATIONS / Math.max(1, this.#table.size)) this.#prober.probeNow(peer)
      return
    }
    // In a partial mesh a suspicion is passed on hop by hop, so every node hears of it, by the
    // nodes that keep up. Each costs some 4000 frames at 500 peers; when a loaded machine makes
    // probes late, suspicions come by the dozen, and their relaying made the loops later still:
    // formation tipped into tens of thousands of false alarms. A node that is late itself keeps
    // a suspicion to the suspect (when it reaches it): a node far from the suspect can neither
    // check it nor refute for it, and hears the outcome all the same (the refutation, a new
    // version relayed like any state, or the verdict). Nodes that reach the suspect pass it on
    // to it (the prober may be the one that cannot reach it) and check it themselves.
    const reaches = this.#wire.hasConnection(peer)
    if (this.#keepingUp()) this.#relay(frame, from)
    else if (reaches) this.#sendPresence(peer, frame, 'control')
    if (reaches) this.#prober.probeNow(peer)
  }

  /**
   * Whether this node keeps up: its event loop ran on time over the last two probe periods, and
   * its probes are answered (Lifeguard's local health is at its best).
   */
  #keepingUp (): boolean {
    const { probeInterval, probeTimeout } = this.#opts.presence
    return this.#prober.health === 0 && worstLagSince(Date.now() - 2 * probeInterval) <= probeTimeout
  }

  /** Someone suspects (or declared dead) this node at version `ver`: prove we are alive with a newer one. */
  #refute (from: string, ver: number): void {
    if (ver < this.#self.ver) {
      // Old news: we already moved on, `from` just has not heard. Tell it alone.
      this.#sendPresence(from, { type: 'state', signed: this.#signed as SignedState }, 'data')
      return
    }
    this.#prober.worse()
    this.#self.ver = ver + 1
    this.#log('refuting suspicion from %s with version %d', from, this.#self.ver)
    void this.#resign().then(() => {
      // `from` may have dropped us already, and we it: it must hear the refutation all the same.
      const to = this.#neighbours()
      if (!to.includes(from)) to.push(from)
      this.#sendAll(to, { type: 'state', signed: this.#signed as SignedState }, 'data')
    })
  }

  /**
   * The peer is lost, for us and (by our word) for others. Who says so, and to whom:
   * - `probed`: our own probes failed and the suspicion ran out. Everyone hears it, the peer
   *   included: if it was only frozen, it reads the verdict when it wakes and refutes.
   * - `heard`: the suspicion ran out on others' word. Every node holding it expires at about the
   *   same moment, and each telling everyone was ten thousand frames at a hundred nodes; those
   *   who probed it tell.
   * - `dropped`: its connection died and a redial was refused. Everyone connected to it saw its
   *   own connection drop in the same instant; three random peers are told, which reaches,
   *   through them, those never connected to it.
   */
  #declareLost (peer: string, ver: number, cause: 'probed' | 'heard' | 'dropped'): void {
    if (this.#table.ver(peer) !== ver) return
    const frame: Frame = { type: 'dead', peer, ver }
    if (cause === 'probed') this.#broadcast(frame, 'control')
    if (cause === 'dropped') {
      // In a partial mesh every neighbour must hear it: the others learn it through them.
      const to = this.#overlay != null ? this.#neighbours(peer) : sample(this.#table.ids().filter(id => id !== peer), DEAD_FANOUT)
      this.#sendAll(to, frame, 'control')
    }
    this.#lose(peer)
  }

  /** Tells a peer we hold as dead so (rate-limited): if it is alive after all, it will refute. */
  #tellDead (peer: string): void {
    const ver = this.#table.goneVer(peer)
    if (ver == null || !this.#once(this.#deathNoticed, peer)) return
    // The one presence frame that may dial: after a partition heals, a peer others vouch for may
    // have no connection to us, and it alone can end its exile (by refuting). Rate-limited above.
    this.#sendPresence(peer, { type: 'dead', peer, ver }, 'control', true)
  }

  #onDeadFrame (from: string, peer: string, ver: number): void {
    if (peer === this.id) { this.#refute(from, ver); return }
    if (this.#outdated(peer, ver)) return
    const news = this.#table.has(peer)
    // A verdict about a peer we still talk to is checked before it is believed. When a partition
    // heals, each side holds the other's peers as dead at the very versions the peers' own side
    // holds them alive (they never changed), and anti-entropy hands those tombstones across: every
    // peer that heard one dropped a live neighbour it was connected to, which then refuted and
    // entered again (22-51 false exits right after the heal in the default scenario). If it
    // answers, it hears of the verdict from us and refutes: its newer version sets the others right.
    const believe = (): void => {
      this.#log('%s declared %s lost', from, peer)
      this.#lose(peer)
      if (news) this.#relay({ type: 'dead', peer, ver }, from)
    }
    if (news && this.#heardFirstHand.has(peer) && this.#wire.hasConnection(peer)) {
      if (this.#checking.has(peer)) return
      this.#checking.add(peer)
      void this.#prober.ping(peer).then(answer => {
        this.#checking.delete(peer)
        if (this.#stopping != null || this.#table.ver(peer) !== ver) return
        if (answer === 'answered') this.#sendPresence(peer, { type: 'dead', peer, ver }, 'control')
        // 'unknown' is our own stall: we cannot tell. The verdict will come again (or our probes settle it).
        else if (answer === 'silent') believe()
      })
      return
    }
    believe()
  }

  /** A neighbour passes on that `peer` said goodbye (partial mesh). */
  #onLeftFrame (from: string, peer: string, ver: number): void {
    if (peer === this.id) { this.#refute(from, ver); return }
    if (this.#outdated(peer, ver) || !this.#table.has(peer)) return
    this.#gone(peer, 'left')
    this.#relay({ type: 'left', peer, ver }, from)
  }

  /**
   * Drops a peer as lost. Its connection is closed only later, if it has not come back by then:
   * hanging up at once on a peer that was merely slow would make it, and everyone who dropped it
   * at the same moment, reconnect at once, on a machine or network that was already struggling.
   */
  #lose (peer: string): void {
    this.#gone(peer, 'lost')
    this.#later(LINGER_MS, () => { if (!this.#table.has(peer)) this.#hangUp(peer) })
  }

  // --- anti-entropy ---

  #viewVersions (): Array<[string, number]> { return [[this.id, this.#self.ver], ...this.#table.versions()] }

  /**
   * Compares views with one random peer; it answers with its whole view only if they differ.
   * Also mends the mesh under the view: a peer we know but hold no connection to (its dial
   * failed, timed out on a busy machine, or lost a race with a duplicate) is offered again.
   */
  #sync (): void {
    const ids = this.#table.ids()
    if (ids.length === 0) return
    const connected = this.#connectedIds()
    if (this.#overlay != null) {
      this.#mend()
      if (Math.random() < 1 / ROTATE_EVERY) this.#rotate(this.#overlay, ids.filter(id => !connected.has(id)))
      // Every round, not only on rotation: while a mesh forms, newcomers' dials pile up on the
      // older nodes (37 connections at 200 peers, each one more copy of every relayed event).
      this.#prune(this.#overlay)
    } else {
      this.#offer(ids.filter(id => !connected.has(id)))
    }
    const reachable = ids.filter(id => connected.has(id))
    if (reachable.length === 0) return
    const peer = reachable[Math.floor(Math.random() * reachable.length)]
    this.#sendPresence(peer, { type: 'digest', ...viewDigest(this.#viewVersions()) }, 'control')
  }

  /** In a partial mesh, dials what the overlay misses: random peers, members of our groups. */
  #mend (): void {
    if (this.#overlay != null) this.#offer(this.#overlay.candidates())
  }

  /**
   * Partial mesh: dials one random peer we are not connected to (and #prune closes one past
   * twice the degree). The graph keeps mixing, so no part of it stays cut off from the rest after
   * a crash or a partition; and a peer none of whose neighbours is on our side of a partition is
   * still found unreachable, by whoever tries it: a failed dial is a suspicion it can refute.
   */
  #rotate (overlay: Overlay, unconnected: string[]): void {
    const [candidate] = sample(unconnected.filter(id => !overlay.recentlyPruned(id)), 1)
    if (candidate != null) {
      const signal = AbortSignal.timeout(REDIAL_TIMEOUT_MS)
      this.#dialer.connect(peerIdFromString(candidate), signal).catch((err: Error) => {
        // Only a refusal counts: a dial that timed out says more about a busy machine than about
        // the peer, and while a big mesh forms, suspicions raised on timeouts fed on themselves
        // (each one a flood, each flood more load), measured at 75 peers: 12 577 false alarms.
        // Nor does our own gater's refusal: the application keeps this node from a live peer
        // that others reach. Taken for the peer's, it raised a suspicion every few rotations.
        if (err.name === 'DialDeniedError') return
        if (signal.aborted || this.#stopping != null || !this.#table.has(candidate) || this.#connectedIds().has(candidate)) return
        this.#onProbeFailed(candidate)
      })
    }
  }

  /** Closes one connection past twice the degree that none of our groups needs (see Overlay.surplus). */
  #prune (overlay: Overlay): void {
    const victim = overlay.surplus(id => !this.#newlyConnected(id))
    if (victim == null) return
    overlay.notePruned(victim)
    // The pruned side hangs up once it has read the frame, so it knows the close was on purpose:
    // closed from here, the frame could be lost with the connection, and at 300 peers nearly
    // every prune then looked like a dropped connection, and a slow redial made it a suspicion.
    // We hang up ourselves only if it has not after a while.
    this.#sendPresence(victim, { type: 'prune' }, 'control')
    this.#later(PRUNE_HANGUP_MS, () => { this.#hangUp(victim) })
  }

  /** Closes every connection to `peer`; best effort. */
  #hangUp (peer: string): void {
    this.#libp2p.hangUp(peerIdFromString(peer)).catch((err: Error) => { this.#log('hang-up of %s: %s', peer, err.message) })
  }

  /** Runs `fn` after `ms` unless the node stops first. */
  #later (ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#lingering.delete(t)
      if (this.#stopping == null) fn()
    }, ms)
    this.#lingering.add(t)
  }

  #offer (ids: string[]): void {
    if (ids.length > 0) this.#dialer.offer(ids.map(id => ({ id, addrs: this.#table.info(id)?.addresses ?? [] })))
  }

  /**
   * A digest unlike ours: we send our versions, the sender hands us the states we lack and, if
   * we hold some it lacks, its own versions, for us to do the same. A version costs about 10
   * bytes where a state costs about 250: while a big mesh forms, views always differ a little,
   * and answering each digest with a whole view took a fifth of each simulator worker's time
   * at 500 peers.
   */
  #onDigest (from: string, count: number, hash: number): void {
    const versions = this.#viewVersions()
    const mine = viewDigest(versions)
    if (mine.count === count && mine.hash === hash) return
    if (!this.#once(this.#versionsSent, from)) return
    this.#sendPresence(from, { type: 'versions', entries: [...this.#versionsByHash(versions)] }, 'control')
    // And who is gone: a view only adds peers, and a peer still holding one that left or died
    // (its news got lost, or never crossed to its part of a partial mesh) would hold it forever.
    for (const d of this.#table.tombstones()) {
      if (d.id !== from) this.#sendPresence(from, { type: d.reason === 'left' ? 'left' : 'dead', peer: d.id, ver: d.ver }, 'control')
    }
  }

  /** A peer's versions: it gets the states it lacks or holds older, and our versions if it holds some we lack. */
  #onVersions (from: string, entries: Array<[number, number]>): void {
    const theirs = new Map(entries)
    const lacking = this.#view(from).filter(s => (theirs.get(idHash(s.id)) ?? -1) < s.signed.state.ver)
    if (lacking.length > 0 && this.#once(this.#viewSent, from)) this.#sendStates([from], lacking, 'view')
    const ours = this.#versionsByHash()
    if (entries.some(([h, ver]) => (ours.get(h) ?? -1) < ver) && this.#once(this.#versionsSent, from)) {
      this.#sendPresence(from, { type: 'versions', entries: [...ours] }, 'control')
    }
  }

  /** Our view's versions by peer id hash, the peers we hold as gone included: those we do not want back at that version. */
  #versionsByHash (versions = this.#viewVersions()): Map<number, number> {
    const out = new Map<number, number>()
    for (const d of this.#table.tombstones()) out.set(idHash(d.id), d.ver)
    for (const [id, ver] of versions) out.set(idHash(id), ver)
    return out
  }

  /** Whether `peer` may be sent what `sent` tracks now (at most once per sync interval); if so, notes it. */
  #once (sent: Map<string, number>, peer: string): boolean {
    const now = Date.now()
    if (now - (sent.get(peer) ?? 0) < this.#opts.presence.syncInterval) return false
    sent.set(peer, now)
    return true
  }

  /**
   * Signed states relayed by a peer: a newcomer, a view. Each is checked against its owner's key
   * and kept if newer; peers new to us are dialled (the lower id of each pair dials, see Dialer).
   * In a partial mesh what was news is passed on if `relay`, and only peers the overlay wants are
   * dialled.
   */
  async #onStates (from: string, states: RelayedState[], relay: boolean): Promise<void> {
    const dial: Array<{ id: string, addrs: string[] }> = []
    const news: RelayedState[] = []
    for (const { id, signed } of states) {
      if (this.#stopping != null) return
      if (id === this.id) continue
      if (!this.#table.isNewer(id, signed.state.ver)) {
        // Someone still vouches for a version we hold as dead: the peer must hear of it, to refute if alive.
        if ((this.#table.goneVer(id) ?? -1) >= signed.state.ver) this.#tellDead(id)
        continue
      }
      if (!await verifyState(id, signed)) {
        this.#stats.malformedDropped++
        this.#log.error('dropping a relayed state of %s: bad signature', id)
        continue
      }
      const change = this.#apply(id, signed)
      if (change != null) news.push({ id, signed })
      if (change?.entered === true && this.#libp2p.getConnections(peerIdFromString(id)).length === 0) {
        dial.push({ id, addrs: signed.state.addrs })
      }
    }
    if (this.#overlay != null && relay) this.#passOn(news)
    // Not at once: a relay reaches every node in the same moment, and a hundred handshakes
    // started then would hold up the very frames that make the newcomer seen.
    if (dial.length > 0) this.#dialer.offer(dial, RELAY_DIAL_DELAY_MS * (1 + Math.random()))
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
        const hello = this.#stateFrame()
        this.#count(hello, 1)
        await this.#wire.sendConnected(peer, hello, AbortSignal.timeout(this.#opts.sendTimeout))
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
    const connected = (): boolean => this.#libp2p.getConnections(evt.detail).length > 0
    // A goodbye may still sit unread on the peer's stream: read it first, so a graceful leave is
    // not reported as lost. A peer that reconnected meanwhile was a flap, not an exit.
    void this.#wire.drained(id, 1000).then(async () => {
      if (this.#stopping != null || !this.#table.has(id) || connected()) return
      // A connection that never carried its hello says nothing about the peer: its deny list
      // may close ours as it opens. Taken for a crash, each redial was a death told to others,
      // and the peer, alive, refuted: measured, the whole mesh saw it flap several times a second.
      if (!this.#heardFirstHand.has(id)) return
      // Closed on purpose (partial mesh rotation), by us or by it.
      if (this.#overlay?.recentlyPruned(id) === true) return
      // A closed connection is the fastest sign of a crash, but not proof: one quick redial tells
      // a dead process (refused at once) from a dropped connection to a live one.
      const signal = AbortSignal.timeout(REDIAL_TIMEOUT_MS)
      const started = Date.now()
      const reached = await this.#libp2p.dial(evt.detail, { signal }).then(() => true, () => false)
      if (this.#stopping != null || reached || connected() || !this.#table.has(id)) return
      // In a partial mesh our word goes to everyone: a redial that only timed out (a busy peer,
      // a busy machine) is a suspicion, which the peer can refute, not a verdict; and none at all
      // if our own event loop stalled meanwhile, which is enough to miss the handshake.
      if (this.#overlay != null && signal.aborted) {
        if (worstLagSince(started) < REDIAL_TIMEOUT_MS / 4) this.#onProbeFailed(id)
        return
      }
      // Peers that never connected to it (it was passed on to them) learn it from us.
      this.#declareLost(id, this.#table.ver(id) as number, 'dropped')
    })
  }

  #gone (id: string, reason: 'left' | 'lost'): void {
    this.#introduced.delete(id)
    this.#heardFirstHand.delete(id)
    this.#suspicions.clear(id)
    this.#viewSent.delete(id)
    this.#versionsSent.delete(id)
    // A peer that left hangs up itself once we acknowledged its goodbye; closing our streams now
    // could cut that acknowledgement short.
    if (reason === 'lost') this.#wire.close(id)
    this.#acks.forget(id)
    this.#pending.drop(id)
    this.#requests.peerGone(id)
    const peer = this.#table.remove(id, Date.now() + TOMBSTONE_MS, reason)
    if (peer != null) this.#hub.emit({ type: 'exit', peer, reason })
  }

  #onFrame (from: PeerId, bytes: Uint8Array): void {
    const id = from.toString()
    let frame: Frame
    try {
      frame = decodeFrame(bytes)
    } catch (err: any) {
      this.#stats.malformedDropped++
      this.#limits.malformed(id)
      this.#log.error('dropping malformed frame from %s: %s', id, err.message)
      return
    }
    // A stopping node waits only for the acknowledgements of its goodbye: anything else would
    // start timers (probes, suspicions, lingering connections) that stop() already released.
    if (this.#stopping != null && frame.type !== 'ack') return
    // Messages a peer starts are held to its rate; replies and presence answer what we sent.
    if ((frame.type === 'whisper' || frame.type === 'whisper-sure' || frame.type === 'request') && !this.#limits.admit(id, frame.type, bytes.byteLength)) return
    switch (frame.type) {
      case 'state': this.#onHello(id, frame.signed); break
      case 'states': void this.#onStates(id, frame.states, true); break
      case 'view': void this.#onStates(id, frame.states, this.#settled()); break
      case 'ack': this.#acks.ack(id, frame.ver); break
      case 'bye': {
        this.#sendPresence(id, { type: 'ack', ver: frame.ver }, 'data')
        const news = this.#table.has(id)
        this.#gone(id, 'left')
        if (news) this.#relay({ type: 'left', peer: id, ver: frame.ver }, id)
        break
      }
      case 'left': this.#onLeftFrame(id, frame.peer, frame.ver); break
      case 'prune':
        if (this.#overlay == null) break
        this.#overlay.notePruned(id)
        this.#hangUp(id)
        break
      case 'whisper': this.#onWhisper(id, frame.payload); break
      case 'shout': this.#groups.receiveDirect(id, frame.shout, bytes.byteLength); break
      case 'ping':
      case 'pong':
      case 'ping-req':
      case 'nack': this.#prober.receive(id, frame); break
      case 'suspect': this.#onSuspectFrame(id, frame.peer, frame.ver); break
      case 'dead': this.#onDeadFrame(id, frame.peer, frame.ver); break
      case 'digest': this.#onDigest(id, frame.count, frame.hash); break
      case 'versions': this.#onVersions(id, frame.entries); break
      case 'request': {
        const { id: rid, service, payload } = frame
        this.#deliver(id, peer => { this.#requests.onRequest(id, peer, rid, service, payload) })
        break
      }
      case 'reply': this.#requests.onReply(id, frame.id, frame.payload); break
      case 'reply-error': this.#requests.onReplyError(id, frame.id, frame.code, frame.message); break
      case 'whisper-sure': this.#sure.receive(id, frame.id, frame.expires, frame.payload); break
      case 'whisper-ack': this.#sure.ack(id, frame.id); break
    }
    // A peer we hold as dead is still talking to us: it may not know.
    if (frame.type !== 'bye' && !this.#table.has(id)) this.#tellDead(id)
  }

  /** A state from its owner: a hello, or a change. Acknowledged, since the owner waits for that. */
  #onHello (from: string, signed: SignedState): void {
    this.#heardFirstHand.add(from)
    this.#sendPresence(from, { type: 'ack', ver: signed.state.ver }, 'data')
    const change = this.#apply(from, signed)
    // In a partial mesh every change, not just an entry, reaches the others only through us.
    if (change != null && this.#overlay != null) {
      this.#passOn([{ id: from, signed }])
      if (change.entered) this.#sendStates([from], this.#view(from), 'view')
      return
    }
    if (change?.entered !== true) return
    // We heard the newcomer first-hand before hearing of it: pass it on to everyone at once, and
    // hand it our view, so all see each other in one hop instead of after a hundred handshakes.
    this.#sendStates(this.#table.ids().filter(p => p !== from), [{ id: from, signed }])
    this.#sendStates([from], this.#view(from), 'view')
  }

  /** Applies a newer state of `id`, however it reached us, and emits what changed. */
  #apply (id: string, signed: SignedState): StateChange | null {
    // A neighbour with other allow/deny lists may vouch for a peer we refuse.
    if (this.#policy?.admits(id) === false) return null
    const change = this.#table.apply(id, signed.state, signed)
    if (change == null) return null
    this.#deathNoticed.delete(id)
    if (this.#table.setSuspect(id, false)) {
      this.#suspicions.clear(id)
      this.#hub.emit({ type: 'alive', peer: this.#table.info(id) as PeerInfo })
    }
    const peer = this.#table.info(id) as PeerInfo
    if (change.entered) this.#hub.emit({ type: 'enter', peer })
    if (change.updated) this.#hub.emit({ type: 'update', peer })
    for (const group of change.left) this.#hub.emit({ type: 'leave', peer, group })
    for (const group of change.joined) this.#hub.emit({ type: 'join', peer, group })
    if (change.entered) this.#pending.release(id)
    if (change.entered || change.updated) this.#queues.dispatch()
    return change
  }

  #onShout (from: string, shout: ShoutEnvelope): void {
    // A copy sent just before we left (or a stale fallback) is not for us any more.
    if (!this.#self.groups.includes(shout.group)) return
    const got = this.#settings.receive(shout.group, from, shout.payload, payload => this.#checkedPayload(payload))
    if ('drop' in got) { this.#dropShout(from, shout.group, got); return }
    this.#deliver(from, peer => {
      this.#stats.shoutsReceived++
      this.#hub.emit({ type: 'shout', from: peer, group: shout.group, data: got.data as Payload, headers: got.headers })
    })
  }

  #dropShout (from: string, group: string, why: Extract<Received, { drop: string }>): void {
    if (why.drop === 'filter-threw') {
      console.error(`shoal: the filter of group '${group}' threw:`, why.error)
      return
    }
    this.#stats[`${why.drop}Dropped`]++
    if (why.drop !== 'filtered') this.#log.error('dropping shout to %s from %s: %s', group, from, why.reason)
  }

  #onWhisper (from: string, payload: Uint8Array): void {
    const data = this.#decode(from, payload)
    if (data === undefined) return
    this.#deliver(from, peer => {
      this.#stats.whispersReceived++
      this.#hub.emit({ type: 'whisper', from: peer, data })
    })
  }

  /** A payload from the wire, within the size limit, decoded; throws DecodeError or MessageTooLargeError. */
  #checkedPayload (payload: Uint8Array): Payload {
    if (payload.byteLength - 1 > this.#opts.maxMessageSize) throw new MessageTooLargeError(payload.byteLength - 1, this.#opts.maxMessageSize)
    return decodePayload(payload)
  }

  #decode (from: string, payload: Uint8Array): Payload | undefined {
    try {
      return this.#checkedPayload(payload)
    } catch (err: any) {
      this.#stats.malformedDropped++
      this.#log.error('dropping message from %s: %s', from, err.message)
      return undefined
    }
  }

  /** Delivers a message now if its sender has introduced itself, or once it has (see PendingDeliveries). */
  #deliver (from: string, emit: (peer: PeerInfo) => void): void {
    if (this.#policy?.admits(from) === false) { this.#stats.deniedDropped++; return }
    const peer = this.#table.info(from)
    if (peer != null) emit(peer)
    else this.#pending.hold(from, () => { emit(this.#table.info(from) as PeerInfo) })
  }
}

const utf8 = new TextEncoder()

function checkService (service: unknown): asserts service is string {
  // Each UTF-16 unit is at most 3 bytes of UTF-8: most names need no encoding to be measured.
  if (typeof service !== 'string' || service.length === 0 || (service.length * 3 > LIMITS.serviceBytes && utf8.encode(service).byteLength > LIMITS.serviceBytes)) {
    throw new InvalidArgumentError(`service must be a non-empty string of at most ${LIMITS.serviceBytes} bytes`)
  }
}

function checkGroup (group: unknown): asserts group is string {
  if (typeof group !== 'string' || group.length === 0 || utf8.encode(group).byteLength > LIMITS.groupBytes) {
    throw new InvalidArgumentError(`group must be a non-empty string of at most ${LIMITS.groupBytes} bytes`)
  }
}
