/**
 * Remembers keys for at least `ttlMs`, with at most `maxSize` entries, to drop duplicates that
 * arrive by two paths (gossip and direct fallback). Insertion order is expiry order, so pruning
 * walks from the oldest and stops at the first live entry: O(1) amortised, no timers to release.
 */
export class SeenCache {
  private readonly entries = new Map<string, number>()

  constructor (private readonly ttlMs: number, private readonly maxSize: number) {}

  /** Records `key`; returns false if it was already seen (a duplicate). */
  add (key: string, now = Date.now()): boolean {
    this.prune(now)
    if (this.entries.has(key)) return false
    this.entries.set(key, now + this.ttlMs)
    if (this.entries.size > this.maxSize) {
      this.entries.delete(this.entries.keys().next().value as string)
    }
    return true
  }

  /** Whether `key` was seen (and has not expired). */
  has (key: string, now = Date.now()): boolean {
    const expires = this.entries.get(key)
    return expires != null && expires > now
  }

  get size (): number { return this.entries.size }

  private prune (now: number): void {
    for (const [key, expires] of this.entries) {
      if (expires > now) return
      this.entries.delete(key)
    }
  }
}
