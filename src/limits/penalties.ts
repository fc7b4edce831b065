/**
 * Misbehaviour points per peer (garbage, floods), decaying by half every `halfLifeMs`. Gossipsub
 * reads them as its application-specific score, so a peer that keeps misbehaving is graylisted:
 * its gossip is no longer even parsed. Computed lazily; no timers.
 */
export class Penalties {
  private readonly points = new Map<string, { value: number, at: number }>()

  constructor (private readonly halfLifeMs = 30_000, private readonly maxKeys = 4096) {}

  add (peer: string, points: number, now = Date.now()): void {
    const value = this.of(peer, now) + points
    if (!this.points.has(peer) && this.points.size >= this.maxKeys) this.points.delete(this.points.keys().next().value as string)
    this.points.set(peer, { value, at: now })
  }

  of (peer: string, now = Date.now()): number {
    const p = this.points.get(peer)
    if (p == null) return 0
    const value = p.value * 0.5 ** ((now - p.at) / this.halfLifeMs)
    if (value < 0.01) { this.points.delete(peer); return 0 }
    return value
  }
}
