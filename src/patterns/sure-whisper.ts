import type { Logger } from '@libp2p/interface'
import { encodeFrame } from '../codec/frame.js'
import { NodeStoppedError, PeerUnreachableError } from '../errors.js'
import { SeenCache } from '../util/seen-cache.js'

export interface SureWhisperInit {
  log: Logger
  /** Sends a frame to a peer (dialling it if needed); rejects if it cannot be sent now. */
  send: (peer: string, frame: Uint8Array, signal: AbortSignal) => Promise<void>
  /** Hands a new (not duplicate, not expired) message to the application. */
  deliver: (from: string, payload: Uint8Array) => void
  /** Duplicates and expired messages dropped, for stats. */
  dropped: (why: 'duplicate' | 'expired') => void
}

export interface SureOptions {
  /** Give up after this many ms (default: `ttl`, else the node's `sendTimeout`). */
  timeout: number
  /** The message is dropped by the receiver if it arrives later than this many ms after the call. */
  ttl?: number
  signal?: AbortSignal
}

// How long to wait for an acknowledgement before sending again: a lost frame (its connection
// closed under it) is resent quickly, a slow peer is not flooded with copies.
const RETRY_MIN_MS = 200
const RETRY_MAX_MS = 2000
// Receivers remember message ids this long to drop copies a retry produced.
const SEEN_MS = 10 * 60_000
const SEEN_MAX = 100_000

/**
 * Whisper with a delivery guarantee: each message has an id; the sender resends it (dialling
 * again if the connection went) until the receiver acknowledges it or time runs out; the
 * receiver acknowledges every copy but delivers only the first, and drops one that arrives past
 * its expiry time. So the application sees each message at most once, and on success exactly once.
 */
export class SureWhisper {
  private readonly waiting = new Map<number, { peer: string, acked: () => void }>()
  private readonly seen = new SeenCache(SEEN_MS, SEEN_MAX)
  // Seeded from the clock so a restarted sender does not reuse ids its peers still remember.
  private seq = Date.now() * 1000
  private stopped = false
  private readonly stopping = new AbortController()

  constructor (private readonly init: SureWhisperInit) {}

  async send (peer: string, payload: Uint8Array, options: SureOptions): Promise<void> {
    const id = ++this.seq
    const started = Date.now()
    const expires = options.ttl != null ? started + options.ttl : 0
    // Past its expiry the receiver drops it unacknowledged, so resending would be pointless.
    const deadline = started + Math.min(options.timeout, options.ttl ?? Infinity)
    const frame = encodeFrame({ type: 'whisper-sure', id, expires, payload })
    let acked = false
    let wake: (() => void) | undefined
    this.waiting.set(id, { peer, acked: () => { acked = true; wake?.() } })
    const onAbort = (): void => { wake?.() }
    options.signal?.addEventListener('abort', onAbort)
    this.stopping.signal.addEventListener('abort', onAbort)
    let lastError = 'no acknowledgement'
    try {
      for (let attempt = 0; !acked; attempt++) {
        options.signal?.throwIfAborted()
        if (this.stopped) throw new NodeStoppedError()
        const left = deadline - Date.now()
        if (left <= 0) throw new PeerUnreachableError(peer, `not acknowledged within ${deadline - started} ms (${lastError})`)
        const wait = Math.min(left, RETRY_MIN_MS * 2 ** attempt, RETRY_MAX_MS)
        void this.init.send(peer, frame, AbortSignal.timeout(wait)).catch((err: Error) => { lastError = err.message })
        await new Promise<void>(resolve => {
          const done = (): void => { clearTimeout(timer); wake = undefined; resolve() }
          const timer = setTimeout(done, wait)
          wake = done
        })
      }
    } finally {
      this.waiting.delete(id)
      options.signal?.removeEventListener('abort', onAbort)
      this.stopping.signal.removeEventListener('abort', onAbort)
    }
  }

  /**
   * A message from `from`. An expired one is dropped unacknowledged (the sender has given up by
   * then). Every other copy is acknowledged, since a copy means our last ack may have been lost,
   * and only the first is delivered.
   */
  receive (from: string, id: number, expires: number, payload: Uint8Array): void {
    if (expires !== 0 && Date.now() > expires) { this.init.dropped('expired'); return }
    void this.init.send(from, encodeFrame({ type: 'whisper-ack', id }), AbortSignal.timeout(RETRY_MAX_MS))
      .catch((err: Error) => { this.init.log('ack %d to %s failed: %s', id, from, err.message) })
    if (!this.seen.add(`${from}/${id}`)) { this.init.dropped('duplicate'); return }
    this.init.deliver(from, payload)
  }

  ack (from: string, id: number): void {
    const w = this.waiting.get(id)
    if (w?.peer === from) w.acked()
  }

  stop (): void {
    this.stopped = true
    this.stopping.abort()
  }
}
