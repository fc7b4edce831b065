/**
 * Bytes waiting per peer, against a high-water mark: what keeps a peer that stopped reading from
 * making us hold an unbounded backlog for it. Also tells a peer that reads slowly (its bytes
 * keep leaving) from one that stopped (nothing left for a while), and wakes whoever waits for room.
 */
export class ByteBudget {
  private readonly queued = new Map<string, { bytes: number, progressAt: number }>()
  private readonly waiters = new Map<string, Set<() => void>>()

  constructor (readonly limit: number) {}

  /** Reserves `bytes` for `peer`; false (nothing reserved) if that would pass the mark. */
  take (peer: string, bytes: number, now = Date.now()): boolean {
    const q = this.queued.get(peer)
    // One message alone may always wait, however large: the mark bounds the backlog.
    if (q == null) { this.queued.set(peer, { bytes, progressAt: now }); return true }
    if (q.bytes + bytes > this.limit) return false
    q.bytes += bytes
    return true
  }

  /** Returns bytes reserved with `take`; `sent` says they left (the peer is reading), not given up on. */
  release (peer: string, bytes: number, sent: boolean, now = Date.now()): void {
    const q = this.queued.get(peer)
    if (q == null) return
    q.bytes -= bytes
    if (sent) q.progressAt = now
    if (q.bytes <= 0) this.queued.delete(peer)
    const waiting = this.waiters.get(peer)
    this.waiters.delete(peer)
    for (const wake of waiting ?? []) wake()
  }

  /** Bytes waiting for `peer`. */
  of (peer: string): number { return this.queued.get(peer)?.bytes ?? 0 }

  /** How long bytes have waited for `peer` without any leaving (0 if none wait). */
  stalledFor (peer: string, now = Date.now()): number {
    const q = this.queued.get(peer)
    return q == null ? 0 : now - q.progressAt
  }

  /** Resolves on the next release for `peer`, or after `ms`. */
  async changed (peer: string, ms: number): Promise<void> {
    await new Promise<void>(resolve => {
      const wake = (): void => { clearTimeout(timer); this.waiters.get(peer)?.delete(wake); resolve() }
      const timer = setTimeout(wake, ms)
      let set = this.waiters.get(peer)
      if (set == null) { set = new Set(); this.waiters.set(peer, set) }
      set.add(wake)
    })
  }

  /** Wakes every waiter (the node is stopping). */
  wakeAll (): void {
    const all = [...this.waiters.values()]
    this.waiters.clear()
    for (const set of all) for (const wake of set) wake()
  }
}
