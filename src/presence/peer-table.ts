import type { PeerState } from '../codec/frame.js'
import type { PeerInfo } from '../types.js'

/** What changed when a peer's state was applied; the node turns it into events. */
export interface StateChange {
  entered: boolean
  joined: string[]
  left: string[]
  /** Its headers changed (an `update`). */
  updated: boolean
}

/**
 * The node's view of the mesh: one entry per peer that has introduced itself. Pure data, no I/O
 * and no events, so the rules (stale states lose, diffs drive join/leave) are testable alone.
 */
export class PeerTable {
  private readonly peers = new Map<string, PeerState>()
  private readonly suspected = new Set<string>()

  /** Applies a state heard from `id`; returns null if it is not newer than what we have. */
  apply (id: string, state: PeerState): StateChange | null {
    const old = this.peers.get(id)
    if (old != null && state.ver <= old.ver) return null
    this.peers.set(id, state)
    const before = new Set(old?.groups ?? [])
    const after = new Set(state.groups)
    return {
      entered: old == null,
      joined: state.groups.filter(g => !before.has(g)),
      left: [...before].filter(g => !after.has(g)),
      updated: old != null && !sameHeaders(old.headers, state.headers)
    }
  }

  remove (id: string): PeerInfo | undefined {
    const info = this.info(id)
    this.peers.delete(id)
    this.suspected.delete(id)
    return info
  }

  /** Marks a peer suspect (true) or alive again (false); returns whether that changed anything. */
  setSuspect (id: string, suspect: boolean): boolean {
    if (!this.peers.has(id) || this.suspected.has(id) === suspect) return false
    if (suspect) this.suspected.add(id)
    else this.suspected.delete(id)
    return true
  }

  /** The version of `id`'s state we hold (its incarnation, in SWIM's terms). */
  ver (id: string): number | undefined { return this.peers.get(id)?.ver }

  /** [id, version] for every peer, for anti-entropy digests. */
  versions (): Array<[string, number]> { return [...this.peers].map(([id, s]) => [id, s.ver]) }

  has (id: string): boolean { return this.peers.has(id) }

  info (id: string): PeerInfo | undefined {
    const s = this.peers.get(id)
    if (s == null) return undefined
    return { id, name: s.name, headers: { ...s.headers }, groups: [...s.groups], addresses: [...s.addrs], state: this.suspected.has(id) ? 'suspect' : 'alive' }
  }

  ids (): string[] { return [...this.peers.keys()] }

  list (): PeerInfo[] { return this.ids().map(id => this.info(id) as PeerInfo) }

  /** Peers that are members of `group`, by id. */
  membersOf (group: string): string[] {
    const out: string[] = []
    for (const [id, s] of this.peers) if (s.groups.includes(group)) out.push(id)
    return out
  }

  get size (): number { return this.peers.size }
}

function sameHeaders (a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a)
  return ka.length === Object.keys(b).length && ka.every(k => Object.hasOwn(b, k) && a[k] === b[k])
}
