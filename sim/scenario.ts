// A simulator scenario: how many peers, which groups, what traffic, and a timeline of faults.
// Scenarios are plain JSON (see sim/scenarios/*.json); this module checks one and expands its
// random parts (churn, "random" peers) with a seeded PRNG, so the same seed schedules the same run.
import { rng } from './stats.js'

/** Which peers a fault hits: an index, a range "first-last", or a list of those. */
export type PeerRef = number | string | Array<number | string>

export type FaultSpec =
  /** Abrupt death (SIGKILL of the peer's process); `rejoinAfter` seconds later it restarts with the same identity. */
  | { at: number, type: 'crash', peer: PeerRef, rejoinAfter?: number }
  /** The process stops (SIGSTOP) for `for` seconds, its connections stay open, then it resumes (SIGCONT). */
  | { at: number, type: 'freeze', peer: PeerRef, for: number }
  /** Graceful stop(); `rejoinAfter` seconds later it starts again with the same identity. */
  | { at: number, type: 'leave', peer: PeerRef, rejoinAfter?: number }
  /** Segments by name, each a list of peer indices or "rest"; no connection crosses segments until `heal`. */
  | { at: number, type: 'partition', segments: Record<string, PeerRef | 'rest'>, for?: number }
  | { at: number, type: 'heal' }
  /** The peer's process spends `delayMs` of CPU on every message it receives, for `for` seconds. */
  | { at: number, type: 'slow', peer: PeerRef, for: number, delayMs: number }
  /** For `for` seconds, `rate` random peers per second leave gracefully and rejoin `rejoinAfter` seconds later. */
  | { at: number, type: 'churn', for: number, rate: number, rejoinAfter?: number }
  /** One-way delay `ms` ± `jitter` on the links between the two sets of `between` (default: every link), for `for` seconds or to the end. */
  | { at: number, type: 'latency', ms: number, jitter?: number, between?: [PeerRef, PeerRef | 'rest'], for?: number }

export interface ShoutTraffic {
  group: string
  /** Shouts per second, from random members, over the whole run. */
  rate: number
  /** Payload bytes (default 200). */
  bytes?: number
}

export interface WhisperTraffic {
  /** Whispers per second between random pairs. */
  rate: number
  bytes?: number
}

/** Requests per second between random pairs (node.request to a handler that echoes the payload back). */
export type RequestTraffic = WhisperTraffic

/** Where the peers run: TCP loopback in worker processes, or every peer in one process on libp2p's memory transport. */
export type SimTransport = 'tcp' | 'memory'

/** Which faults each transport mode can simulate (the others are a ScenarioError). */
export const FAULTS_BY_TRANSPORT: Record<SimTransport, readonly string[]> = {
  tcp: ['crash', 'freeze', 'leave', 'partition', 'heal', 'slow', 'churn', 'latency'],
  // One process: a busy loop for a slow consumer would slow every peer, not one.
  memory: ['crash', 'freeze', 'leave', 'partition', 'heal', 'churn', 'latency']
}

export interface Scenario {
  name?: string
  peers?: number
  /** Run length after the mesh has converged, e.g. 60 or "60s" (default 60 s). */
  duration?: number | string
  seed?: number
  /** Groups, and which peers join each: a fraction of all peers (0..1) or "all" (default "all"). */
  groups?: Record<string, number | 'all'>
  traffic?: { shouts?: ShoutTraffic[], whispers?: WhisperTraffic, requests?: RequestTraffic }
  faults?: FaultSpec[]
  /** 'tcp' (default): worker processes on TCP loopback; 'memory': every peer in one process on the memory transport. */
  transport?: SimTransport
  /** One-way delay of every link, e.g. { "ms": 5, "jitter": 2 } (default none). */
  latency?: { ms: number, jitter?: number }
  /** Presence timing profile of every node (default 'lan', the nodes' own default). */
  profile?: 'lan' | 'wifi' | 'local'
  /**
   * Connections each node keeps (the nodes' `degree` option): a number, "full" for a full mesh,
   * or "auto" (the default): a full mesh up to 64 peers, a partial mesh of degree 8 beyond.
   */
  degree?: number | 'full' | 'auto'
  /** Processes that share the peers not hit by a signal fault (default 2, one per core). */
  workers?: number
  /** Nodes started at once while the mesh forms; each wave settles before the next (default 10). */
  wave?: number
  /** Seconds a wave has to settle before the next starts anyway (default 60). */
  waveTimeout?: number | string
  /** Seconds between rounds in which every node hears every other on its segment again, as mDNS queries do (default 5; 0: only when a node starts or a partition heals). */
  reannounce?: number | string
  /** Seconds after a fault ends during which a lost message or a suspicion involving that peer is excused (default 5). */
  grace?: number
}

/** One concrete thing to do at `at` ms into the run (after convergence). */
export type Action =
  | { at: number, type: 'crash' | 'freeze' | 'thaw' | 'leave' | 'rejoin', peer: number, churn?: boolean }
  | { at: number, type: 'partition', segments: Record<string, number[]> }
  | { at: number, type: 'heal' }
  | { at: number, type: 'slow', peer: number, delayMs: number }
  /** Rule `id` on (with a delay) or off (`ms` null). */
  | { at: number, type: 'latency', id: number, ms: number | null, jitter: number, a: number[], b: number[] }

export interface Plan {
  name: string
  peers: number
  durationMs: number
  seed: number
  profile: 'lan' | 'wifi' | 'local'
  /** The nodes' `degree`; undefined for a full mesh. */
  degree: number | undefined
  workers: number
  wave: number
  waveTimeoutMs: number
  graceMs: number
  reannounceMs: number
  /** Group name -> member indices. */
  groups: Record<string, number[]>
  shouts: Array<Required<ShoutTraffic>>
  whispers: Required<WhisperTraffic> | null
  requests: Required<RequestTraffic> | null
  transport: SimTransport
  /** One-way delay of every link that no latency fault names. */
  latency: { ms: number, jitter: number }
  actions: Action[]
  /** Peers hit by crash, freeze or slow: each runs alone in a process, so a signal hits only it. */
  solo: number[]
}

export class ScenarioError extends Error {
  override name = 'ScenarioError'
}

/** "60s", "2m", "1500ms" or a number of seconds -> ms. */
export function parseDuration (v: unknown, what: string): number {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v * 1000
  const m = typeof v === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/.exec(v) : null
  if (m == null) throw new ScenarioError(`${what}: "${String(v)}" is not a duration (60, "60s", "2m", "500ms")`)
  const n = Number(m[1])
  return m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000
}

export interface Overrides { peers?: number, duration?: number | string, seed?: number, workers?: number, degree?: number | 'full' | 'auto', transport?: SimTransport }

/** Checks a parsed scenario and expands it into a concrete, seeded plan. Throws ScenarioError. */
export function plan (input: unknown, overrides: Overrides = {}): Plan {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new ScenarioError('scenario must be a JSON object')
  const s = { ...(input as Scenario) }
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) (s as any)[k] = v
  const known = new Set(['name', 'peers', 'duration', 'seed', 'groups', 'traffic', 'faults', 'profile', 'degree', 'workers', 'wave', 'waveTimeout', 'grace', 'reannounce', 'transport', 'latency', '$comment'])
  for (const k of Object.keys(s)) if (!known.has(k)) throw new ScenarioError(`unknown scenario key "${k}"`)
  const int = (v: unknown, what: string, min: number): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new ScenarioError(`${what} must be an integer >= ${min}`)
    return v
  }
  const num = (v: unknown, what: string, min: number): number => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw new ScenarioError(`${what} must be a number >= ${min}`)
    return v
  }
  const peers = int(s.peers ?? 20, 'peers', 2)
  const seed = int(s.seed ?? 42, 'seed', 0)
  const durationMs = parseDuration(s.duration ?? 60, 'duration')
  const random = rng(seed)
  const profile = s.profile ?? 'lan'
  if (!['lan', 'wifi', 'local'].includes(profile)) throw new ScenarioError('profile must be lan, wifi or local')
  const transport = s.transport ?? 'tcp'
  if (!Object.hasOwn(FAULTS_BY_TRANSPORT, transport)) throw new ScenarioError('transport must be tcp or memory')
  const delay = (v: any, what: string): { ms: number, jitter: number } => {
    const ms = num(v?.ms, `${what}.ms`, 0)
    const jitter = num(v?.jitter ?? 0, `${what}.jitter`, 0)
    if (jitter > ms) throw new ScenarioError(`${what}.jitter must not exceed ms`)
    return { ms, jitter }
  }
  const latency = s.latency == null ? { ms: 0, jitter: 0 } : delay(s.latency, 'latency')

  const groups: Record<string, number[]> = {}
  for (const [name, share] of Object.entries(s.groups ?? { chat: 'all' })) {
    if (share === 'all') { groups[name] = range(peers); continue }
    const f = num(share, `groups.${name}`, 0)
    if (f > 1) throw new ScenarioError(`groups.${name} must be a fraction 0..1 or "all"`)
    groups[name] = shuffle(range(peers), random).slice(0, Math.max(2, Math.round(f * peers))).sort((a, b) => a - b)
  }
  const shouts = (s.traffic?.shouts ?? []).map((t, i) => {
    if (typeof t?.group !== 'string' || groups[t.group] == null) throw new ScenarioError(`traffic.shouts[${i}].group must name one of the groups`)
    return { group: t.group, rate: num(t.rate, `traffic.shouts[${i}].rate`, 0), bytes: int(t.bytes ?? 200, `traffic.shouts[${i}].bytes`, 16) }
  })
  const w = s.traffic?.whispers
  const whispers = w == null ? null : { rate: num(w.rate, 'traffic.whispers.rate', 0), bytes: int(w.bytes ?? 200, 'traffic.whispers.bytes', 16) }
  const rq = s.traffic?.requests
  const requests = rq == null ? null : { rate: num(rq.rate, 'traffic.requests.rate', 0), bytes: int(rq.bytes ?? 200, 'traffic.requests.bytes', 16) }

  const peerList = (ref: unknown, what: string): number[] => {
    const list = (Array.isArray(ref) ? ref : [ref]).flatMap(p => {
      const m = typeof p === 'string' ? /^(\d+)-(\d+)$/.exec(p) : null
      return m == null ? [p] : range(Number(m[2]) - Number(m[1]) + 1).map(i => i + Number(m[1]))
    })
    if (list.length === 0) throw new ScenarioError(`${what} names no peer`)
    return list.map(p => {
      if (typeof p !== 'number' || !Number.isInteger(p) || p < 0 || p >= peers) throw new ScenarioError(`${what}: peer ${String(p)} is not in 0..${peers - 1}`)
      return p
    })
  }
  const actions: Action[] = []
  const solo = new Set<number>()
  const faults = s.faults ?? []
  if (!Array.isArray(faults)) throw new ScenarioError('faults must be an array')
  faults.forEach((f: any, i) => {
    const what = `faults[${i}] (${String(f?.type)})`
    const at = parseDuration(f?.at, `${what}.at`)
    if (at > durationMs) throw new ScenarioError(`${what}: at is after the end of the run`)
    if (typeof f?.type === 'string' && FAULTS_BY_TRANSPORT.tcp.includes(f.type) && !FAULTS_BY_TRANSPORT[transport].includes(f.type)) {
      throw new ScenarioError(`${what}: not supported with transport ${transport} (supported: ${FAULTS_BY_TRANSPORT[transport].join(', ')})`)
    }
    switch (f?.type) {
      case 'crash':
      case 'leave':
        for (const p of peerList(f.peer, what)) {
          actions.push({ at, type: f.type, peer: p })
          if (f.type === 'crash') solo.add(p)
          if (f.rejoinAfter != null) actions.push({ at: at + parseDuration(f.rejoinAfter, `${what}.rejoinAfter`), type: 'rejoin', peer: p })
        }
        break
      case 'freeze':
        for (const p of peerList(f.peer, what)) {
          solo.add(p)
          actions.push({ at, type: 'freeze', peer: p }, { at: at + parseDuration(f.for, `${what}.for`), type: 'thaw', peer: p })
        }
        break
      case 'slow':
        for (const p of peerList(f.peer, what)) {
          solo.add(p)
          const delayMs = num(f.delayMs, `${what}.delayMs`, 0)
          actions.push({ at, type: 'slow', peer: p, delayMs }, { at: at + parseDuration(f.for, `${what}.for`), type: 'slow', peer: p, delayMs: 0 })
        }
        break
      case 'partition': {
        if (typeof f.segments !== 'object' || f.segments === null) throw new ScenarioError(`${what}.segments must be an object`)
        const taken = new Set<number>()
        const segments: Record<string, number[]> = {}
        let rest: string | undefined
        for (const [name, members] of Object.entries(f.segments)) {
          if (members === 'rest') { if (rest != null) throw new ScenarioError(`${what}: only one segment can be "rest"`); rest = name; continue }
          segments[name] = peerList(members, `${what}.segments.${name}`)
          for (const p of segments[name]) { if (taken.has(p)) throw new ScenarioError(`${what}: peer ${p} is in two segments`); taken.add(p) }
        }
        if (rest != null) segments[rest] = range(peers).filter(p => !taken.has(p))
        if (Object.keys(segments).length < 2) throw new ScenarioError(`${what} needs at least two segments`)
        actions.push({ at, type: 'partition', segments })
        if (f.for != null) actions.push({ at: at + parseDuration(f.for, `${what}.for`), type: 'heal' })
        break
      }
      case 'heal':
        actions.push({ at, type: 'heal' })
        break
      case 'churn': {
        const rate = num(f.rate, `${what}.rate`, 0)
        const end = at + parseDuration(f.for, `${what}.for`)
        const back = parseDuration(f.rejoinAfter ?? 3, `${what}.rejoinAfter`)
        for (let t = at; rate > 0 && t < end; t += 1000 / rate) actions.push({ at: t, type: 'leave', peer: -1 }, { at: t + back, type: 'rejoin', peer: -1 })
        break
      }
      case 'latency': {
        const { ms, jitter } = delay(f, what)
        let a = range(peers)
        let b = range(peers)
        if (f.between != null) {
          if (!Array.isArray(f.between) || f.between.length !== 2) throw new ScenarioError(`${what}.between must be [peers, peers]`)
          a = peerList(f.between[0], `${what}.between[0]`)
          b = f.between[1] === 'rest' ? range(peers).filter(p => !a.includes(p)) : peerList(f.between[1], `${what}.between[1]`)
        }
        actions.push({ at, type: 'latency', id: i, ms, jitter, a, b })
        if (f.for != null) actions.push({ at: at + parseDuration(f.for, `${what}.for`), type: 'latency', id: i, ms: null, jitter: 0, a, b })
        break
      }
      default:
        throw new ScenarioError(`${what}: unknown fault type (${FAULTS_BY_TRANSPORT.tcp.join(', ')})`)
    }
  })
  actions.sort((a, b) => a.at - b.at)
  // Churn picks random peers that no other fault names, each rejoining before it is picked again.
  const named = new Set(actions.flatMap(a => 'peer' in a && a.peer >= 0 ? [a.peer] : []))
  const free = shuffle(range(peers).filter(p => !named.has(p)), random)
  const away: number[] = []
  for (const a of actions) {
    if (!('peer' in a) || a.peer >= 0) continue
    if (a.type === 'leave') {
      const p = free.shift()
      if (p == null) throw new ScenarioError('churn: no peer left to churn')
      a.peer = p
      a.churn = true
      away.push(p)
    } else {
      const p = away.shift() as number
      a.peer = p
      free.push(p)
    }
  }
  return {
    name: s.name ?? 'scenario',
    peers,
    durationMs,
    seed,
    profile,
    degree: planDegree(s.degree ?? 'auto', peers),
    // Memory connections only reach nodes of the same process.
    workers: transport === 'memory' ? 1 : int(s.workers ?? 2, 'workers', 1),
    wave: int(s.wave ?? 10, 'wave', 1),
    waveTimeoutMs: parseDuration(s.waveTimeout ?? 60, 'waveTimeout'),
    graceMs: parseDuration(s.grace ?? 5, 'grace'),
    reannounceMs: parseDuration(s.reannounce ?? 5, 'reannounce'),
    groups,
    shouts,
    whispers,
    requests,
    transport,
    latency,
    actions,
    // In one process a crash or freeze goes through the link shaper, not a signal.
    solo: transport === 'memory' ? [] : [...solo].sort((a, b) => a - b)
  }
}

// Past this many peers, "auto" makes a partial mesh: a full one costs every node a connection to
// every other, which at a few hundred peers no longer fits one machine (see README, Scale).
const AUTO_FULL_MESH_MAX = 64
const AUTO_DEGREE = 8

function planDegree (d: unknown, peers: number): number | undefined {
  if (d === 'full') return undefined
  if (d === 'auto') return peers > AUTO_FULL_MESH_MAX ? AUTO_DEGREE : undefined
  if (typeof d !== 'number' || !Number.isInteger(d) || d < 2) throw new ScenarioError('degree must be "auto", "full" or an integer of at least 2')
  return d
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i)

function shuffle<T> (xs: T[], random: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]]
  }
  return xs
}
