import type { Logger } from '@libp2p/interface'
import { encodeFrame, encodeReply, encodeRequest, type ReplyErrorCode } from '../codec/frame.js'
import type { PayloadParts } from '../codec/payload.js'
import { NodeStoppedError, NoHandlerError, PeerLostError, RemoteError, RequestTimeoutError } from '../errors.js'
import { Deadlines } from './deadlines.js'

/** What a handler is given: who asks, what, and a signal that aborts if the asker goes away. */
export interface Request<T, F = string> {
  from: F
  data: T
  /** Aborted when the requester leaves or is lost, or this node stops: its reply would go nowhere. */
  signal: AbortSignal
}

export interface RequestsInit<T> {
  /**
   * Sends an encoded frame to a peer over its direct stream: returns nothing if it went at once
   * (the common case, without a promise), else a promise that rejects if the peer cannot be
   * reached. May throw, as the promise would reject.
   */
  send: (peer: string, frame: Uint8Array) => Promise<void> | undefined
  /** Turns a payload from the wire into the value handlers see; throws on malformed input. */
  decode: (payload: Uint8Array) => T
  /** Turns a handler's reply into a payload; throws if it cannot be sent (too large, not JSON). */
  encode: (value: unknown) => PayloadParts
  log: Logger
}

interface Pending {
  peer: string
  service: string
  timeoutMs: number
  /** On the Deadlines clock. */
  deadline: number
  resolve: (payload: Uint8Array) => void
  reject: (err: unknown) => void
  signal?: AbortSignal
}

/** The pending requests that one AbortSignal abandons, and the one listener they share on it. */
interface Watched {
  ids: Set<number>
  onAbort: () => void
}

/**
 * Request/reply over the direct streams (return address + correlation id). Many requests may be
 * in flight to one peer; each reply is matched by its id and accepted only from the peer the
 * request went to, so no one else can answer in its name (connections are authenticated).
 * `F` is what handlers see as `from` (given with each request; the peer id by default).
 */
export class Requests<T, F = string> {
  private readonly handlers = new Map<string, (req: Request<T, F>) => unknown>()
  private readonly pending = new Map<number, Pending>()
  // Those with handlers running for them, whose handlers are aborted if they go away.
  private readonly askers = new Map<string, Asker>()
  private readonly deadlines = new Deadlines(now => this.expire(now))
  // One listener per signal, not per request: a gather passes one signal to all its requests,
  // and fifty listeners on it made Node warn of a leak on every round.
  private readonly watched = new Map<AbortSignal, Watched>()
  private nextId = 1

  constructor (private readonly init: RequestsInit<T>) {}

  /** Registers the handler for `service`, replacing any previous one; returns a function that removes it. */
  handle (service: string, handler: (req: Request<T, F>) => unknown): () => void {
    this.handlers.set(service, handler)
    return () => { if (this.handlers.get(service) === handler) this.handlers.delete(service) }
  }

  /**
   * Sends a request and resolves with the reply's payload. Rejects with NoHandlerError,
   * RemoteError, RequestTimeoutError, PeerLostError, the signal's reason, or whatever `send`
   * rejects with.
   */
  request (peer: string, service: string, payload: PayloadParts, timeoutMs: number, signal?: AbortSignal): Promise<Uint8Array> {
    // Not an async function: the promise below is the request's, with no other wrapped around it.
    if (signal?.aborted === true) return Promise.reject(signal.reason)
    const id = this.nextId
    this.nextId = this.nextId >= Number.MAX_SAFE_INTEGER ? 1 : this.nextId + 1
    return new Promise<Uint8Array>((resolve, reject) => {
      const p: Pending = { peer, service, timeoutMs, deadline: this.deadlines.now() + timeoutMs, resolve, reject }
      this.pending.set(id, p)
      this.deadlines.added(p.deadline)
      if (signal != null) {
        p.signal = signal
        this.watch(id, signal)
      }
      this.send(peer, encodeRequest(id, service, payload), err => { this.fail(id, err) })
    })
  }

  /** A request from `from` (already authenticated and introduced), whom handlers see as `who`. */
  onRequest (from: string, who: F, id: number, service: string, payload: Uint8Array): void {
    const handler = this.handlers.get(service)
    if (handler == null) {
      this.answer(from, encodeFrame({ type: 'reply-error', id, code: 'no-handler', message: '' }))
      return
    }
    let asker = this.askers.get(from)
    if (asker == null) { asker = new Asker(); this.askers.set(from, asker) }
    asker.running++
    const serving = new Serving(asker, from, id)
    // A handler that answers at once is answered at once; only a promise waits for its turn.
    let value: unknown
    try {
      value = handler(new Served(serving, this.init.decode(payload), who))
      if (isThenable(value)) {
        Promise.resolve(value).then(v => { this.replied(serving, v) }, err => { this.done(serving, failed(id, err)) })
        return
      }
    } catch (err) {
      this.done(serving, failed(id, err))
      return
    }
    this.replied(serving, value)
  }

  private replied (serving: Serving, value: unknown): void {
    let frame: Uint8Array
    try {
      frame = encodeReply(serving.id, this.init.encode(value))
    } catch (err) {
      frame = failed(serving.id, err)
    }
    this.done(serving, frame)
  }

  /** A handler finished: its answer goes back unless the asker went away meanwhile. */
  private done (serving: Serving, frame: Uint8Array): void {
    const { asker, from } = serving
    serving.finish()
    if (--asker.running === 0 && this.askers.get(from) === asker) this.askers.delete(from)
    if (!asker.aborted) this.answer(from, frame)
  }

  onReply (from: string, id: number, payload: Uint8Array): void {
    this.claim(from, id)?.resolve(payload)
  }

  onReplyError (from: string, id: number, code: ReplyErrorCode, message: string): void {
    const p = this.claim(from, id)
    if (p == null) return
    p.reject(code === 'no-handler' ? new NoHandlerError(from, p.service) : new RemoteError(from, p.service, message))
  }

  /** `peer` left or was lost: its pending requests fail at once, and handlers serving it are aborted. */
  peerGone (peer: string): void {
    for (const [id, p] of this.pending) {
      if (p.peer === peer) this.fail(id, new PeerLostError(peer, p.service))
    }
    this.askers.get(peer)?.abort(new PeerLostError(peer, 'request'))
    this.askers.delete(peer)
  }

  stop (): void {
    this.deadlines.stop()
    for (const id of [...this.pending.keys()]) this.fail(id, new NodeStoppedError())
    for (const asker of this.askers.values()) asker.abort(new NodeStoppedError())
    this.askers.clear()
    this.handlers.clear()
  }

  /** Fails the requests whose deadline is past; returns the earliest deadline left. */
  private expire (now: number): number {
    let next = Infinity
    for (const [id, p] of this.pending) {
      if (p.deadline <= now) this.fail(id, new RequestTimeoutError(p.peer, p.service, p.timeoutMs))
      else if (p.deadline < next) next = p.deadline
    }
    return next
  }

  /** Takes request `id` out of the pending ones (it is settled): nothing of it is left behind. */
  private settle (id: number): Pending | undefined {
    const p = this.pending.get(id)
    if (p == null) return undefined
    this.pending.delete(id)
    if (p.signal != null) this.unwatch(id, p.signal)
    return p
  }

  private watch (id: number, signal: AbortSignal): void {
    let w = this.watched.get(signal)
    if (w == null) {
      const ids = new Set<number>()
      const onAbort = (): void => {
        this.watched.delete(signal)
        for (const id of [...ids]) this.fail(id, signal.reason)
      }
      w = { ids, onAbort }
      this.watched.set(signal, w)
      signal.addEventListener('abort', onAbort, { once: true })
    }
    w.ids.add(id)
  }

  private unwatch (id: number, signal: AbortSignal): void {
    const w = this.watched.get(signal)
    if (w == null) return
    w.ids.delete(id)
    if (w.ids.size > 0) return
    this.watched.delete(signal)
    signal.removeEventListener('abort', w.onAbort)
  }

  private fail (id: number, err: unknown): void {
    this.settle(id)?.reject(err)
  }

  /** The pending request `id`, if `from` is the peer it went to; a reply from anyone else is dropped. */
  private claim (from: string, id: number): Pending | undefined {
    const p = this.pending.get(id)
    if (p == null || p.peer !== from) {
      this.init.log('dropping a reply from %s to no request of ours (id %d)', from, id)
      return undefined
    }
    return this.settle(id)
  }

  private answer (to: string, frame: Uint8Array): void {
    this.send(to, frame, (err: any) => { this.init.log('reply to %s failed: %s', to, err?.message ?? err) })
  }

  /** `init.send`, whose failure, thrown or as a rejected promise, goes to `failed` alike. */
  private send (to: string, frame: Uint8Array, failed: (err: unknown) => void): void {
    try {
      this.init.send(to, frame)?.catch(failed)
    } catch (err) {
      failed(err)
    }
  }
}

function failed (id: number, err: any): Uint8Array {
  return encodeFrame({ type: 'reply-error', id, code: 'failed', message: String(err?.message ?? err) })
}

function isThenable (value: unknown): value is PromiseLike<unknown> {
  return value instanceof Promise || (typeof (value as any)?.then === 'function')
}

/** A peer with handlers running for it: aborted, all of them at once, when it goes away. */
class Asker {
  running = 0
  aborted = false
  reason: unknown
  // The signals its handlers asked for (most ask for none).
  readonly controllers = new Set<AbortController>()

  abort (reason: unknown): void {
    if (this.aborted) return
    this.aborted = true
    this.reason = reason
    for (const c of this.controllers) c.abort(reason)
    this.controllers.clear()
  }
}

/**
 * One running handler. Its AbortSignal is made only if the handler reads `req.signal`: most
 * never do, and an AbortController per request showed in round trips.
 */
class Serving {
  private controller?: AbortController

  constructor (readonly asker: Asker, readonly from: string, readonly id: number) {}

  get signal (): AbortSignal {
    if (this.controller == null) {
      this.controller = new AbortController()
      if (this.asker.aborted) this.controller.abort(this.asker.reason)
      else this.asker.controllers.add(this.controller)
    }
    return this.controller.signal
  }

  /** The handler is done: its signal no longer needs aborting. */
  finish (): void {
    if (this.controller != null) this.asker.controllers.delete(this.controller)
  }
}

/**
 * What a handler is given. `signal` is an own, enumerable property, so `{ ...req }` keeps it,
 * but read from the Serving only when asked for; it is defined from one shared descriptor,
 * which costs a third of a getter in an object literal (a new closure and a slow define each).
 */
class Served<T, F> implements Request<T, F> {
  declare readonly signal: AbortSignal
  readonly #serving: Serving

  constructor (serving: Serving, public data: T, public from: F) {
    this.#serving = serving
    Object.defineProperty(this, 'signal', SIGNAL)
  }

  static signal (req: Served<unknown, unknown>): AbortSignal { return req.#serving.signal }
}

const SIGNAL: PropertyDescriptor = {
  get (this: Served<unknown, unknown>) { return Served.signal(this) },
  enumerable: true,
  configurable: true
}
