import * as lp from 'it-length-prefixed'
import { raceSignal } from 'race-signal'
import type { Uint8ArrayList } from 'uint8arraylist'
import type { Connection, Libp2p, Logger, PeerId, Stream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface'
import { FrameReader, UnexpectedEOFError } from './frame-reader.js'

export const WIRE_PROTOCOL = '/shoal/wire/1.0.0'

export interface WireInit {
  libp2p: Libp2p
  log: Logger
  /** Largest frame accepted from a peer; a larger one resets that stream, and only that one. */
  maxFrameBytes: number
  /** How long opening a stream to a peer (dialling it if needed) may take. */
  openTimeout: number
  /** Called for every complete inbound frame, with the authenticated sender. */
  onFrame: (from: PeerId, frame: Uint8Array) => void
  /** Called when a peer's stream is reset for breaking the framing rules (e.g. an oversized frame). */
  onReject?: (from: PeerId, err: Error) => void
  /** Resolves once a connection to `peer` is open, dialling if it must (see Dialer.connect). */
  connect: (peer: PeerId, signal: AbortSignal) => Promise<void>
  /** Called when a peer does not speak Shoal (stream negotiation failed). */
  onNotShoal?: (peer: PeerId) => void
}

/**
 * Which outbound stream a frame takes. Application data and the hello share the `data` lane, so
 * a sender's hello precedes its messages; failure-detection traffic has a lane of its own, so
 * a probe is not stuck behind megabytes of whispers to a slow reader (which would look exactly
 * like a dead peer).
 */
export type Lane = 'data' | 'control'

/**
 * Point-to-point frames between Shoal peers. Each node opens one outbound stream per peer and
 * lane and only writes to it; frames from a peer arrive on the streams that peer opened. One
 * stream per direction keeps ordering per sender and lane, and avoids a race over who opens a
 * shared stream.
 */
export class Wire {
  private readonly outbound = new Map<string, Promise<Stream>>()
  // The streams of `outbound` that are open, for trySend.
  private readonly ready = new Map<string, Stream>()
  private readonly inbound = new Map<Stream, { peer: string, done: Promise<void> }>()
  private stopping = false

  constructor (private readonly init: WireInit) {}

  async start (): Promise<void> {
    await this.init.libp2p.handle(WIRE_PROTOCOL, (stream, connection) => { this.read(stream, connection) }, {
      maxInboundStreams: 8,
      maxOutboundStreams: 8
    })
  }

  /**
   * Queues one frame at once if `peer`'s stream for `lane` is open and has room, and says whether
   * it did. The common case of every send, without the timers, signals and promise turns that
   * opening a stream or waiting for room need: a request's round trip is a few of these.
   */
  trySend (peer: string, frame: Uint8Array | Uint8ArrayList, lane: Lane = 'data'): boolean {
    const stream = this.ready.get(`${peer}/${lane}`)
    if (stream == null || stream.writeStatus !== 'writable' || stream.writableNeedsDrain) return false
    stream.send(lp.encode.single(frame))
    return true
  }

  /** Queues one frame to `peer`, opening the stream if needed; waits while the stream is full. */
  async send (peer: PeerId, frame: Uint8Array | Uint8ArrayList, signal?: AbortSignal, lane: Lane = 'data'): Promise<void> {
    const key = `${peer.toString()}/${lane}`
    // One retry, on a fresh stream over the connection that is kept: when both sides dialled at
    // once (each just heard of the other), the duplicate our stream was on gets pruned, while it
    // opens or between our last look at it and the write.
    for (let attempt = 1; ; attempt++) {
      let stream: Stream | undefined
      try {
        stream = await this.open(peer, key, signal)
        if (stream.writeStatus !== 'writable') throw new Error('stream closed')
        await drained(stream, signal)
        stream.send(lp.encode.single(frame))
        return
      } catch (err) {
        if (stream != null) this.drop(key, stream)
        if (attempt > 1 || signal?.aborted === true || this.keeper(peer) == null) throw err
      }
    }
  }

  /**
   * As `send`, but only over a connection that is already open; never dials. Presence traffic
   * takes this path: the Dialer alone decides who dials whom (see its tie-break), and a probe or
   * gossip frame dialling on its own made both sides of a pair dial at once, a duplicate
   * handshake per pair while a hundred nodes were forming a mesh on two cores.
   */
  async sendConnected (peer: PeerId, frame: Uint8Array, signal?: AbortSignal, lane: Lane = 'data'): Promise<void> {
    if (this.keeper(peer) == null) throw new NotConnectedError(peer.toString())
    await this.send(peer, frame, signal, lane)
  }

  /** Whether an open connection to `peer` exists (sending to it needs no dial). */
  hasConnection (peer: string): boolean {
    return this.init.libp2p.getConnections().some(c => c.status === 'open' && c.remotePeer.toString() === peer)
  }

  /** Drops the cached streams to `peer` (it is gone or misbehaved). */
  close (peer: string): void {
    for (const lane of ['data', 'control'] as const) {
      const key = `${peer}/${lane}`
      const p = this.outbound.get(key)
      this.outbound.delete(key)
      this.ready.delete(key)
      p?.then(s => { s.abort(new Error('peer closed')) }, () => {})
    }
  }

  /**
   * Resolves once every stream `peer` opened to us has been read to its end (at most
   * `timeoutMs`). libp2p reports a closed connection before the last frames buffered on its
   * streams have been read; whoever decides the peer is gone must see those frames first.
   */
  async drained (peer: string, timeoutMs: number): Promise<void> {
    const reads = [...this.inbound.values()].filter(r => r.peer === peer).map(r => r.done)
    if (reads.length === 0) return
    let timer: ReturnType<typeof setTimeout> | undefined
    await Promise.race([
      Promise.allSettled(reads),
      new Promise(resolve => { timer = setTimeout(resolve, timeoutMs) })
    ])
    clearTimeout(timer)
  }

  /** Lets queued frames go out (each close bounded by a `grace()` signal), then releases every stream. */
  async stop (grace: () => AbortSignal): Promise<void> {
    this.stopping = true
    await this.init.libp2p.unhandle(WIRE_PROTOCOL).catch(() => {})
    const streams = await Promise.allSettled(this.outbound.values())
    await Promise.allSettled(streams.map(async r => {
      if (r.status === 'fulfilled') await r.value.close({ signal: grace() }).catch(err => { r.value.abort(err) })
    }))
    this.outbound.clear()
    this.ready.clear()
    for (const s of this.inbound.keys()) s.abort(new Error('node stopped'))
    this.inbound.clear()
  }

  private async open (peer: PeerId, key: string, signal?: AbortSignal): Promise<Stream> {
    // A stream opened while the connections close under it makes yamux write its opening frame
    // to a closed connection from a microtask, which throws where no caller can catch it.
    if (this.stopping) throw new Error('wire stopped')
    let p = this.outbound.get(key)
    if (p == null) {
      // The dial is shared by concurrent senders, so it has its own timeout, not the caller's signal.
      const options = { signal: AbortSignal.timeout(this.init.openTimeout) }
      p = (async () => {
        if (this.keeper(peer) == null) await this.init.connect(peer, options.signal)
        const conn = this.keeper(peer)
        if (conn == null) throw new NotConnectedError(peer.toString())
        return await conn.newStream(WIRE_PROTOCOL, options)
      })()
      const opening = p
      this.outbound.set(key, opening)
      opening.then(stream => {
        if (this.outbound.get(key) === opening) this.ready.set(key, stream)
        stream.addEventListener('close', () => { this.forget(key, stream) })
      }, err => {
        if (this.outbound.get(key) === opening) this.outbound.delete(key)
        if (err?.name === 'UnsupportedProtocolError') this.init.onNotShoal?.(peer)
      })
    }
    return await raceSignal(p, signal)
  }

  /**
   * Of several connections to `peer`, the one the lower peer id dialled: the dialer keeps that one
   * when it prunes duplicates, so streams opened on it are not cut short.
   */
  private keeper (peer: PeerId): Connection | undefined {
    const conns = this.init.libp2p.getConnections(peer).filter(c => c.status === 'open')
    const weAreLower = this.init.libp2p.peerId.toString() < peer.toString()
    return conns.find(c => c.direction === (weAreLower ? 'outbound' : 'inbound')) ?? conns[0]
  }

  /** Forgets `stream` as the one for `key` at once, so the next open makes a new one. */
  private drop (key: string, stream: Stream): void {
    if (this.ready.get(key) !== stream) return
    this.ready.delete(key)
    this.outbound.delete(key)
  }

  private forget (key: string, stream: Stream): void {
    if (this.ready.get(key) === stream) this.ready.delete(key)
    const p = this.outbound.get(key)
    if (p == null) return
    void p.then(s => { if (s === stream && this.outbound.get(key) === p) this.outbound.delete(key) }, () => {})
  }

  private read (stream: Stream, connection: Connection): void {
    const from = connection.remotePeer
    const reader = new FrameReader(this.init.maxFrameBytes)
    let finish = (): void => {}
    const done = new Promise<void>(resolve => { finish = resolve })
    const fail = (err: Error): void => {
      stream.removeEventListener('message', onMessage)
      if (this.stopping) return
      // An oversized or corrupt length prefix loses frame sync: the only safe move is to reset
      // this stream. The peer reopens it on its next send; its other traffic and everyone
      // else's is unaffected.
      this.init.log.error('dropping wire stream from %p: %s', from, err.message)
      this.init.onReject?.(from, err)
      stream.abort(err)
    }
    // Frames are handed on as the bytes arrive, in the same turn: a request's round trip is a
    // few of these, and an async iterator added promise turns to each.
    const onMessage = (evt: StreamMessageEvent): void => {
      let frames: Uint8Array[]
      try {
        frames = reader.push(evt.data)
      } catch (err: any) {
        fail(err)
        return
      }
      for (const frame of frames) {
        // A throw here would escape from an event listener, i.e. crash the process: one frame
        // that trips a bug is logged and dropped instead, and the frames after it still count.
        try {
          this.init.onFrame(from, frame)
        } catch (err: any) {
          this.init.log.error('frame from %p failed: %s', from, err?.message ?? err)
        }
      }
    }
    stream.addEventListener('message', onMessage)
    // The peer closed its side: finish ours so the stream is released at both ends.
    stream.addEventListener('remoteCloseWrite', () => {
      if (reader.pending > 0) {
        fail(new UnexpectedEOFError('Unexpected end of input'))
        return
      }
      stream.close().catch((err: Error) => { stream.abort(err) })
    }, { once: true })
    stream.addEventListener('close', (evt: StreamCloseEvent) => {
      if (evt.error != null && evt.local !== true) fail(evt.error)
      this.inbound.delete(stream)
      finish()
    }, { once: true })
    this.inbound.set(stream, { peer: from.toString(), done })
  }
}

/** `sendConnected` to a peer we hold no open connection to. */
export class NotConnectedError extends Error {
  override name = 'NotConnectedError'
  constructor (peer: string) { super(`not connected to ${peer}`) }
}

/**
 * Waits until `stream` accepts more data. Not `stream.onDrain()`: in @libp2p/utils 7.4 its promise
 * is created once and never renewed, so after the first drain it resolves at once and a peer that
 * stops reading makes the sender buffer without bound (measured: 4 GiB in 20 s to a SIGSTOPped
 * peer). The 'drain' event itself is reliable. A drain can be followed at once by a new stall
 * (the stream flushes its queue in a microtask first), hence the loop.
 */
async function drained (stream: Stream, signal?: AbortSignal): Promise<void> {
  while (stream.writableNeedsDrain) {
    signal?.throwIfAborted()
    await new Promise<void>((resolve, reject) => {
      const cleanup = (): void => {
        stream.removeEventListener('drain', onDrain)
        stream.removeEventListener('close', onClose)
        signal?.removeEventListener('abort', onAbort)
      }
      const onDrain = (): void => { cleanup(); resolve() }
      const onClose = (evt: any): void => { cleanup(); reject(evt.error ?? new Error('stream closed')) }
      const onAbort = (): void => { cleanup(); reject(signal?.reason) }
      stream.addEventListener('drain', onDrain)
      stream.addEventListener('close', onClose)
      signal?.addEventListener('abort', onAbort)
    })
  }
}
