import type { PeerState, SignedState } from '../codec/frame.js'
import type { PeerInfo } from '../types.js'

/** What changed when a peer's state was applied; the node turns it into events. */
export interface StateChange {
  entered: boolean
  joined: string[]
  left: string[]
  /** Its headers changed (an `update`). */
  updated: boolean
}

interface Entry { state: PeerState, signed?: SignedState, since: number }

/**
 * The node's view of the mesh: one entry per peer that has introduced itself. Pure data, no I/O
 * and no events, so the rules (stale states lose, diffs drive join/leave) are testable alone.
 *
 * A peer that left or was declared lost is remembered for a while with the version it had
 * (SWIM's dead state): a copy of that version still travelling through the mesh must not bring
 * it back. Only a newer version, a refutation or a restart, does.
 */
/** What is remembered of a removed peer: its last version, until when, and why it went. */
export interface Tombstone { ver: number, until: number, reason: 'left' | 'lost' }

export class PeerTable {
  private readonly peers = new Map<string, Entry>()
  private readonly suspected = new Set<string>()
  private readonly gone = new Map<string, Tombstone>()

  /** Applies a state of `id` (with its owner's signature, to pass on); null if it is not newer than what we have. */
  apply (id: string, state: PeerState, signed?: SignedState, now = Date.now()): StateChange | null {
    if (!this.isNewer(id, state.ver, now)) return null
    const old = this.peers.get(id)?.state
    this.gone.delete(id)
    this.peers.set(id, { state, signed, since: old == null ? now : (this.peers.get(id) as Entry).since })
    const before = new Set(old?.groups ?? [])
    const after = new Set(state.groups)
    return {
      entered: old == null,
      joined: state.groups.filter(g => !before.has(g)),
      left: [...before].filter(g => !after.has(g)),
      updated: old != null && !sameHeaders(old.headers, state.headers)
    }
  }

  /** Whether a state of `id` at `ver` would change anything: newer than held, and than its tombstone. */
  isNewer (id: string, ver: number, now = Date.now()): boolean {
    const held = this.peers.get(id)
    if (held != null) return ver > held.state.ver
    const dead = this.gone.get(id)
    if (dead != null && dead.until <= now) this.gone.delete(id)
    else if (dead != null) return ver > dead.ver
    return true
  }

  /** The version `id` had when it was removed, while that is remembered. */
  goneVer (id: string, now = Date.now()): number | undefined {
    const dead = this.gone.get(id)
    return dead != null && dead.until > now ? dead.ver : undefined
  }

  /** Peers removed and still remembered: what anti-entropy hands a peer whose view still holds them. */
  tombstones (now = Date.now()): Array<{ id: string } & Tombstone> {
    return [...this.gone].filter(([, d]) => d.until > now).map(([id, d]) => ({ id, ...d }))
  }

  /** Removes a peer; with `rememberUntil`, states of it no newer than now are refused until then. */
  remove (id: string, rememberUntil?: number, reason: 'left' | 'lost' = 'lost'): PeerInfo | undefined {
    const info = this.info(id)
    const entry = this.peers.get(id)
    if (entry != null && rememberUntil != null) {
      // Churn must not grow the tombstones without bound: expired ones go at the next removal.
      const now = Date.now()
      for (const [k, d] of this.gone) if (d.until <= now) this.gone.delete(k)
      this.gone.set(id, { ver: entry.state.ver, until: rememberUntil, reason })
    }
    this.peers.delete(id)
    this.suspected.delete(id)
    return info
  }

  /** The groups of `id`; read for every sighting in a partial mesh, so without copying a PeerInfo. */
  groups (id: string): readonly string[] | undefined { return this.peers.get(id)?.state.groups }

  /** The state of `id` as it signed it, if we hold its signature. */
  signed (id: string): SignedState | undefined { return this.peers.get(id)?.signed }

  /** When `id` entered this view. */
  since (id: string): number | undefined { return this.peers.get(id)?.since }

  isSuspect (id: string): boolean { return this.suspected.has(id) }

  /** Marks a peer suspect (true) or alive again (false); returns whether that changed anything. */
  setSuspect (id: string, suspect: boolean): boolean {
    if (!this.peers.has(id) || this.suspected.has(id) === suspect) return false
    if (suspect) this.suspected.add(id)
    else this.suspected.delete(id)
    return true
  }

  /** The version of `id`'s state we hold (its incarnation, in SWIM's terms). */
  ver (id: string): number | undefined { return this.peers.get(id)?.state.ver }

  /** [id, version] for every peer, for anti-entropy digests. */
  versions (): Array<[string, number]> { return [...this.peers].map(([id, e]) => [id, e.state.ver]) }

  has (id: string): boolean { return this.peers.has(id) }

  info (id: string): PeerInfo | undefined {
    const s = this.peers.get(id)?.state
    if (s == null) return undefined
    return { id, name: s.name, headers: { ...s.headers }, groups: [...s.groups], addresses: [...s.addrs], state: this.suspected.has(id) ? 'suspect' : 'alive' }
  }

  ids (): string[] { return [...this.peers.keys()] }

  list (): PeerInfo[] { return this.ids().map(id => this.info(id) as PeerInfo) }

  /** Peers that are members of `group`, by id. */
  membersOf (group: string): string[] {
    const out: string[] = []
    for (const [id, e] of this.peers) if (e.state.groups.includes(group)) out.push(id)
    return out
  }

  get size (): number { return this.peers.size }
}

function sameHeaders (a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a)
  return ka.length === Object.keys(b).length && ka.every(k => Object.hasOwn(b, k) && a[k] === b[k])
}
