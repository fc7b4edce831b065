/** Timing of failure detection. All durations in milliseconds. */
export interface PresenceTuning {
  /** How often this node probes one peer (round robin). */
  probeInterval: number
  /** How long a direct probe waits for its answer before asking others to try. */
  probeTimeout: number
  /** How many other peers are asked to probe a peer that did not answer. */
  indirectProbes: number
  /**
   * Suspicion timeout, in probe intervals, scaled by log10 of the mesh size (SWIM's suspicion
   * multiplier): the shortest time a suspect peer has to refute before it is declared lost.
   */
  suspicionMult: number
  /** The longest suspicion timeout, as a multiple of the shortest; independent confirmations shorten it (Lifeguard). */
  suspicionMaxMult: number
  /** How often this node compares its view with one random peer (anti-entropy). */
  syncInterval: number
}

export type PresenceProfile = 'lan' | 'wifi' | 'local'

/**
 * `lan`: a wired or good wireless LAN (a frozen peer is gone in about 3-5 s at 100 peers).
 * `wifi`: lossy links and sleepy laptops; slower to give up on a peer. `local`: many nodes on
 * one machine, as in tests and the simulator; fast, and leans on the local-health guards
 * (see Prober) against the false alarms a busy machine would otherwise raise.
 */
export const PROFILES: Record<PresenceProfile, PresenceTuning> = {
  lan: { probeInterval: 500, probeTimeout: 250, indirectProbes: 3, suspicionMult: 2, suspicionMaxMult: 3, syncInterval: 2000 },
  wifi: { probeInterval: 1000, probeTimeout: 500, indirectProbes: 3, suspicionMult: 4, suspicionMaxMult: 4, syncInterval: 5000 },
  local: { probeInterval: 200, probeTimeout: 100, indirectProbes: 3, suspicionMult: 5, suspicionMaxMult: 4, syncInterval: 1000 }
}

/**
 * The shortest and longest suspicion timeouts for a mesh of `members` nodes: like memberlist,
 * mult * max(1, log10(n)) * interval, so a bigger mesh, where gossip takes longer to reach the
 * suspect, gives it longer to refute.
 */
export function suspicionBounds (t: PresenceTuning, members: number): { min: number, max: number } {
  const min = t.suspicionMult * Math.max(1, Math.log10(Math.max(1, members))) * t.probeInterval
  return { min, max: min * t.suspicionMaxMult }
}
