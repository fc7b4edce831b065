import type { Logger } from '@libp2p/interface'
import type { Frame, ReplyErrorCode } from '../codec/frame.js'
import { NodeStoppedError, NoHandlerError, PeerLostError, RemoteError, RequestTimeoutError } from '../errors.js'

/** What a handler is given: who asks, what, and a signal that aborts if the asker goes away. */
export interface Request<T> {
  from: string
  data: T
  /** Aborted when the requester leaves or is lost, or this node stops: its reply would go nowhere. */
  signal: AbortSignal
}

export interface RequestsInit<T> {
  /** Sends a frame to a peer over its direct stream; rejects if the peer cannot be reached. */
  send: (peer: string, frame: Frame) => Promise<void>
  /** Turns a payload from the wire into the value handlers see; throws on malformed input. */
  decode: (payload: Uint8Array) => T
  /** Turns a handler's reply into payload bytes; throws if it cannot be sent (too large, not JSON). */
  encode: (value: unknown) => Uint8Array
  log: Logger
}

interface Pending {
  peer: string
  service: string
  resolve: (payload: Uint8Array) => void
  reject: (err: Error) => void
}

/**
 * Request/reply over the direct streams (return address + correlation id). Many requests may be
 * in flight to one peer; each reply is matched by its id and accepted only from the peer the
 * request went to, so no one else can answer in its name (connections are authenticated).
 */
export class Requests<T> {
  private readonly handlers = new Map<string, (req: Request<T>) => unknown>()
  private readonly pending = new Map<number, Pending>()
  // Handlers running for each requester, aborted if it goes away.
  private readonly serving = new Map<string, Set<Serving>>()
  private nextId = 1

  constructor (private readonly init: RequestsInit<T>) {}

  /** Registers the handler for `service`, replacing any previous one; returns a function that removes it. */
  handle (service: string, handler: (req: Request<T>) => unknown): () => void {
    this.handlers.set(service, handler)
    return () => { if (this.handlers.get(service) === handler) this.handlers.delete(service) }
  }

  /**
   * Sends a request and resolves with the reply's payload. Rejects with NoHandlerError,
   * RemoteError, RequestTimeoutError, PeerLostError, or whatever `send` rejects with.
   */
  async request (peer: string, service: string, payload: Uint8Array, timeoutMs: number, signal?: AbortSignal): Promise<Uint8Array> {
    signal?.throwIfAborted()
    const id = this.nextId
    this.nextId = this.nextId >= Number.MAX_SAFE_INTEGER ? 1 : this.nextId + 1
    let timer: ReturnType<typeof setTimeout> | undefined
    let onAbort: (() => void) | undefined
    const reply = new Promise<Uint8Array>((resolve, reject) => {
      this.pending.set(id, { peer, service, resolve, reject })
      const fail = (err: unknown): void => { if (this.pending.delete(id)) reject(err) }
      timer = setTimeout(() => { fail(new RequestTimeoutError(peer, service, timeoutMs)) }, timeoutMs)
      onAbort = () => { fail(signal?.reason) }
      signal?.addEventListener('abort', onAbort, { once: true })
    })
    try {
      await Promise.race([reply, this.init.send(peer, { type: 'request', id, service, payload })])
      return await reply
    } finally {
      this.pending.delete(id)
      clearTimeout(timer)
      if (onAbort != null) signal?.removeEventListener('abort', onAbort)
    }
  }

  /** A request from `from` (already authenticated and introduced). */
  onRequest (from: string, id: number, service: string, payload: Uint8Array): void {
    const handler = this.handlers.get(service)
    if (handler == null) {
      this.answer(from, { type: 'reply-error', id, code: 'no-handler', message: '' })
      return
    }
    const controller = new Serving()
    let mine = this.serving.get(from)
    if (mine == null) { mine = new Set(); this.serving.set(from, mine) }
    mine.add(controller)
    void (async () => {
      let frame: Frame
      try {
        const data = this.init.decode(payload)
        const value = await handler(served(controller, data, from))
        frame = { type: 'reply', id, payload: this.init.encode(value) }
      } catch (err: any) {
        frame = { type: 'reply-error', id, code: 'failed', message: String(err?.message ?? err) }
      }
      mine.delete(controller)
      if (mine.size === 0 && this.serving.get(from) === mine) this.serving.delete(from)
      if (!controller.aborted) this.answer(from, frame)
    })()
  }

  onReply (from: string, id: number, payload: Uint8Array): void {
    const p = this.claim(from, id)
    p?.resolve(payload)
  }

  onReplyError (from: string, id: number, code: ReplyErrorCode, message: string): void {
    const p = this.claim(from, id)
    if (p == null) return
    p.reject(code === 'no-handler' ? new NoHandlerError(from, p.service) : new RemoteError(from, p.service, message))
  }

  /** `peer` left or was lost: its pending requests fail at once, and handlers serving it are aborted. */
  peerGone (peer: string): void {
    for (const [id, p] of this.pending) {
      if (p.peer !== peer) continue
      this.pending.delete(id)
      p.reject(new PeerLostError(peer, p.service))
    }
    for (const c of this.serving.get(peer) ?? []) c.abort(new PeerLostError(peer, 'request'))
    this.serving.delete(peer)
  }

  stop (): void {
    for (const p of this.pending.values()) p.reject(new NodeStoppedError())
    this.pending.clear()
    for (const set of this.serving.values()) for (const c of set) c.abort(new NodeStoppedError())
    this.serving.clear()
    this.handlers.clear()
  }

  /** The pending request `id`, if `from` is the peer it went to; a reply from anyone else is dropped. */
  private claim (from: string, id: number): Pending | undefined {
    const p = this.pending.get(id)
    if (p == null || p.peer !== from) {
      this.init.log('dropping a reply from %s to no request of ours (id %d)', from, id)
      return undefined
    }
    this.pending.delete(id)
    return p
  }

  private answer (to: string, frame: Frame): void {
    this.init.send(to, frame).catch((err: Error) => { this.init.log('reply to %s failed: %s', to, err.message) })
  }
}

/**
 * A running handler's abort switch. Its AbortSignal is made only if the handler reads
 * `req.signal`: most never do, and an AbortController per request showed in round trips.
 */
class Serving {
  aborted = false
  private reason: unknown
  private controller?: AbortController

  get signal (): AbortSignal {
    if (this.controller == null) {
      this.controller = new AbortController()
      if (this.aborted) this.controller.abort(this.reason)
    }
    return this.controller.signal
  }

  abort (reason: unknown): void {
    if (this.aborted) return
    this.aborted = true
    this.reason = reason
    this.controller?.abort(reason)
  }
}

/**
 * What a handler is given, with `signal` read from `source` only when asked for. Wrappers that
 * change `from` or `data` go through this too: spreading a request would read its signal.
 */
export function served<T, F = string> (source: { signal: AbortSignal }, data: T, from: F): { from: F, data: T, signal: AbortSignal } {
  return { from, data, get signal () { return source.signal } }
}
