/**
 * Deliveries held for a peer whose hello has not arrived yet. A gossiped shout can overtake the
 * sender's hello; rather than drop it or report an anonymous sender, hold it briefly. Bounded in
 * count and time, so a peer that never introduces itself cannot make us hold its traffic.
 */
export class PendingDeliveries {
  private readonly held = new Map<string, { items: Array<() => void>, timer: ReturnType<typeof setTimeout> }>()

  constructor (
    private readonly maxItems: number,
    private readonly maxMs: number,
    private readonly onDrop: (peer: string, count: number, why: string) => void
  ) {}

  hold (peer: string, deliver: () => void): void {
    let p = this.held.get(peer)
    if (p == null) {
      const timer = setTimeout(() => {
        this.onDrop(peer, this.held.get(peer)?.items.length ?? 0, `no hello within ${this.maxMs} ms`)
        this.held.delete(peer)
      }, this.maxMs)
      p = { items: [], timer }
      this.held.set(peer, p)
    }
    if (p.items.length >= this.maxItems) { this.onDrop(peer, 1, `more than ${this.maxItems} held`); return }
    p.items.push(deliver)
  }

  /** The peer introduced itself: deliver what was held, in order. */
  release (peer: string): void {
    const p = this.held.get(peer)
    if (p == null) return
    this.drop(peer)
    for (const deliver of p.items) deliver()
  }

  drop (peer: string): void {
    const p = this.held.get(peer)
    if (p == null) return
    clearTimeout(p.timer)
    this.held.delete(peer)
  }

  clear (): void {
    for (const peer of [...this.held.keys()]) this.drop(peer)
  }
}
