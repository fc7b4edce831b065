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
      b.tokens = Math.min(this.burst, b.tokens + (now - b.at) * this.rate / 1000)
      b.at = now
    }
    if (b.tokens < cost) return false
    b.tokens -= cost
    return true
  }

  /** Whether `key`'s bucket holds `cost` tokens now, taking none: a check that charges nothing. */
  holds (key: string, cost = 1, now = Date.now()): boolean {
    const b = this.buckets.get(key)
    return b == null || Math.min(this.burst, b.tokens + (now - b.at) * this.rate / 1000) >= cost
  }

  /** Drops buckets that have refilled (a new bucket starts full, so nothing is lost), or the oldest. */
  private evictFull (now: number): void {
    for (const [key, b] of this.buckets) {
      if (b.tokens + (now - b.at) * this.rate / 1000 >= this.burst) this.buckets.delete(key)
    }
    if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value as string)
  }
}
