// What a simulator run recorded, as plain data: the coordinator (sim/runner.ts) fills it in from
// what the nodes emitted, sim/measure.ts turns it into figures. Times are wall-clock ms.

/** A presence event a node emitted: observer `o` saw `event` about peer `p` (indices). */
export interface SeenEvent { o: number, event: 'enter' | 'exit' | 'suspect' | 'alive', p: number, reason?: string, at: number }

/** A fault that hit one peer, from `start` until it was over (`end`; Infinity if never). */
export interface FaultWindow { peer: number, kind: 'crash' | 'freeze' | 'leave' | 'slow' | 'churn', start: number, end: number }

export interface PartitionWindow { start: number, end: number, segments: Record<string, number[]> }

export type TrafficKind = 'shout' | 'whisper' | 'request'

/** `error` is the failed send's error name, `reason` its message (why a dial failed, say). */
export interface Send { kind: TrafficKind, q: number, from: number, to?: number, group?: string, at: number, error?: string, reason?: string }

/** Observer `o` got message `q`; for a request, the requester got `o`'s reply (at is the reply's arrival). */
export interface Receipt { kind: TrafficKind, q: number, o: number, at: number }

/** `solo`: the process hosts one peer a fault may stop; a freeze of it is a delay of its loop, not load. */
export interface WorkerSample { at: number, worker: string, solo: boolean, rss: number, heap: number, cpuMs: number, lagMs: number, nodes: Array<{ key: number, peers: number, connections: number, shoutsSent: number, shoutsReceived: number, whispersSent: number, whispersReceived: number, presenceFramesSent: number, presenceBytesSent: number, shoutFallbacks: number }> }

/** A change in who really is there: started (`up`), or crashed/left (`!up`). */
export interface Liveness { peer: number, up: boolean, at: number }

export interface Recording {
  ids: string[]
  /** When the first node was asked to start, when every node saw every other, and the run's start and end. */
  formationStart: number
  formationEnd: number
  converged: boolean
  runStart: number
  runEnd: number
  events: SeenEvent[]
  faults: FaultWindow[]
  partitions: PartitionWindow[]
  /** The timeline as executed: each action with its absolute time. */
  timeline: Array<{ at: number, type: string, peer?: number, detail?: string }>
  sends: Send[]
  receipts: Receipt[]
  samples: WorkerSample[]
  liveness: Liveness[]
  /** Group -> member indices. */
  groups: Record<string, number[]>
}
