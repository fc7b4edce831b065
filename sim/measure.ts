// Figures from a simulator recording (sim/recording.ts): only from what the nodes emitted, judged
// against what really happened (the executed timeline). A loss or an alarm is "excused" when a
// fault explains it: one of the two peers was crashed, frozen, leaving, slow or rejoining (until
// `graceMs` after the fault ended), or a partition separated them.
import type { Plan } from './scenario.js'
import type { Recording, FaultWindow, SeenEvent, TrafficKind } from './recording.js'
import { distribution, type Distribution } from './stats.js'

/** A message counts as lost only if no fault touched either end within this long after it was sent. */
const DELIVERY_WINDOW_MS = 3000

export interface FaultFigures {
  type: string
  peer?: number
  /** Seconds into the run. */
  atS: number
  /** Peers that should notice (up, not faulted themselves, on the same side of any partition). */
  observers: number
  /** Of those, how many emitted suspect or exit (for a leave: exit) about it. */
  noticed: number
  /** ms from the fault until each observer noticed: p50 and the last one (= every peer noticed). */
  noticeP50Ms: number
  noticeAllMs: number
  /** Exit reasons observers reported, e.g. { left: 29 } or { lost: 28 }. */
  reasons: Record<string, number>
  /** For a rejoin or a heal: ms until every observer saw it (them) again. */
  backAllMs?: number
}

export interface DeliveryFigures {
  sent: number
  sendErrors: number
  /** Send (for a request: request) errors by their type, e.g. { PeerUnreachableError: 2 }. */
  errors: Record<string, number>
  /** Receipts owed where no fault excuses a loss, and how many arrived. */
  expected: number
  delivered: number
  ratio: number
  /** Receipts a fault excuses, and how many arrived anyway. */
  excused: number
  excusedDelivered: number
  duplicates: number
  /** The first few losses no fault excuses: what was sent, when, and the send error if any. */
  lost: string[]
  /** Send to receipt, for the receipts no fault excuses (the steady state). */
  latencyMs: Distribution
  /** The same for every receipt, including late ones to or from a faulted peer. */
  latencyAllMs: Distribution
}

export interface NodeTraffic { peer: number, presenceBytes: number, presenceFrames: number, shoutsSent: number, shoutsReceived: number, whispersSent: number, whispersReceived: number, shoutFallbacks: number }

export interface SimResult {
  ok: boolean
  problems: string[]
  scenario: { name: string, peers: number, durationS: number, seed: number, workers: number, profile: string, degree: number | "full", transport: string, latency: { ms: number, jitter: number }, timeline: Recording['timeline'] }
  env: { node: string, platform: string, date: string }
  /** peer-N's libp2p peer id at index N, to read the nodes' own logs (DEBUG=shoal:*) against the report. */
  peerIds: string[]
  formation: { converged: boolean, ms: number }
  faults: FaultFigures[]
  falsePositives: { suspects: number, exits: number, examples: string[], duringFormation: number, list: string[] }
  shouts: DeliveryFigures
  whispers: DeliveryFigures
  /** A request is delivered when its reply is back; its latency is the round trip. */
  requests: DeliveryFigures
  traffic: NodeTraffic[]
  perNode: { presenceBytesPerSec: Distribution, presenceFramesPerSec: Distribution }
  /** The shared workers' worst event-loop delay per 2 s sample during the run (null without samples). */
  resources: { loopLagMs: Distribution | null, peakRssMB: number, rssPerPeerMB: number, heapPerPeerMB: number, cpuPercentPerPeer: number, cpuPercentAll: number, processes: number }
  series: {
    membership: Array<{ t: number, seen: number, truth: number }>
    delivery: Array<{ t: number, ratio: number, expected: number }>
    latencies: Array<{ kind: string, ms: number }>
  }
}

export function measure (plan: Plan, rec: Recording): SimResult {
  const problems: string[] = []
  const t0 = rec.runStart
  const grace = plan.graceMs
  const N = rec.ids.length
  const windowsOf = new Map<number, FaultWindow[]>()
  for (const w of rec.faults) windowsOf.set(w.peer, [...(windowsOf.get(w.peer) ?? []), w])
  const excused = (peer: number, from: number, to: number): boolean =>
    (windowsOf.get(peer) ?? []).some(w => w.start <= to && w.end + grace >= from)
  const separated = (a: number, b: number, from: number, to: number): boolean =>
    rec.partitions.some(p => p.start <= to && p.end + grace >= from && segmentOf(p.segments, a) !== segmentOf(p.segments, b))
  const upAt = liveness(rec)

  // ---- delivery -------------------------------------------------------------------------------
  const byKind = (kind: TrafficKind): DeliveryFigures & { buckets: Map<number, { e: number, d: number }> } => {
    const got = new Map<number, Map<number, number>>()
    let duplicates = 0
    for (const r of rec.receipts) {
      if (r.kind !== kind) continue
      let m = got.get(r.q)
      if (m == null) { m = new Map(); got.set(r.q, m) }
      if (m.has(r.o)) duplicates++
      else m.set(r.o, r.at)
    }
    const out = { sent: 0, sendErrors: 0, errors: {} as Record<string, number>, expected: 0, delivered: 0, ratio: 1, excused: 0, excusedDelivered: 0, duplicates, lost: [] as string[], latencyMs: distribution([]), latencyAllMs: distribution([]), buckets: new Map<number, { e: number, d: number }>() }
    const lat: number[] = []
    const latAll: number[] = []
    for (const s of rec.sends) {
      if (s.kind !== kind) continue
      out.sent++
      if (s.error != null) { out.sendErrors++; out.errors[s.error] = (out.errors[s.error] ?? 0) + 1 }
      const owed = kind === 'shout' ? (rec.groups[s.group ?? ''] ?? []).filter(i => i !== s.from && upAt(i, s.at)) : [s.to as number]
      const rx = got.get(s.q)
      const bucket = Math.floor((s.at - t0) / 1000)
      const b = out.buckets.get(bucket) ?? { e: 0, d: 0 }
      out.buckets.set(bucket, b)
      for (const o of owed) {
        const at = rx?.get(o)
        if (at != null) latAll.push(at - s.at)
        const end = s.at + DELIVERY_WINDOW_MS
        if (excused(s.from, s.at, end) || excused(o, s.at, end) || separated(s.from, o, s.at, end)) {
          out.excused++
          if (at != null) out.excusedDelivered++
          continue
        }
        out.expected++
        b.e++
        if (at != null) { out.delivered++; b.d++; lat.push(at - s.at) } else if (out.lost.length < 10) {
          out.lost.push(`${kind} ${s.q} at ${((s.at - t0) / 1000).toFixed(1)}s peer-${s.from} -> peer-${o}${s.error != null ? ` (${s.error}${s.reason != null ? `: ${s.reason}` : ''})` : ''}`)
        }
      }
    }
    out.ratio = out.expected === 0 ? 1 : out.delivered / out.expected
    out.latencyMs = distribution(lat)
    out.latencyAllMs = distribution(latAll)
    return out
  }
  const sh = byKind('shout')
  const wh = byKind('whisper')
  const rq = byKind('request')
  if (sh.delivered < sh.expected) problems.push(`shouts: ${sh.expected - sh.delivered} of ${sh.expected} receipts lost where no fault excuses it, e.g. ${sh.lost.slice(0, 3).join('; ')}`)
  if (wh.delivered < wh.expected) problems.push(`whispers: ${wh.expected - wh.delivered} of ${wh.expected} lost where no fault excuses it, e.g. ${wh.lost.slice(0, 3).join('; ')}`)
  if (rq.delivered < rq.expected) problems.push(`requests: ${rq.expected - rq.delivered} of ${rq.expected} unanswered where no fault excuses it, e.g. ${rq.lost.slice(0, 3).join('; ')}`)
  if (sh.duplicates > 0) problems.push(`shouts: ${sh.duplicates} duplicate deliveries`)

  // ---- faults: who noticed, how fast ----------------------------------------------------------
  const about = new Map<string, SeenEvent[]>() // `${o}:${p}` -> events in time order
  for (const e of [...rec.events].sort((a, b) => a.at - b.at)) {
    const k = `${e.o}:${e.p}`
    about.set(k, [...(about.get(k) ?? []), e])
  }
  const first = (o: number, p: number, from: number, to: number, kinds: string[]): SeenEvent | undefined =>
    about.get(`${o}:${p}`)?.find(e => e.at >= from && e.at <= to && kinds.includes(e.event))
  const faults: FaultFigures[] = []
  const observersOf = (peer: number, at: number, until: number): number[] => Array.from({ length: N }, (_, i) => i)
    .filter(o => o !== peer && upAt(o, at) && upAt(o, until) && !excused(o, at - grace, until) && !separated(o, peer, at, at))
  const churn = rec.faults.filter(w => w.kind === 'churn')
  for (const w of rec.faults) {
    if (w.kind === 'slow') continue
    const leave = w.kind === 'leave' || w.kind === 'churn'
    // A freeze is noticed while it lasts (plus grace); a crash or leave any time until the run ends.
    const until = w.kind === 'freeze' ? w.end + grace : rec.runEnd
    const obs = observersOf(w.peer, w.start, Math.min(until, rec.runEnd))
    const times: number[] = []
    const reasons: Record<string, number> = {}
    for (const o of obs) {
      const e = first(o, w.peer, w.start, until, leave ? ['exit'] : ['suspect', 'exit'])
      if (e != null) times.push(e.at - w.start)
      const exit = first(o, w.peer, w.start, until, ['exit'])
      if (exit != null) reasons[exit.reason ?? '?'] = (reasons[exit.reason ?? '?'] ?? 0) + 1
    }
    const f: FaultFigures = { type: w.kind, peer: w.peer, atS: (w.start - t0) / 1000, observers: obs.length, noticed: times.length, noticeP50Ms: distribution(times).p50, noticeAllMs: times.length === obs.length ? Math.max(0, ...times) : NaN, reasons }
    if (w.end !== Infinity && w.kind !== 'freeze') {
      // It came back: until every observer saw it enter again.
      const back = obs.map(o => first(o, w.peer, w.end - 1000, rec.runEnd, ['enter'])?.at)
      f.backAllMs = back.every(b => b != null) ? Math.max(0, ...back.map(b => (b as number) - w.end)) : NaN
    }
    if (w.kind !== 'churn') faults.push(f)
    if (f.noticed < f.observers && w.kind !== 'churn') problems.push(`${w.kind} of peer-${w.peer}: noticed by ${f.noticed} of ${f.observers}`)
  }
  if (churn.length > 0) {
    const rows = faults.length
    let observers = 0
    let noticed = 0
    const all: number[] = []
    for (const w of churn) {
      const obs = observersOf(w.peer, w.start, rec.runEnd)
      observers += obs.length
      for (const o of obs) {
        const e = first(o, w.peer, w.start, rec.runEnd, ['exit'])
        if (e != null) { noticed++; all.push(e.at - w.start) }
      }
    }
    faults.splice(rows, 0, { type: `churn (${churn.length} leaves)`, atS: (churn[0].start - t0) / 1000, observers, noticed, noticeP50Ms: distribution(all).p50, noticeAllMs: noticed === observers ? Math.max(0, ...all) : NaN, reasons: {} })
    if (noticed < observers) problems.push(`churn: ${observers - noticed} of ${observers} leaves not noticed`)
  }
  for (const p of rec.partitions) {
    const end = Math.min(p.end, rec.runEnd)
    const pairs: Array<[number, number]> = []
    const segs = Object.values(p.segments)
    for (const a of segs) {
      for (const b of segs) {
        if (a === b) continue
        for (const o of a) for (const x of b) if (upAt(o, p.start) && upAt(x, p.start) && !excused(o, p.start, end + grace) && !excused(x, p.start, end + grace)) pairs.push([o, x])
      }
    }
    const times: number[] = []
    const back: number[] = []
    let lost = 0
    for (const [o, x] of pairs) {
      const e = first(o, x, p.start, end, ['suspect', 'exit'])
      if (e != null) times.push(e.at - p.start)
      if (p.end !== Infinity) {
        const exits = (about.get(`${o}:${x}`) ?? []).filter(ev => ev.event === 'exit' && ev.at >= p.start && ev.at <= p.end + grace)
        if (exits.length > 0) {
          const again = first(o, x, exits[exits.length - 1].at, rec.runEnd, ['enter'])
          if (again == null) lost++
          else back.push(Math.max(0, again.at - p.end))
        }
      }
    }
    const f: FaultFigures = {
      type: `partition ${Object.entries(p.segments).map(([k, v]) => `${k}:${v.length}`).join('/')}`,
      atS: (p.start - t0) / 1000,
      observers: pairs.length,
      noticed: times.length,
      noticeP50Ms: distribution(times).p50,
      noticeAllMs: times.length === pairs.length ? Math.max(0, ...times) : NaN,
      reasons: {}
    }
    if (p.end !== Infinity) f.backAllMs = lost > 0 ? NaN : Math.max(0, ...back)
    faults.push(f)
    if (f.noticed < f.observers) problems.push(`${f.type}: ${f.observers - f.noticed} of ${f.observers} cross-segment pairs never noticed`)
    if (p.end !== Infinity && lost > 0) problems.push(`${f.type}: after the heal, ${lost} views never came back`)
  }

  // ---- false positives ------------------------------------------------------------------------
  let suspects = 0
  let exits = 0
  let duringFormation = 0
  const list: string[] = [] // all of them (up to 2000) in report.json, to see what a false alarm followed
  for (const e of rec.events) {
    if (e.event !== 'suspect' && e.event !== 'exit') continue
    if (e.at < t0) { duringFormation++; continue }
    if (excused(e.o, e.at - grace, e.at) || excused(e.p, e.at - grace, e.at) || separated(e.o, e.p, e.at - grace, e.at)) continue
    if (e.at > rec.runEnd - 3000) continue // the drain after the run: nodes stop
    if (e.event === 'suspect') suspects++
    else exits++
    if (list.length < 2000) list.push(`${((e.at - t0) / 1000).toFixed(1)}s peer-${e.o} ${e.event} peer-${e.p}${e.reason != null ? ` (${e.reason})` : ''}`)
  }

  // ---- traffic, resources, series ---------------------------------------------------------------
  const traffic = nodeTraffic(rec, N)
  const runS = Math.max(1, (rec.runEnd - rec.formationStart) / 1000)
  const res = resources(rec, N)
  if (!rec.converged) problems.unshift('the mesh did not converge while forming')

  const { buckets: shB, ...shouts } = sh
  const { buckets: _w, ...whispers } = wh
  const { buckets: _r, ...requests } = rq
  return {
    ok: problems.length === 0,
    problems,
    scenario: { name: plan.name, peers: plan.peers, durationS: plan.durationMs / 1000, seed: plan.seed, workers: plan.workers, profile: plan.profile, degree: plan.degree ?? 'full', transport: plan.transport, latency: plan.latency, timeline: rec.timeline.map(t => ({ ...t, at: (t.at - t0) / 1000 })) },
    env: { node: process.version, platform: `${process.platform}-${process.arch}`, date: new Date().toISOString() },
    peerIds: rec.ids,
    formation: { converged: rec.converged, ms: rec.formationEnd - rec.formationStart },
    faults,
    falsePositives: { suspects, exits, examples: list.slice(0, 10), duringFormation, list },
    shouts,
    whispers,
    requests,
    traffic,
    perNode: {
      presenceBytesPerSec: distribution(traffic.map(t => t.presenceBytes / runS)),
      presenceFramesPerSec: distribution(traffic.map(t => t.presenceFrames / runS))
    },
    resources: res,
    series: {
      membership: membership(rec, N),
      delivery: [...shB].sort((a, b) => a[0] - b[0]).map(([t, b]) => ({ t, ratio: b.e === 0 ? 1 : b.d / b.e, expected: b.e })),
      latencies: [
        ...sample(rec, 'shout', 5000),
        ...sample(rec, 'whisper', 2000),
        ...sample(rec, 'request', 2000)
      ]
    }
  }
}

function segmentOf (segments: Record<string, number[]>, peer: number): string | null {
  for (const [name, members] of Object.entries(segments)) if (members.includes(peer)) return name
  return null
}

/** Whether a peer really was up (started, not crashed or left) at a time. */
function liveness (rec: Recording): (peer: number, at: number) => boolean {
  const changes = new Map<number, Array<{ up: boolean, at: number }>>()
  for (const l of [...rec.liveness].sort((a, b) => a.at - b.at)) changes.set(l.peer, [...(changes.get(l.peer) ?? []), l])
  return (peer, at) => {
    let up = false
    for (const c of changes.get(peer) ?? []) { if (c.at > at) break; up = c.up }
    return up
  }
}

/** Each second: how many "A sees B" views the nodes held, and how many were true. */
function membership (rec: Recording, N: number): Array<{ t: number, seen: number, truth: number }> {
  type Ev = { at: number, kind: 'ev', e: SeenEvent } | { at: number, kind: 'live', peer: number, up: boolean }
  const evs: Ev[] = [...rec.events.map(e => ({ at: e.at, kind: 'ev' as const, e })), ...rec.liveness.map(l => ({ at: l.at, kind: 'live' as const, peer: l.peer, up: l.up }))].sort((a, b) => a.at - b.at)
  const views: Array<Set<number>> = Array.from({ length: N }, () => new Set())
  const up = new Array<boolean>(N).fill(false)
  const out: Array<{ t: number, seen: number, truth: number }> = []
  let k = 0
  for (let t = rec.formationStart; t <= rec.runEnd; t += 1000) {
    while (k < evs.length && evs[k].at <= t) {
      const x = evs[k++]
      if (x.kind === 'live') {
        up[x.peer] = x.up
        views[x.peer].clear()
      } else if (x.e.event === 'enter') {
        views[x.e.o].add(x.e.p)
      } else if (x.e.event === 'exit') {
        views[x.e.o].delete(x.e.p)
      }
    }
    const part = rec.partitions.find(p => p.start <= t && p.end > t)
    const sizes = new Map<string | null, number>()
    for (let i = 0; i < N; i++) if (up[i]) { const s = part == null ? null : segmentOf(part.segments, i); sizes.set(s, (sizes.get(s) ?? 0) + 1) }
    let seen = 0
    for (let i = 0; i < N; i++) if (up[i]) for (const j of views[i]) if (up[j]) seen++
    out.push({ t: (t - rec.runStart) / 1000, seen, truth: [...sizes.values()].reduce((a, n) => a + n * (n - 1), 0) })
  }
  return out
}

/** Up to `max` latencies of a kind for the plots (evenly spaced over the run, so the plot stays small). */
function sample (rec: Recording, kind: TrafficKind, max: number): Array<{ kind: string, ms: number }> {
  const sentAt = new Map<number, number>()
  for (const s of rec.sends) if (s.kind === kind) sentAt.set(s.q, s.at)
  const all: number[] = []
  for (const r of rec.receipts) { const s = r.kind === kind ? sentAt.get(r.q) : undefined; if (s != null) all.push(r.at - s) }
  const step = Math.max(1, Math.ceil(all.length / max))
  return all.filter((_, i) => i % step === 0).map(ms => ({ kind, ms }))
}

/** Each node's counters at its last sample, summed over its incarnations (a rejoin starts from 0). */
function nodeTraffic (rec: Recording, N: number): NodeTraffic[] {
  const fields = ['presenceBytesSent', 'presenceFramesSent', 'shoutsSent', 'shoutsReceived', 'whispersSent', 'whispersReceived', 'shoutFallbacks'] as const
  const acc = Array.from({ length: N }, () => ({ base: Object.fromEntries(fields.map(f => [f, 0])) as Record<string, number>, prev: Object.fromEntries(fields.map(f => [f, 0])) as Record<string, number> }))
  for (const s of [...rec.samples].sort((a, b) => a.at - b.at)) {
    for (const n of s.nodes) {
      const a = acc[n.key]
      if (n.presenceFramesSent < a.prev.presenceFramesSent) for (const f of fields) { a.base[f] += a.prev[f]; a.prev[f] = 0 }
      for (const f of fields) a.prev[f] = n[f]
    }
  }
  return acc.map((a, peer) => {
    const v = (f: typeof fields[number]): number => a.base[f] + a.prev[f]
    return { peer, presenceBytes: v('presenceBytesSent'), presenceFrames: v('presenceFramesSent'), shoutsSent: v('shoutsSent'), shoutsReceived: v('shoutsReceived'), whispersSent: v('whispersSent'), whispersReceived: v('whispersReceived'), shoutFallbacks: v('shoutFallbacks') }
  })
}

function resources (rec: Recording, N: number): SimResult['resources'] {
  const byWorker = new Map<string, WorkerSampleLite[]>()
  for (const s of [...rec.samples].sort((a, b) => a.at - b.at)) byWorker.set(s.worker, [...(byWorker.get(s.worker) ?? []), { at: s.at, rss: s.rss, heap: s.heap, cpuMs: s.cpuMs, nodes: s.nodes.length }])
  // Peak of the summed RSS over sample rounds (2 s apart): each round, each worker's latest sample.
  let peak = 0
  let peakHeap = 0
  for (let t = rec.formationStart; t <= rec.runEnd + 2000; t += 2000) {
    let rss = 0
    let heap = 0
    for (const list of byWorker.values()) {
      const last = [...list].reverse().find(s => s.at <= t && s.at > t - 4000)
      if (last != null) { rss += last.rss; heap += last.heap }
    }
    if (rss > peak) { peak = rss; peakHeap = heap }
  }
  let cpu = 0
  for (const list of byWorker.values()) {
    const inRun = list.filter(s => s.at >= rec.runStart - 2500)
    if (inRun.length >= 2) cpu += inRun[inRun.length - 1].cpuMs - inRun[0].cpuMs
  }
  const runMs = Math.max(1, rec.runEnd - rec.runStart)
  // Each sample holds its process's worst delay over the 2 s before it. Only the shared workers'
  // (see WorkerSample.solo).
  const lags = rec.samples.filter(s => s.at > rec.runStart && s.at <= rec.runEnd + 2000 && !s.solo).map(s => s.lagMs)
  return {
    loopLagMs: lags.length === 0 ? null : distribution(lags),
    peakRssMB: peak / 2 ** 20,
    rssPerPeerMB: peak / 2 ** 20 / N,
    heapPerPeerMB: peakHeap / 2 ** 20 / N,
    cpuPercentAll: 100 * cpu / runMs,
    cpuPercentPerPeer: 100 * cpu / runMs / N,
    processes: byWorker.size
  }
}

interface WorkerSampleLite { at: number, rss: number, heap: number, cpuMs: number, nodes: number }
