import { sample } from '../util/sample.js'

/** What the overlay reads of the node; read afresh on each call, since connections come and go. */
export interface OverlayInit {
  /** Connections to keep to random peers. */
  degree: number
  /**
   * Members of each of our groups to keep among our connections. Gossipsub builds a group's mesh
   * only from connected members, so a member with too few of them would hear its group late or
   * not at all; gossipsub's own mesh degree is 6.
   */
  groupDegree: number
  /** Peer ids we hold an open connection to. */
  connected: () => Set<string>
  /** Our own groups. */
  groups: () => readonly string[]
  /** The groups of a peer in our view; undefined for one we have not heard from yet. */
  groupsOf: (id: string) => readonly string[] | undefined
  /** Peer ids in our view. */
  ids: () => string[]
  /** Milliseconds between dials to peers not in our view (see `wants`). */
  strangerInterval: number
}

/**
 * Which connections a node in a partial mesh keeps: `degree` random peers, which keeps the mesh
 * one connected random graph, plus enough members of each of its groups for group traffic.
 * Random choice matters: peers chosen by some order (first heard, lowest id) would pile onto the
 * same few nodes.
 */
// How long a pruned connection is not made again, by either side: without this, a node that
// prunes and one that is short of peers would close and redial the same pair in turn.
const PRUNE_MEMORY_MS = 60_000

export class Overlay {
  private lastStranger = -Infinity
  private readonly pruned = new Map<string, number>()

  constructor (private readonly init: OverlayInit) {}

  /**
   * Whether a connection to `id` is one we want, with `pending` dials of ours still under way;
   * `dialling` says the caller dials now if so.
   */
  wants (id: string, pending = 0, dialling = false): boolean {
    const connected = this.init.connected()
    if (connected.has(id) || this.recentlyPruned(id)) return false
    if (connected.size + pending < this.init.degree) return true
    const theirs = this.init.groupsOf(id)
    if (theirs == null) {
      // A peer we hear of but hold no state of: after a partition heals, the two sides know
      // nothing of each other, and each has its degree within its own side, so without this no
      // one would ever dial across. One such dial per interval is enough: the hello exchange
      // hands over whole views. (While a mesh forms, most peers are strangers at first.)
      const now = Date.now()
      if (now - this.lastStranger < this.init.strangerInterval) return false
      if (dialling) this.lastStranger = now
      return true
    }
    // Dials under way count as members: counted as nothing, a burst of sightings (a node just
    // started hears everyone at once) would all pass before the first dial completes.
    return this.init.groups().some(g => theirs.includes(g) && this.membersAmong(g, connected) + pending < this.init.groupDegree)
  }

  /** Peers to connect to now, to make up for connections that are missing. */
  candidates (): string[] {
    const connected = this.init.connected()
    const unconnected = this.init.ids().filter(id => !connected.has(id))
    const chosen = new Set(sample(unconnected, this.init.degree - connected.size))
    for (const g of this.init.groups()) {
      const missing = this.init.groupDegree - this.membersAmong(g, connected) - [...chosen].filter(id => this.isMember(id, g)).length
      if (missing <= 0) continue
      for (const id of sample(unconnected.filter(id => !chosen.has(id) && this.isMember(id, g)), missing)) chosen.add(id)
    }
    return [...chosen]
  }

  /** A connection to close: past twice the degree, one not needed by any of our groups, among `settled` ones. */
  surplus (settled: (id: string) => boolean): string | undefined {
    const connected = this.init.connected()
    if (connected.size <= 2 * this.init.degree) return undefined
    const groups = this.init.groups()
    const spare = [...connected].filter(id => settled(id) && !this.recentlyPruned(id) &&
      groups.every(g => !this.isMember(id, g) || this.membersAmong(g, connected) > this.init.groupDegree))
    return sample(spare, 1)[0]
  }

  /** A connection to `id` was closed on purpose, by us or by it. */
  notePruned (id: string): void {
    const now = Date.now()
    for (const [k, t] of this.pruned) if (now - t > PRUNE_MEMORY_MS) this.pruned.delete(k)
    this.pruned.set(id, now)
  }

  recentlyPruned (id: string): boolean {
    const t = this.pruned.get(id)
    return t != null && Date.now() - t <= PRUNE_MEMORY_MS
  }

  private membersAmong (group: string, connected: Set<string>): number {
    let n = 0
    for (const id of connected) if (this.isMember(id, group)) n++
    return n
  }

  private isMember (id: string, group: string): boolean {
    return this.init.groupsOf(id)?.includes(group) === true
  }
}
