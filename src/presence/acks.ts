/**
 * Which version of our state each peer has acknowledged, and who is waiting for whom. This is
 * what lets `join()` resolve only once every peer has applied the change.
 */
export class AckTracker {
  private readonly acked = new Map<string, number>()
  private readonly waiters = new Set<{ peers: Set<string>, ver: number, done: () => void }>()

  constructor (private readonly timeoutMs: number, private readonly onTimeout: (missing: number, ver: number) => void) {}

  /** Resolves when every peer in `peers` has acknowledged `ver`, left, or `timeoutMs` passed. */
  async wait (peers: string[], ver: number, signal?: AbortSignal): Promise<void> {
    const pending = new Set(peers.filter(id => (this.acked.get(id) ?? 0) < ver))
    if (pending.size === 0) return
    await new Promise<void>(resolve => {
      const timer = setTimeout(() => { this.onTimeout(waiter.peers.size, ver); waiter.done() }, this.timeoutMs)
      const onAbort = (): void => { waiter.done() }
      const waiter = {
        peers: pending,
        ver,
        done: () => {
          clearTimeout(timer)
          signal?.removeEventListener('abort', onAbort)
          this.waiters.delete(waiter)
          resolve()
        }
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.waiters.add(waiter)
    })
  }

  /** The highest version `peer` has acknowledged (0 if none). */
  ackedBy (peer: string): number { return this.acked.get(peer) ?? 0 }

  ack (peer: string, ver: number): void {
    this.acked.set(peer, Math.max(ver, this.acked.get(peer) ?? 0))
    this.settle(peer, w => ver >= w.ver)
  }

  /** The peer is gone: nobody waits for it any longer. */
  forget (peer: string): void {
    this.acked.delete(peer)
    this.settle(peer, () => true)
  }

  /** Releases every waiter (on stop). */
  clear (): void {
    for (const w of this.waiters) w.done()
  }

  private settle (peer: string, satisfied: (w: { ver: number }) => boolean): void {
    for (const w of this.waiters) {
      if (satisfied(w)) w.peers.delete(peer)
      if (w.peers.size === 0) w.done()
    }
  }
}
