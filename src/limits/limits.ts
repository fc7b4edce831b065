import type { LimitKind, NodeStats } from '../types.js'
import { QueueFullError } from '../errors.js'
import { ByteBudget } from './byte-budget.js'
import { Penalties } from './penalties.js'
import { RateLimiter } from './rate.js'

export interface LimitsInit {
  /** Shouts accepted per second from one sender (bursts of one second's worth). */
  shoutRate: number
  /** Direct messages (whispers, requests, jobs) accepted per second from one peer (as bursts). */
  messageRate: number
  /** Inbound bytes per second from one peer, shouts and direct messages together (as bursts). */
  byteRate: number
  /** Bytes that may wait to go out to one peer (its high-water mark). */
  maxQueuedBytes: number
  /** How long a peer past its mark may drain nothing before its droppable copies are dropped. */
  stallMs: number
  stats: NodeStats
  penalties: Penalties
  /** A peer's misbehaviour put it in quarantine: close its connections (the gater refuses new ones). */
  onQuarantine: (peer: string) => void
  /** Reports what was dropped, at most once a second per peer, kind and channel. */
  report: (peer: string, kind: LimitKind, channel: string, dropped: number) => void
}

// Misbehaviour points (see Penalties; graylist and quarantine at 80): garbage is worse than excess.
const MALFORMED_POINTS = 10
const EXCESS_POINTS = 1
const REPORT_EVERY_MS = 1000

/**
 * Every per-peer limit in one place: the inbound rate (frames and bytes per second per peer,
 * excess dropped), the outbound high-water mark (bytes queued per peer), and how each exceeded
 * limit is counted in stats and reported as a `limit` event.
 */
export class Limits {
  private readonly shouts: RateLimiter
  private readonly messages: RateLimiter
  private readonly bytes: RateLimiter
  private readonly queued: ByteBudget
  // Drops not yet reported, by peer/kind/channel; flushed by one timer at most.
  private readonly unreported = new Map<string, { peer: string, kind: LimitKind, channel: string, dropped: number }>()
  private timer: ReturnType<typeof setTimeout> | undefined
  private stopped = false

  constructor (private readonly init: LimitsInit) {
    // Bursts of one second's worth: what a flooder gets through before the limit bites.
    this.shouts = new RateLimiter(init.shoutRate, init.shoutRate)
    this.messages = new RateLimiter(init.messageRate, init.messageRate)
    this.bytes = new RateLimiter(init.byteRate, init.byteRate)
    this.queued = new ByteBudget(init.maxQueuedBytes)
  }

  /**
   * Whether an inbound message on `channel` from `peer` (the shout's author, or the direct
   * stream's remote) is within its rates; if not, it is counted, reported and must be dropped.
   */
  admit (peer: string, channel: string, bytes: number): boolean {
    const count = channel === 'shout' ? this.shouts : this.messages
    if (count.take(peer) && this.bytes.take(peer, bytes)) return true
    this.init.stats.rateLimited++
    this.record(peer, 'rate', channel)
    this.penalize(peer, EXCESS_POINTS)
    return false
  }

  /**
   * Whether `author`, sending its own shout (the `count`th of an RPC, none charged yet), has
   * already used up its rate: asked before the shout's signature is checked, so a flood past the
   * rate costs neither a verification nor a forward. Charges nothing while within the rate
   * (`admit` does, once the shout is verified); past it the shout is counted, reported and must
   * be dropped, and costs the author points.
   */
  overShoutRate (author: string, count = 1): boolean {
    if (this.shouts.holds(author, count)) return false
    this.init.stats.rateLimited++
    this.record(author, 'rate', 'shout')
    this.penalize(author, EXCESS_POINTS)
    return true
  }

  /**
   * Whether `author` has used up its shout rate here, charging, counting and penalising nothing:
   * for a shout passed on by another peer, whose author is claimed, not yet verified.
   */
  spent (author: string): boolean { return !this.shouts.holds(author) }

  /** A peer sent bytes that do not decode or break the framing: it loses standing with gossipsub too. */
  malformed (peer: string): void { this.penalize(peer, MALFORMED_POINTS) }

  private penalize (peer: string, points: number): void {
    if (!this.init.penalties.add(peer, points)) return
    this.hit(peer, 'quarantine', 'connection')
    this.init.onQuarantine(peer)
  }

  /**
   * Runs `send`, which waits for room on `peer`'s stream, with `bytes` counted against the
   * peer's high-water mark while it waits; rejects at once with QueueFullError past the mark.
   */
  async bounded (peer: string, bytes: number, send: () => Promise<void>): Promise<void> {
    if (!this.queued.take(peer, bytes)) throw new QueueFullError(peer, this.queued.of(peer), this.queued.limit)
    await this.sendReserved(peer, bytes, send)
  }

  /**
   * Reserves room for `bytes` to `peer` for a copy that may be dropped (a shout's direct copy).
   * Below the mark: at once. Past it, waits while the peer keeps reading, pacing the sender to
   * the slowest live reader; once nothing has left for `stallMs`, the peer is taken as stopped:
   * false, and the caller drops the copy (counted and reported here).
   */
  async room (peer: string, bytes: number, channel: string): Promise<boolean> {
    while (!this.stopped) {
      if (this.queued.take(peer, bytes)) return true
      const stalled = this.queued.stalledFor(peer)
      if (stalled >= this.init.stallMs) break
      await this.queued.changed(peer, this.init.stallMs - stalled)
    }
    this.hit(peer, 'queue', channel)
    return false
  }

  /** Runs `send` for bytes reserved with `room` (or `bounded`), releasing them once it settles. */
  async sendReserved (peer: string, bytes: number, send: () => Promise<void>): Promise<void> {
    let sent = false
    try {
      await send()
      sent = true
    } finally {
      this.queued.release(peer, bytes, sent)
    }
  }

  /** Counts and reports a limit that was hit: a send refused or dropped, a connection refused. */
  hit (peer: string, kind: LimitKind, channel: string): void {
    if (kind === 'queue') this.init.stats.queueDropped++
    else if (kind === 'peers') this.init.stats.peersRefused++
    else if (kind === 'size') this.init.stats.oversizeDropped++
    else if (kind === 'quarantine') this.init.stats.quarantined++
    this.record(peer, kind, channel)
  }

  stop (): void {
    this.stopped = true
    this.queued.wakeAll()
    clearTimeout(this.timer)
    this.timer = undefined
    this.unreported.clear()
  }

  private record (peer: string, kind: LimitKind, channel: string): void {
    if (this.stopped) return
    const key = `${peer}/${kind}/${channel}`
    const entry = this.unreported.get(key)
    if (entry != null) entry.dropped++
    else this.unreported.set(key, { peer, kind, channel, dropped: 1 })
    // A flood must not become a flood of events: one per peer, kind and channel a second.
    this.timer ??= setTimeout(() => { this.flush() }, REPORT_EVERY_MS)
  }

  private flush (): void {
    this.timer = undefined
    const entries = [...this.unreported.values()]
    this.unreported.clear()
    for (const e of entries) this.init.report(e.peer, e.kind, e.channel, e.dropped)
  }
}
