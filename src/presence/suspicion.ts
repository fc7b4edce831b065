/** What a suspicion report did to the local view. */
export type SuspicionResult = 'new' | 'confirmed' | 'known'

interface Suspicion {
  ver: number
  since: number
  from: Set<string>
  timer: ReturnType<typeof setTimeout>
  // Time added because this node's own event loop stalled during the suspicion.
  grace: number
}

export interface SuspicionsInit {
  /** Suspicion timeout bounds for the current mesh size (see suspicionBounds). */
  bounds: () => { min: number, max: number }
  /** Confirmations after which the timeout reaches its minimum (Lifeguard's K). */
  expectedConfirmations: number
  /** The suspect did not refute in time; `reporters` are the peers that suspected it. */
  onExpire: (peer: string, ver: number, reporters: ReadonlySet<string>) => void
  /**
   * The worst stall of this node's event loop since a time. A suspicion that runs out while we
   * were stalled is extended by the stall: the suspect's refutation may be sitting unread.
   */
  stallSince?: (since: number) => number
  now?: () => number
}

/**
 * Peers under suspicion and their deadlines. A suspicion starts at the longest timeout and
 * shortens with each independent confirmation (Lifeguard's dynamic suspicion timeout):
 * timeout = max(min, max - (max - min) * log(C + 1) / log(K + 1)). A lone prober with a bad
 * link therefore gives the suspect a long time to refute; many agreeing probers a short one.
 */
export class Suspicions {
  private readonly active = new Map<string, Suspicion>()
  private readonly now: () => number

  constructor (private readonly init: SuspicionsInit) {
    this.now = init.now ?? Date.now
  }

  /** Records that `from` suspects `peer` at incarnation `ver`. */
  report (peer: string, ver: number, from: string): SuspicionResult {
    const s = this.active.get(peer)
    if (s != null && s.ver >= ver) {
      if (s.from.has(from)) return 'known'
      s.from.add(from)
      this.arm(peer, s)
      return 'confirmed'
    }
    if (s != null) clearTimeout(s.timer)
    const fresh: Suspicion = { ver, since: this.now(), from: new Set([from]), timer: undefined as any, grace: 0 }
    this.active.set(peer, fresh)
    this.arm(peer, fresh)
    return 'new'
  }

  /** When `peer` came under suspicion, if it is. */
  since (peer: string): number | undefined { return this.active.get(peer)?.since }

  has (peer: string): boolean { return this.active.has(peer) }

  /** Independent reports beyond the first. */
  confirmations (peer: string): number { return Math.max(0, (this.active.get(peer)?.from.size ?? 0) - 1) }

  /** Ends a suspicion (the peer refuted, left, or was declared lost). */
  clear (peer: string): void {
    const s = this.active.get(peer)
    if (s == null) return
    clearTimeout(s.timer)
    this.active.delete(peer)
  }

  clearAll (): void {
    for (const peer of [...this.active.keys()]) this.clear(peer)
  }

  /** Milliseconds from the start of a suspicion until it expires, given its confirmations so far. */
  timeout (confirmations: number): number {
    const { min, max } = this.init.bounds()
    const k = this.init.expectedConfirmations
    const frac = k <= 0 ? 1 : Math.log(confirmations + 1) / Math.log(k + 1)
    return Math.max(min, max - (max - min) * frac)
  }

  private arm (peer: string, s: Suspicion): void {
    clearTimeout(s.timer)
    // The first reporter starts the suspicion; the others confirm it.
    const wait = Math.max(0, s.since + s.grace + this.timeout(s.from.size - 1) - this.now())
    s.timer = setTimeout(() => {
      if (this.active.get(peer) !== s) return
      const stall = Math.min(this.init.stallSince?.(s.since) ?? 0, this.init.bounds().max)
      if (stall > s.grace) {
        s.grace = stall
        this.arm(peer, s)
        return
      }
      this.active.delete(peer)
      this.init.onExpire(peer, s.ver, s.from)
    }, wait)
  }
}
