// The quick simulated mesh that `npm start` runs: N real Shoal nodes in ONE process, finding each
// other on a simulated LAN (sim/lan-bus.ts), measured only from the events the nodes emit.
//
//   node dist/sim/quick.js [--peers 20] [--transport memory|tcp] [--shouts 50] [--whispers 200]
//                          [--json out/quick.json] [--settle 1000] [--shout-interval 0] [--stagger 0]
//                          [--converge-timeout ms] [--seed 1] [--quiet]
//
// Everything runs on one event loop, so the figures are bounded by CPU, not by the network
// (stack.md, pitfall 8): read them as "what one core does with N nodes", not as LAN latencies.
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, resolve as resolvePath } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { performance, monitorEventLoopDelay } from 'node:perf_hooks'
import { cpus } from 'node:os'
import { createNode, type NodeOptions, type NodeStats, type ShoalNode } from '../src/index.js'
import { LanBus, lanDiscovery, type LanBusStats } from './lan-bus.js'
import { distribution, mb, ms, rng, type Distribution } from './stats.js'
import { exposeGc } from './gc.js'

const GROUP = 'chat'

export interface QuickOptions {
  /** Nodes to start (default 20). */
  peers?: number
  /** `memory` (in-process) or `tcp` (loopback) (default memory). */
  transport?: 'memory' | 'tcp'
  /** Shouts from random senders (default 50). */
  shouts?: number
  /** Whisper ping/pong round trips between random pairs (default 200). */
  whispers?: number
  /** Where to write the JSON result; null writes nothing (default out/quick.json). */
  json?: string | null
  /** Milliseconds to wait after convergence before shouting, so gossipsub learns every subscription and shouts measure the steady state; 0 measures the just-converged state, where shouts go by direct fallback (default 1000). */
  settle?: number
  /**
   * Milliseconds between shouts; 0 sends each shout only once the previous one reached everyone
   * (or timed out), which measures latency without queueing (default 0).
   */
  shoutInterval?: number
  /** Milliseconds allowed for every node to see every other (default 30 s + 25 ms per pair of peers). */
  convergeTimeout?: number
  /** Milliseconds between starting one node and the next; 0 starts all at once, the worst case (default 0). */
  stagger?: number
  /** Milliseconds allowed for one shout to reach everyone, or one round trip (default 10 s). */
  deliveryTimeout?: number
  /** Seed for the choice of senders, pairs and the leaver (default 1). */
  seed?: number
  /** Live status: true writes a one-line status to stderr; a function receives each line. */
  status?: boolean | ((line: string) => void)
}

export interface PhaseCost { wallMs: number, cpuMs: number, cpuPercent: number, loopDelayP99Ms: number, loopDelayMaxMs: number }

export interface QuickResult {
  ok: boolean
  problems: string[]
  config: Required<Omit<QuickOptions, 'status' | 'json'>> & { json: string | null }
  env: { node: string, platform: string, cpus: number, cpuModel: string, date: string }
  start: { ms: number }
  convergence: {
    converged: boolean
    /** From the first createNode call until every node had seen `enter` for every other. */
    ms: number
    /** From the moment the last node finished starting. */
    afterStartMs: number
    /** Every node also sees every other in the group. */
    groupComplete: boolean
    enters: number
    expected: number
    duplicateEnters: number
    /** Per node: ms from the first createNode call until it had seen everyone. */
    perNodeMs: Distribution
    /** At convergence: connection ends (two per pair), per node, and pairs joined by more than one. */
    connections: { total: number, perNode: number, pairsWithMoreThanOne: number }
    /** libp2p connection:open / connection:close events (both ends) from start to convergence. */
    opened: number
    closed: number
    /** Views (node A sees node B) at the end of the convergence phase, of `expected`. */
    views: number
  }
  shout: {
    sent: number
    sendErrors: number
    expected: number
    delivered: number
    ratio: number
    duplicates: number
    selfDeliveries: number
    wrongSender: number
    /** Per receipt: receive time minus the send timestamp the shout carried. */
    latencyMs: Distribution
    /** Per shout: until its last receiver got it (only shouts that reached everyone). */
    toAllMs: Distribution
  }
  whisper: { attempted: number, completed: number, failed: number, errors: string[], rttMs: Distribution }
  leave: {
    leaver: string
    stopMs: number
    seenByAll: boolean
    /** From stop() being called until the last other node saw `exit`. */
    ms: number
    perPeerMs: Distribution
    reasons: { left: number, lost: number }
  }
  /** exit events nobody caused (before the leave phase). */
  unexpectedExits: number
  memory: {
    rssBeforeMB: number
    rssAfterMB: number
    heapBeforeMB: number
    heapAfterMB: number
    rssPerNodeMB: number
    heapPerNodeMB: number
    maxRssMB: number
    gc: boolean
  }
  stats: NodeStats
  bus: LanBusStats
  phases: Record<string, PhaseCost>
  stopAll: { ms: number }
}

/** Runs the quick scenario; resolves after every node stopped and the JSON (if any) is written. */
export async function runQuick (options: QuickOptions = {}): Promise<QuickResult> {
  const peers = options.peers ?? 20
  const cfg = {
    peers,
    transport: options.transport ?? 'memory',
    shouts: options.shouts ?? 50,
    whispers: options.whispers ?? 200,
    settle: options.settle ?? 1000,
    shoutInterval: options.shoutInterval ?? 0,
    convergeTimeout: options.convergeTimeout ?? 30_000 + 25 * peers * (peers - 1) / 2,
    stagger: options.stagger ?? 0,
    deliveryTimeout: options.deliveryTimeout ?? 10_000,
    seed: options.seed ?? 1,
    json: options.json === undefined ? 'out/quick.json' : options.json
  }
  if (!Number.isInteger(cfg.peers) || cfg.peers < 2) throw new RangeError('peers must be an integer >= 2')
  if (cfg.transport !== 'memory' && cfg.transport !== 'tcp') throw new RangeError('transport must be memory or tcp')
  for (const k of ['shouts', 'whispers', 'settle', 'shoutInterval', 'stagger', 'convergeTimeout', 'deliveryTimeout'] as const) {
    if (!Number.isFinite(cfg[k]) || cfg[k] < 0) throw new RangeError(`${k} must be a number >= 0`)
  }
  const random = rng(cfg.seed)
  const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]
  const problems: string[] = []
  const N = cfg.peers

  // ---- instrumentation -------------------------------------------------------------------------
  const gc = exposeGc()
  const status = new Status(options.status ?? false)
  const phases: Record<string, PhaseCost> = {}
  const loop = monitorEventLoopDelay({ resolution: 10 })
  loop.enable()
  let phaseName = 'start'
  let phaseT = performance.now()
  let phaseCpu = process.cpuUsage()
  const phase = (next: string): void => {
    const wallMs = performance.now() - phaseT
    const cpu = process.cpuUsage(phaseCpu)
    const cpuMs = (cpu.user + cpu.system) / 1000
    phases[phaseName] = {
      wallMs, cpuMs, cpuPercent: wallMs > 0 ? 100 * cpuMs / wallMs : 0,
      loopDelayP99Ms: loop.percentile(99) / 1e6, loopDelayMaxMs: loop.max / 1e6
    }
    loop.reset()
    phaseName = next
    phaseT = performance.now()
    phaseCpu = process.cpuUsage()
    status.phase = next
  }

  gc?.()
  const mem0 = process.memoryUsage()
  const bus = new LanBus()
  const run = `${process.pid}-${Date.now().toString(36)}`
  const nodeOptions = (i: number): NodeOptions => ({
    name: `peer-${i}`,
    listen: [cfg.transport === 'memory' ? `/memory/quick-${run}-${i}` : '/ip4/127.0.0.1/tcp/0'],
    mdns: false,
    connectionMonitor: false,
    discovery: [lanDiscovery(bus)],
    groups: [GROUP],
    // The shout phase sends back to back, from random senders, to time delivery. At the default
    // maxInboundShouts (20/s) a node's pacer held every shout past its burst of 5 for 67 ms
    // (see ShoutPacer), and those waits were 10-15% of all deliveries: the p90 and p99 measured
    // the pacer, not the mesh.
    maxInboundShouts: UNPACED
  })

  // ---- per-node event bookkeeping ------------------------------------------------------------
  const nodes: ShoalNode[] = new Array(N)
  const seen: Array<Set<string>> = Array.from({ length: N }, () => new Set())
  const completeAt: number[] = new Array(N).fill(NaN)
  let complete = 0
  let enters = 0
  let duplicateEnters = 0
  let convergedAt = NaN
  let onConverged: (() => void) | undefined
  let unexpectedExits = 0
  let leaving: { id: string, onExit: (i: number, reason: 'left' | 'lost') => void } | undefined
  let stoppingAll = false

  // shouts
  const receipts: Array<Uint8Array> = [] // receipts[q][receiver] = copies
  const shoutSentAt: number[] = []
  const shoutSender: number[] = []
  const shoutReached: number[] = []
  const shoutLastAt: number[] = []
  const shoutWaiters = new Map<number, () => void>()
  const latencies: number[] = []
  let delivered = 0
  let duplicates = 0
  let selfDeliveries = 0
  let wrongSender = 0
  // whispers
  const pongWaiters = new Map<number, (rtt: number) => void>()
  const whisperErrors: string[] = []

  let opened = 0
  let closed = 0
  const attach = (node: ShoalNode, i: number): void => {
    node.libp2p.addEventListener('connection:open', () => { opened++ })
    node.libp2p.addEventListener('connection:close', () => { closed++ })
    node.on('enter', e => {
      enters++
      if (seen[i].has(e.peer.id)) { duplicateEnters++; return }
      seen[i].add(e.peer.id)
      if (seen[i].size === N - 1 && Number.isNaN(completeAt[i])) {
        completeAt[i] = performance.now()
        if (++complete === N) {
          convergedAt = performance.now()
          onConverged?.()
        }
      }
    })
    node.on('exit', e => {
      seen[i].delete(e.peer.id)
      if (leaving != null && e.peer.id === leaving.id) leaving.onExit(i, e.reason)
      else if (!stoppingAll) unexpectedExits++
    })
    node.on('shout', e => {
      const now = performance.now()
      const d = e.data as { q?: unknown, t?: unknown }
      if (e.group !== GROUP || typeof d !== 'object' || d === null || typeof d.q !== 'number' || typeof d.t !== 'number') return
      const q = d.q
      const row = receipts[q]
      if (row == null) return
      if (shoutSender[q] === i) { selfDeliveries++; return }
      if (e.from.id !== nodes[shoutSender[q]].id) wrongSender++
      if (row[i]++ > 0) { duplicates++; return }
      delivered++
      latencies.push(now - d.t)
      shoutLastAt[q] = now
      if (++shoutReached[q] === N - 1) shoutWaiters.get(q)?.()
    })
    node.on('whisper', e => {
      const d = e.data as { ping?: number, pong?: number, t: number }
      if (typeof d !== 'object' || d === null) return
      if (typeof d.ping === 'number') {
        node.whisper(e.from.id, { pong: d.ping, t: d.t }).catch((err: Error) => { whisperErrors.push(`pong: ${err.message}`) })
      } else if (typeof d.pong === 'number') {
        pongWaiters.get(d.pong)?.(performance.now() - d.t)
      }
    })
  }

  status.line = () => {
    const conns = nodes.reduce((a, n) => a + (n?.libp2p.getConnections().length ?? 0), 0)
    const views = seen.reduce((a, s) => a + s.size, 0)
    return `[${status.phase}] ${((performance.now() - t0) / 1000).toFixed(1)}s  views ${views}/${N * (N - 1)}  ` +
      `conns ${conns}  shouts ${shoutSentAt.length}/${cfg.shouts} recv ${delivered}/${shoutSentAt.length * (N - 1)}  ` +
      `rtt ${rtts.length}/${cfg.whispers}  rss ${mb(process.memoryUsage().rss)} MB`
  }
  const rtts: number[] = []

  // ---- 1. start and converge -------------------------------------------------------------------
  const t0 = performance.now()
  status.begin()
  let result: QuickResult | undefined
  let stopAllMs = NaN
  try {
    const settled = await Promise.allSettled(Array.from({ length: N }, async (_, i) => {
      if (cfg.stagger > 0 && i > 0) await sleep(i * cfg.stagger)
      const node = await createNode(nodeOptions(i))
      nodes[i] = node
      attach(node, i)
      return node
    }))
    const failed = settled.filter(s => s.status === 'rejected')
    if (failed.length > 0) throw new Error(`${failed.length} node(s) failed to start: ${String((failed[0] as PromiseRejectedResult).reason)}`)
    const startMs = performance.now() - t0
    phase('converge')
    if (complete < N) {
      await withTimeout(new Promise<void>(resolve => { onConverged = resolve }), cfg.convergeTimeout).catch(() => {})
    }
    const converged = complete === N
    if (!converged) problems.push(`not converged within ${cfg.convergeTimeout} ms: ${seen.reduce((a, s) => a + s.size, 0)}/${N * (N - 1)} views`)
    const groupComplete = nodes.every(n => n.peersIn(GROUP).length === N - 1)
    if (converged && !groupComplete) problems.push('every node sees every other, but not all in the group')
    const connections = countConnections(nodes)
    const views = seen.reduce((a, s) => a + s.size, 0)
    const openedAtConvergence = opened
    const closedAtConvergence = closed
    phase('settle')
    if (cfg.settle > 0) await sleep(cfg.settle)
    gc?.()
    const mem1 = process.memoryUsage()

    // ---- 2. shouts ---------------------------------------------------------------------------
    phase('shout')
    let sendErrors = 0
    const shoutOne = async (q: number): Promise<void> => {
      const s = Math.floor(random() * N)
      receipts[q] = new Uint8Array(N)
      shoutReached[q] = 0
      shoutSender[q] = s
      const all = new Promise<void>(resolve => { shoutWaiters.set(q, resolve) })
      const t = performance.now()
      shoutSentAt[q] = t
      try {
        await nodes[s].shout(GROUP, { q, t, from: s })
      } catch (err: any) {
        sendErrors++
        problems.push(`shout ${q} from peer-${s} failed: ${String(err?.message ?? err)}`)
        shoutWaiters.delete(q)
        return
      }
      await withTimeout(all, cfg.deliveryTimeout).catch(() => {})
      shoutWaiters.delete(q)
    }
    if (cfg.shoutInterval === 0) {
      for (let q = 0; q < cfg.shouts; q++) await shoutOne(q)
    } else {
      const inFlight: Array<Promise<void>> = []
      for (let q = 0; q < cfg.shouts; q++) {
        inFlight.push(shoutOne(q))
        await sleep(cfg.shoutInterval)
      }
      await Promise.all(inFlight)
    }
    await sleep(250) // room for a late duplicate to show up
    const expected = cfg.shouts * (N - 1)
    if (delivered !== expected) problems.push(`shouts: ${delivered}/${expected} delivered`)
    if (duplicates > 0) problems.push(`shouts: ${duplicates} duplicate deliveries`)
    if (selfDeliveries > 0) problems.push(`shouts: ${selfDeliveries} delivered to their own sender`)
    if (wrongSender > 0) problems.push(`shouts: ${wrongSender} reported with the wrong sender`)
    const toAll = shoutReached.flatMap((r, q) => r === N - 1 ? [shoutLastAt[q] - shoutSentAt[q]] : [])

    // ---- 3. whisper round trips ------------------------------------------------------------
    phase('whisper')
    let failedRtt = 0
    for (let w = 0; w < cfg.whispers; w++) {
      const a = Math.floor(random() * N)
      let b = Math.floor(random() * (N - 1))
      if (b >= a) b++
      const pong = new Promise<number>(resolve => { pongWaiters.set(w, resolve) })
      try {
        await nodes[a].whisper(nodes[b].id, { ping: w, t: performance.now() })
        rtts.push(await withTimeout(pong, cfg.deliveryTimeout))
      } catch (err: any) {
        failedRtt++
        whisperErrors.push(`ping ${w} peer-${a} -> peer-${b}: ${String(err?.message ?? err)}`)
      } finally {
        pongWaiters.delete(w)
      }
    }
    if (failedRtt > 0) problems.push(`whispers: ${failedRtt}/${cfg.whispers} round trips failed`)

    // ---- 4. graceful leave -----------------------------------------------------------------
    phase('leave')
    const li = Math.floor(random() * N)
    const leaver = nodes[li]
    const exitAt: number[] = []
    const reasons = { left: 0, lost: 0 }
    let tLeave = 0
    const allSaw = new Promise<void>(resolve => {
      leaving = {
        id: leaver.id,
        onExit: (i, reason) => {
          if (i === li) return
          reasons[reason]++
          exitAt.push(performance.now() - tLeave)
          if (exitAt.length === N - 1) resolve()
        }
      }
    })
    tLeave = performance.now()
    await leaver.stop()
    const stopMs = performance.now() - tLeave
    await withTimeout(allSaw, cfg.deliveryTimeout).catch(() => {})
    const seenByAll = exitAt.length === N - 1
    if (!seenByAll) problems.push(`leave: only ${exitAt.length}/${N - 1} saw peer-${li} exit`)
    if (reasons.lost > 0) problems.push(`leave: ${reasons.lost} saw the graceful leave as 'lost'`)
    if (unexpectedExits > 0) problems.push(`${unexpectedExits} unexpected exit event(s)`)

    phase('stop')
    stoppingAll = true
    const stats = sumStats(nodes)
    const tStop = performance.now()
    await Promise.all(nodes.map(async n => { await n.stop() }))
    stopAllMs = performance.now() - tStop
    phase('done')
    const MB = 1024 * 1024

    result = {
      ok: problems.length === 0,
      problems,
      config: cfg,
      env: { node: process.version, platform: `${process.platform}-${process.arch}`, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '?', date: new Date().toISOString() },
      start: { ms: startMs },
      convergence: {
        converged,
        ms: convergedAt - t0,
        afterStartMs: convergedAt - t0 - startMs,
        groupComplete,
        enters,
        expected: N * (N - 1),
        duplicateEnters,
        perNodeMs: distribution(completeAt.filter(Number.isFinite).map(t => t - t0)),
        connections,
        opened: openedAtConvergence,
        closed: closedAtConvergence,
        views
      },
      shout: {
        sent: shoutSentAt.length - sendErrors,
        sendErrors,
        expected,
        delivered,
        ratio: expected === 0 ? 1 : delivered / expected,
        duplicates,
        selfDeliveries,
        wrongSender,
        latencyMs: distribution(latencies),
        toAllMs: distribution(toAll)
      },
      whisper: { attempted: cfg.whispers, completed: rtts.length, failed: failedRtt, errors: whisperErrors.slice(0, 20), rttMs: distribution(rtts) },
      leave: { leaver: `peer-${li}`, stopMs, seenByAll, ms: seenByAll ? Math.max(...exitAt) : NaN, perPeerMs: distribution(exitAt), reasons },
      unexpectedExits,
      memory: {
        rssBeforeMB: mem0.rss / MB,
        rssAfterMB: mem1.rss / MB,
        heapBeforeMB: mem0.heapUsed / MB,
        heapAfterMB: mem1.heapUsed / MB,
        rssPerNodeMB: (mem1.rss - mem0.rss) / N / MB,
        heapPerNodeMB: (mem1.heapUsed - mem0.heapUsed) / N / MB,
        maxRssMB: process.resourceUsage().maxRSS / 1024,
        gc: gc != null
      },
      stats,
      bus: { ...bus.stats },
      phases,
      stopAll: { ms: stopAllMs }
    }
  } finally {
    status.end()
    loop.disable()
    // On failure, still release every node, or the process would never exit.
    if (result == null) await Promise.allSettled(nodes.filter(n => n != null).map(async n => { await n.stop() }))
  }
  if (cfg.json != null) {
    await mkdir(dirname(resolvePath(cfg.json)), { recursive: true })
    await writeFile(cfg.json, JSON.stringify(result, null, 2) + '\n')
  }
  return result
}

/** The summary table printed at the end of a run. */
export function formatQuick (r: QuickResult): string {
  const c = r.convergence
  const s = r.shout
  const w = r.whisper
  const l = r.leave
  const d = (x: Distribution): string => `${ms(x.p50)} / ${ms(x.p90)} / ${ms(x.p99)} / ${ms(x.max)}`
  const pct = (x: number): string => `${(100 * x).toFixed(2)}%`
  const rows: Array<[string, string]> = [
    ['nodes started (all createNode resolved)', `${ms(r.start.ms)} ms`],
    ['join convergence (all see all)', c.converged ? `${ms(c.ms)} ms  (${ms(c.afterStartMs)} ms after the last start)` : `NOT converged (${c.views}/${c.expected} views)`],
    ['  per node p50 / p90 / p99 / max', `${d(c.perNodeMs)} ms`],
    ['  connection ends (per node; pairs with >1)', `${c.connections.total} (${c.connections.perNode.toFixed(1)}; ${c.connections.pairsWithMoreThanOne} of ${r.config.peers * (r.config.peers - 1) / 2})`],
    ['  connections opened / closed until then', `${c.opened} / ${c.closed}`],
    [`shout delivery (${s.sent} shouts x ${r.config.peers - 1} receivers)`, `${s.delivered}/${s.expected} = ${pct(s.ratio)}, ${s.duplicates} duplicates`],
    ['shout latency per receiver p50 / p90 / p99 / max', `${d(s.latencyMs)} ms`],
    ['shout latency to all p50 / p90 / p99 / max', `${d(s.toAllMs)} ms`],
    ['shout copies via direct fallback', `${r.stats.shoutFallbacks} (of ${s.sent * (r.config.peers - 1)} deliveries owed)`],
    [`whisper round trip (${w.completed}/${w.attempted}) p50 / p90 / p99 / max`, `${d(w.rttMs)} ms`],
    ['graceful leave: stop() took', `${ms(l.stopMs)} ms`],
    ['graceful leave seen by all', l.seenByAll ? `${ms(l.ms)} ms  (left ${l.reasons.left}, lost ${l.reasons.lost})` : `NOT seen by all (left ${l.reasons.left}, lost ${l.reasons.lost})`],
    ['memory per node: RSS / heap', `${r.memory.rssPerNodeMB.toFixed(2)} / ${r.memory.heapPerNodeMB.toFixed(2)} MB  (max RSS ${r.memory.maxRssMB.toFixed(0)} MB${r.memory.gc ? '' : ', no gc'})`],
    ['stop all nodes', `${ms(r.stopAll.ms)} ms`],
    ['CPU busy: converge / shout / whisper', ['converge', 'shout', 'whisper'].map(p => r.phases[p] == null ? '-' : `${r.phases[p].cpuPercent.toFixed(0)}%`).join(' / ') +
      `  (event-loop delay p99 ${['converge', 'shout', 'whisper'].map(p => r.phases[p] == null ? '-' : ms(r.phases[p].loopDelayP99Ms)).join(' / ')} ms)`],
    ['unexpected exits; malformed dropped', `${r.unexpectedExits}; ${r.stats.malformedDropped}`]
  ]
  const width = Math.max(...rows.map(([k]) => k.length))
  const head = `Shoal quick mesh: ${r.config.peers} peers, ${r.config.transport} transport, one process (${r.env.node}, ${r.env.cpus} CPUs)`
  const lines = [head, '-'.repeat(head.length), ...rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`)]
  lines.push(r.ok ? 'result: OK' : `result: PROBLEMS\n  - ${r.problems.join('\n  - ')}`)
  return lines.join('\n')
}

function countConnections (nodes: ShoalNode[]): QuickResult['convergence']['connections'] {
  let total = 0
  let multi = 0
  for (const n of nodes) {
    const byPeer = new Map<string, number>()
    for (const c of n.libp2p.getConnections()) {
      total++
      const k = c.remotePeer.toString()
      byPeer.set(k, (byPeer.get(k) ?? 0) + 1)
    }
    for (const [peer, count] of byPeer) if (count > 1 && n.id < peer) multi++
  }
  return { total, perNode: total / nodes.length, pairsWithMoreThanOne: multi }
}

function sumStats (nodes: ShoalNode[]): NodeStats {
  const sum = { ...nodes[0].stats() }
  for (const k of Object.keys(sum) as Array<keyof NodeStats>) sum[k] = 0
  for (const n of nodes) {
    const s = n.stats()
    for (const k of Object.keys(sum) as Array<keyof NodeStats>) sum[k] += s[k]
  }
  return sum
}

/** Shouts a second a node accepts from one author in this run: more than the shout phase sends. */
const UNPACED = 1e6

/** The live one-line status: redrawn in place on a terminal, a plain line every 2 s otherwise. */
class Status {
  phase = 'start'
  line: () => string = () => ''
  readonly #sink: ((line: string) => void) | undefined
  readonly #tty: boolean
  #timer: ReturnType<typeof setInterval> | undefined
  #width = 0

  constructor (option: boolean | ((line: string) => void)) {
    this.#tty = option === true && process.stderr.isTTY
    this.#sink = typeof option === 'function' ? option : option ? (l) => { process.stderr.write(l + '\n') } : undefined
  }

  begin (): void {
    if (this.#sink == null && !this.#tty) return
    this.#timer = setInterval(() => { this.#draw() }, this.#tty ? 250 : 2000)
    this.#timer.unref()
  }

  #draw (): void {
    const l = this.line()
    if (this.#tty) {
      process.stderr.write('\r' + l.padEnd(this.#width))
      this.#width = l.length
    } else {
      this.#sink?.(l)
    }
  }

  end (): void {
    if (this.#timer == null) return
    clearInterval(this.#timer)
    this.#timer = undefined
    if (this.#tty) { this.#draw(); process.stderr.write('\n') }
  }
}

async function withTimeout<T> (p: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    return await Promise.race([p, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`timed out after ${timeoutMs} ms`)) }, timeoutMs) })])
  } finally {
    clearTimeout(timer)
  }
}

const sleep = async (t: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, t)) }

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      peers: { type: 'string', default: '20' },
      transport: { type: 'string', default: 'memory' },
      shouts: { type: 'string', default: '50' },
      whispers: { type: 'string', default: '200' },
      json: { type: 'string', default: 'out/quick.json' },
      settle: { type: 'string', default: '1000' },
      'shout-interval': { type: 'string', default: '0' },
      stagger: { type: 'string', default: '0' },
      'converge-timeout': { type: 'string' },
      seed: { type: 'string', default: '1' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false }
    }
  })
  if (values.help) {
    console.log('usage: node dist/sim/quick.js [--peers 20] [--transport memory|tcp] [--shouts 50] [--whispers 200]\n' +
      '                         [--json out/quick.json] [--settle 1000] [--shout-interval 0] [--stagger 0]\n' +
      '                         [--converge-timeout ms] [--seed 1] [--quiet]')
    return
  }
  const transport = values.transport
  if (transport !== 'memory' && transport !== 'tcp') {
    console.error('--transport must be memory or tcp')
    process.exitCode = 2
    return
  }
  const num = (name: string, v: string): number => {
    const n = Number(v)
    if (v.trim() === '' || !Number.isFinite(n)) throw new RangeError(`--${name} must be a number, not "${v}"`)
    return n
  }
  const result = await runQuick({
    peers: num('peers', values.peers),
    transport,
    shouts: num('shouts', values.shouts),
    whispers: num('whispers', values.whispers),
    settle: num('settle', values.settle),
    shoutInterval: num('shout-interval', values['shout-interval']),
    stagger: num('stagger', values.stagger),
    convergeTimeout: values['converge-timeout'] == null ? undefined : num('converge-timeout', values['converge-timeout']),
    seed: num('seed', values.seed),
    json: values.json,
    status: !values.quiet
  })
  console.log(formatQuick(result))
  console.log(`(JSON: ${values.json})`)
  if (!result.ok) process.exitCode = 1
  // Every node is stopped: nothing should keep the process alive now. If something does, say what.
  setTimeout(() => {
    const handles = (process as any)._getActiveHandles?.() as unknown[] ?? []
    console.error(`quick: still running 5 s after every node stopped; active handles: ${handles.map(h => (h as any)?.constructor?.name).join(', ')}`)
  }, 5000).unref()
}

if (process.argv[1] != null && resolvePath(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(err)
    process.exitCode = 1
  })
}
