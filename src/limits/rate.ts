/**
 * Token buckets per peer, refilled lazily from the clock (no timers): `rate` tokens a second, up
 * to `burst`. What keeps one peer's flood from taking the CPU every honest peer's traffic needs.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number, at: number }>()

  constructor (private readonly rate: number, private readonly burst: number, private readonly maxKeys = 4096) {}

  /** Takes `cost` tokens from `key`'s bucket; false (nothing taken) if it holds fewer. */
  take (key: string, cost = 1, now = Date.now()): boolean {
    let b = this.buckets.get(key)
    if (b == null) {
      // Keys come from the network (any signer of a gossip message): keep the map bounded.
      if (this.buckets.size >= this.maxKeys) this.evictFull(now)
      b = { tokens: this.burst, at: now }
      this.buckets.set(key, b)
    } else {
      b.tokens = this.level(b, now)
      b.at = now
    }
    if (b.tokens < cost) return false
    b.tokens -= cost
    return true
  }

  /** Whether `key`'s bucket holds `cost` tokens now, taking none: a check that charges nothing. */
  holds (key: string, cost = 1, now = Date.now()): boolean {
    return this.level(this.buckets.get(key), now) >= cost
  }

  /**
   * Milliseconds until `key`'s bucket has yielded `count` tokens, those it holds now and those
   * that accrue after (each taken as soon as it accrues, so the burst cap does not bite): how
   * long the `count`th of a line of takers waits; 0 if the bucket already holds `count`.
   */
  until (key: string, count: number, now = Date.now()): number {
    return Math.max(0, (count - this.level(this.buckets.get(key), now)) * 1000 / this.rate)
  }

  /** Tokens a bucket holds at `now` (a new one starts full). */
  private level (b: { tokens: number, at: number } | undefined, now: number): number {
    return b == null ? this.burst : Math.min(this.burst, b.tokens + (now - b.at) * this.rate / 1000)
  }

  /** Drops buckets that have refilled (a new bucket starts full, so nothing is lost), or the oldest. */
  private evictFull (now: number): void {
    for (const [key, b] of this.buckets) {
      if (b.tokens + (now - b.at) * this.rate / 1000 >= this.burst) this.buckets.delete(key)
    }
    if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value as string)
  }
}
