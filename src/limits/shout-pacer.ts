import { NodeStoppedError, RateLimitedError } from '../errors.js'
import { RateLimiter } from './rate.js'

export interface ShoutPacerInit {
  /** Shouts a second every receiver accepts from one author (`maxInboundShouts`, see Limits). */
  inboundRate: number
  /** Longest a shout may wait for its turn (`sendTimeout`); one that would wait longer is refused at once. */
  maxWaitMs: number
}

// Receivers count an author's shouts in a bucket of one second's worth (Limits), charged when a
// shout arrives, not when it was sent. A backlog held up between us and a receiver (a busy event
// loop at either end, a congested stream) arrives at once, and the receiver's bucket cannot bank
// more than one second's worth meanwhile: what we sent over a hold-up of J seconds must fit,
// burst + rate × J <= inboundRate. A quarter of the rate as burst and three quarters as rate
// leave room for hold-ups of up to a second (bench:abuse's honest process, 20 nodes on one core,
// runs its timers 0.2-0.7 s late at p99).
const BURST_SHARE = 0.25
const RATE_SHARE = 0.75
const SELF = 'self'
// A monotonic clock: a wall clock set back would otherwise hold every shout until it caught up.
const now = (): number => performance.now()

interface Waiter { resolve: () => void, reject: (err: unknown) => void, signal?: AbortSignal, onAbort?: () => void }

/**
 * Paces this node's own shouts below the rate its peers accept from one author, so an honest
 * node that shouts faster than that is slowed down here, where the caller can see it, instead of
 * having its shouts silently dropped at every receiver. Shouts take their turn in call order;
 * one timer at most, for the first in line.
 */
export class ShoutPacer {
  private readonly bucket: RateLimiter
  private readonly line: Waiter[] = []
  private timer: ReturnType<typeof setTimeout> | undefined
  private stopped = false

  constructor (private readonly init: ShoutPacerInit) {
    this.bucket = new RateLimiter(init.inboundRate * RATE_SHARE, Math.max(1, Math.floor(init.inboundRate * BURST_SHARE)))
  }

  /**
   * Resolves when the caller may send one shout. Rejects at once with RateLimitedError if its
   * turn is further off than `maxWaitMs`, with the signal's reason if it aborts while waiting, and
   * with NodeStoppedError if the node stops meanwhile.
   */
  async turn (signal?: AbortSignal): Promise<void> {
    if (this.stopped) throw new NodeStoppedError()
    signal?.throwIfAborted()
    if (this.line.length === 0 && this.bucket.take(SELF, 1, now())) return
    const waitMs = this.bucket.until(SELF, this.line.length + 1, now())
    if (waitMs > this.init.maxWaitMs) throw new RateLimitedError(this.init.inboundRate, waitMs, this.init.maxWaitMs)
    await new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, signal }
      if (signal != null) {
        waiter.onAbort = () => {
          this.line.splice(this.line.indexOf(waiter), 1)
          if (this.line.length === 0) this.disarm()
          reject(signal.reason)
        }
        signal.addEventListener('abort', waiter.onAbort, { once: true })
      }
      this.line.push(waiter)
      this.timer ??= this.arm()
    })
  }

  /** Refuses every shout still waiting, and clears the timer. */
  stop (): void {
    this.stopped = true
    this.disarm()
    for (const w of this.line.splice(0)) {
      this.release(w)
      w.reject(new NodeStoppedError())
    }
  }

  private arm (): ReturnType<typeof setTimeout> {
    return setTimeout(() => {
      this.timer = undefined
      while (this.line.length > 0 && this.bucket.take(SELF, 1, now())) {
        const w = this.line.shift() as Waiter
        this.release(w)
        w.resolve()
      }
      if (this.line.length > 0) this.timer = this.arm()
    }, Math.ceil(this.bucket.until(SELF, 1, now())))
  }

  private disarm (): void {
    clearTimeout(this.timer)
    this.timer = undefined
  }

  private release (w: Waiter): void {
    if (w.onAbort != null) w.signal?.removeEventListener('abort', w.onAbort)
  }
}
