// The simulator's coordinator: starts a scenario's peers as real Shoal nodes in worker processes
// (sim/worker.ts; TCP loopback, or one process on the memory transport), plays the LAN they discover each other on, drives traffic and
// the fault timeline, and records what the nodes emitted (sim/recording.ts). It measures nothing
// itself; sim/measure.ts does, from the recording.
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { Plan, Action } from './scenario.js'
import type { Recording, Send, WorkerSample } from './recording.js'
import type { WorkerCommand, WorkerMessage, Observed } from './worker.js'
import type { Sighting } from './feed-discovery.js'
import { rng } from './stats.js'

const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url))
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
/**
 * How long a worker may take to answer a start, stop or crash before the peer counts as failed:
 * only a bound against a worker that never answers (an overloaded one can take a minute to start
 * a node; a run with a deadline is aborted with its signal instead).
 */
const REPLY_TIMEOUT_MS = 120_000

export class ScenarioAbortedError extends Error {
  override name = 'ScenarioAbortedError'
}

// Every worker process alive in this process, so that an exit or a termination signal takes them
// along: a worker left SIGSTOPped by a freeze would otherwise outlive us (and keep a test runner
// waiting for it forever).
const alive = new Set<ChildProcess>()
const killAll = (): void => { for (const p of alive) { try { p.kill('SIGKILL') } catch {} } }
const onSignal = (sig: NodeJS.Signals): void => {
  killAll()
  process.removeListener('SIGINT', onSignal)
  process.removeListener('SIGTERM', onSignal)
  process.kill(process.pid, sig)
}
function track (proc: ChildProcess): void {
  if (alive.size === 0) {
    process.on('exit', killAll)
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  }
  alive.add(proc)
  proc.once('exit', () => {
    alive.delete(proc)
    if (alive.size > 0) return
    process.removeListener('exit', killAll)
    process.removeListener('SIGINT', onSignal)
    process.removeListener('SIGTERM', onSignal)
  })
}

/** A worker process and the replies it owes. */
class Worker {
  readonly proc: ChildProcess
  readonly #waiting = new Map<string, Array<(m: WorkerMessage) => void>>()
  dead = false

  /** `solo`: a process of its own for one peer a fault may stop (see plan.solo). */
  constructor (readonly name: string, onMessage: (w: Worker, m: WorkerMessage) => void, readonly solo = false) {
    this.proc = fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    track(this.proc)
    // A failed kill or send: what matters is seen as 'exit' or as a reply that never comes (bounded).
    this.proc.on('error', () => {})
    this.proc.on('exit', () => { this.dead = true; for (const list of this.#waiting.values()) for (const r of list) r({ type: 'stopped', key: -1, at: Date.now() }) })
    this.proc.on('message', (m: WorkerMessage) => {
      onMessage(this, m)
      const k = m.type === 'started' || m.type === 'start-failed' || m.type === 'stopped' ? `node:${m.key}` : m.type
      this.#waiting.get(k)?.shift()?.(m)
    })
  }

  // A worker can die (crash fault, abort) between the check and the write: the callback takes the
  // error, which would otherwise be an 'error' event nobody listens to, i.e. an uncaught exception.
  send (c: WorkerCommand): void { if (!this.dead && this.proc.connected) this.proc.send(c, () => {}) }

  /** Sends a command and waits for its reply; no reply within `timeoutMs` answers 'start-failed'. */
  async request (c: WorkerCommand, reply: string, timeoutMs = REPLY_TIMEOUT_MS): Promise<WorkerMessage> {
    if (this.dead) return { type: 'stopped', key: -1, at: Date.now() }
    let timer: ReturnType<typeof setTimeout> | undefined
    const p = new Promise<WorkerMessage>(resolve => {
      const list = this.#waiting.get(reply) ?? []
      // The resolver stays queued after a timeout, so a late reply is swallowed by it, not given to the next request.
      list.push(resolve)
      this.#waiting.set(reply, list)
      timer = setTimeout(() => { resolve({ type: 'start-failed', key: -1, error: `${this.name}: no reply to ${c.cmd} within ${timeoutMs} ms` }) }, timeoutMs)
    })
    this.send(c)
    try {
      return await p
    } finally {
      clearTimeout(timer)
    }
  }

  signal (sig: NodeJS.Signals): void { if (!this.dead) this.proc.kill(sig) }
}

interface Peer {
  id: string
  key: string
  worker: Worker
  /** Started and not crashed/left. */
  up: boolean
  frozen: boolean
  addrs: string[]
  segment: string | null
}

export interface RunOptions {
  /** Receives the live one-line status every `statusEvery` ms. */
  status?: (line: string) => void
  statusEveryMs?: number
  /** Progress messages (formation waves, faults). */
  log?: (line: string) => void
  /** Milliseconds allowed for the mesh to form, per wave (default: the scenario's). */
  waveTimeoutMs?: number
  /** Ends the run at once: every process is killed and the run rejects with ScenarioAbortedError. */
  signal?: AbortSignal
}

/** Runs a planned scenario to the end and returns what happened. Always stops every process it started. */
export async function runScenario (plan: Plan, opts: RunOptions = {}): Promise<Recording> {
  const log = opts.log ?? (() => {})
  const signal = opts.signal
  const check = (): void => { if (signal?.aborted === true) throw new ScenarioAbortedError(`scenario aborted: ${String(signal.reason?.message ?? signal.reason)}`) }
  /** Sleeps, but wakes up (and throws) as soon as the run is aborted. */
  const pause = async (ms: number): Promise<void> => {
    check()
    await new Promise<void>(resolve => {
      const t = setTimeout(done, ms)
      function done (): void { clearTimeout(t); signal?.removeEventListener('abort', done); resolve() }
      signal?.addEventListener('abort', done)
    })
    check()
  }
  const random = rng(plan.seed + 1)
  const N = plan.peers
  const rec: Recording = {
    ids: [], formationStart: 0, formationEnd: 0, converged: false, runStart: 0, runEnd: 0,
    events: [], faults: [], partitions: [], timeline: [], sends: [], receipts: [], samples: [], liveness: [], groups: plan.groups
  }
  const index = new Map<string, number>()
  const views: Array<Set<number>> = Array.from({ length: N }, () => new Set())
  const sends = new Map<string, Send>()
  let rxCount = 0
  // Suspicions and exits seen by any node, for the live status line: the first sign of a mesh in trouble.
  let alarms = 0

  const onObserved = (o: Observed): void => {
    if (o.type === 'ev') {
      const p = index.get(o.peer)
      if (p == null) return
      rec.events.push({ o: o.key, event: o.event, p, reason: o.reason, at: o.at })
      if (o.event === 'enter') views[o.key].add(p)
      if (o.event === 'exit') views[o.key].delete(p)
      if (o.event === 'suspect' || (o.event === 'exit' && o.reason !== 'left')) alarms++
    } else if (o.type === 'rx') {
      rec.receipts.push({ kind: o.kind, q: o.q, o: o.key, at: o.at })
      rxCount++
    } else {
      const s = sends.get(`${o.kind}:${o.q}`)
      if (s != null) { s.at = o.at; if (o.error != null) { s.error = o.error; s.reason = o.reason } }
    }
  }
  const onMessage = (w: Worker, m: WorkerMessage): void => {
    if (m.type === 'batch') for (const o of m.items) onObserved(o)
    else if (m.type === 'sample') rec.samples.push({ at: m.at, worker: w.name, solo: w.solo, rss: m.rss, heap: m.heap, cpuMs: m.cpuMs, lagMs: m.lagMs, nodes: m.nodes })
  }

  // Keys first: nothing that can throw runs between forking the workers and the try that stops them.
  const keys = await Promise.all(Array.from({ length: N }, async () => await generateKeyPair('Ed25519')))
  const shared = Array.from({ length: plan.workers }, (_, i) => new Worker(`w${i}`, onMessage))
  const memoryMode = plan.transport === 'memory'
  const solos = new Set(plan.solo)
  const workers = new Set<Worker>(shared)
  // Aborted: no goodbyes, whatever the run was waiting for (a worker's reply ends with its process).
  const killWorkers = (): void => { for (const w of workers) { w.signal('SIGCONT'); w.signal('SIGKILL') } }
  signal?.addEventListener('abort', killWorkers)
  const soloWorker = (i: number): Worker => { const w = new Worker(`peer-${i}`, onMessage, true); workers.add(w); return w }
  const peers: Peer[] = []
  let shared_i = 0
  for (let i = 0; i < N; i++) {
    const key = keys[i]
    const id = peerIdFromPrivateKey(key).toString()
    index.set(id, i)
    rec.ids.push(id)
    peers.push({ id, key: Buffer.from(privateKeyToProtobuf(key)).toString('base64'), worker: solos.has(i) ? soloWorker(i) : shared[shared_i++ % shared.length], up: false, frozen: false, addrs: [], segment: null })
  }
  // Latency rules in force, by fault index; every worker gets the whole set on each change.
  const latencyRules = new Map<number, { ms: number, jitter: number, a: number[], b: number[] }>()
  const sendLinks = (to: Iterable<Worker>): void => {
    const rules = [...latencyRules.values()].map(r => ({ ms: r.ms, jitter: r.jitter, a: r.a.map(i => peers[i].id), b: r.b.map(i => peers[i].id) }))
    for (const w of to) w.send({ cmd: 'links', base: plan.latency, rules })
  }
  const thaw = (p: Peer): void => {
    if (memoryMode) p.worker.send({ cmd: 'stall', key: peers.indexOf(p), on: false })
    else p.worker.signal('SIGCONT')
    p.frozen = false
  }
  const groupsOf = (i: number): string[] => Object.entries(plan.groups).filter(([, m]) => m.includes(i)).map(([g]) => g)
  const sameLan = (a: Peer, b: Peer): boolean => a.segment === b.segment
  const sighting = (p: Peer): Sighting => ({ id: p.id, addrs: p.addrs })

  /** mDNS on a segment: the newcomer is heard by every node there, and each answers it. */
  const announce = (fresh: number[]): void => {
    const hears = new Map<number, Set<number>>()
    const tell = (to: number, about: number): void => {
      let set = hears.get(to)
      if (set == null) { set = new Set(); hears.set(to, set) }
      set.add(about)
    }
    for (const f of fresh) {
      for (let o = 0; o < peers.length; o++) {
        if (o === f || !peers[o].up || !sameLan(peers[o], peers[f])) continue
        tell(o, f)
        tell(f, o)
      }
    }
    // One message per worker for the nodes that hear the same peers, counting each node among
    // what it hears (it skips itself): a re-announcement is then one list per worker and segment,
    // not one per node. Sent per node, at 300 peers, these lists backed up the pipe to each worker
    // and held the run's commands (shouts, samples) behind them past the end of the run.
    const batches = new Map<string, { worker: Worker, to: number[], about: number[] }>()
    for (const [to, about] of hears) {
      const all = [...about, to].sort((a, b) => a - b)
      const key = `${peers[to].worker.name}:${all.join(',')}`
      const batch = batches.get(key)
      if (batch != null) batch.to.push(to)
      else batches.set(key, { worker: peers[to].worker, to: [to], about: all })
    }
    for (const b of batches.values()) b.worker.send({ cmd: 'hear', to: b.to, peers: b.about.map(i => sighting(peers[i])) })
  }

  const startPeer = async (i: number): Promise<boolean> => {
    const p = peers[i]
    const m = await p.worker.request({ cmd: 'start', key: i, name: `peer-${i}`, privateKey: p.key, groups: groupsOf(i), profile: plan.profile, degree: plan.degree, transport: plan.transport }, `node:${i}`)
    if (m.type !== 'started') { log(`peer-${i} failed to start: ${m.type === 'start-failed' ? m.error : 'its process died'}`); return false }
    p.addrs = m.addrs
    p.up = true
    rec.liveness.push({ peer: i, up: true, at: m.at })
    return true
  }

  /** Every up node sees every other up node on its segment. */
  const complete = (): boolean => peers.every((p, i) => !p.up || p.frozen || peers.every((q, j) => j === i || !q.up || !sameLan(p, q) || views[i].has(j)))
  const viewCount = (): number => views.reduce((a, v, i) => a + (peers[i].up ? v.size : 0), 0)
  const expectedViews = (): number => peers.reduce((a, p, i) => a + (p.up ? peers.filter((q, j) => j !== i && q.up && sameLan(p, q)).length : 0), 0)

  const timers: Array<ReturnType<typeof setTimeout>> = []
  let phase = 'form'
  const t00 = Date.now()
  let shoutsSent = 0
  const statusTimer = opts.status == null
    ? undefined
    : setInterval(() => {
      const t = phase === 'run' ? `${((Date.now() - rec.runStart) / 1000).toFixed(0)}/${(plan.durationMs / 1000).toFixed(0)}s` : `${((Date.now() - t00) / 1000).toFixed(0)}s`
      const last = new Map<string, WorkerSample>()
      for (const s of rec.samples) last.set(s.worker, s)
      const rss = [...last.values()].reduce((a, s) => a + s.rss, 0)
      const lag = Math.max(0, ...[...last.values()].filter(s => !s.solo).map(s => s.lagMs))
      opts.status?.(`[${phase}] ${t}  up ${peers.filter(p => p.up).length}/${N}  views ${viewCount()}/${expectedViews()}  alarms ${alarms}  shouts ${shoutsSent} rx ${rxCount}  faults ${rec.timeline.length}  rss ${(rss / 2 ** 20).toFixed(0)} MB  lag ${lag.toFixed(0)} ms`)
    }, opts.statusEveryMs ?? 1000)
  const sampler = setInterval(() => { for (const w of workers) w.send({ cmd: 'sample' }) }, 2000)
  // mDNS queries again every interval and every node answers: a node that missed a peer (a dial
  // that failed, a connection pruned) hears of it again.
  const reannouncer = plan.reannounceMs > 0 ? setInterval(() => { announce(peers.map((_, i) => i).filter(i => peers[i].up && !peers[i].frozen)) }, plan.reannounceMs) : undefined

  try {
    // ---- formation, in waves ----------------------------------------------------------------
    sendLinks(workers)
    rec.formationStart = Date.now()
    rec.converged = true
    for (let i = 0; i < N; i += plan.wave) {
      const wave = Array.from({ length: Math.min(plan.wave, N - i) }, (_, j) => i + j)
      const ok = await Promise.all(wave.map(startPeer))
      announce(wave.filter((_, j) => ok[j]))
      const deadline = Date.now() + (opts.waveTimeoutMs ?? plan.waveTimeoutMs)
      while (!complete() && Date.now() < deadline) await pause(50)
      // Not converged: say so, and start the rest anyway (the run measures a mesh that has all its peers).
      if (!complete()) { rec.converged = false; log(`wave at ${i}: mesh did not converge: ${viewCount()}/${expectedViews()} views`) }
    }
    rec.formationEnd = Date.now()
    log(`formed: ${N} peers in ${rec.formationEnd - rec.formationStart} ms${rec.converged ? '' : ' (NOT converged)'}`)
    phase = 'settle'
    await pause(2000)

    // ---- the run ----------------------------------------------------------------------------
    phase = 'run'
    rec.runStart = Date.now()
    for (const w of workers) w.send({ cmd: 'sample' })
    const pending: Array<Promise<void>> = []
    const usable = (i: number): boolean => peers[i].up && !peers[i].frozen
    let q = 0
    for (const s of plan.shouts) {
      if (s.rate <= 0) continue
      timers.push(setInterval(() => {
        const members = plan.groups[s.group].filter(usable)
        if (members.length === 0) return
        const from = members[Math.floor(random() * members.length)]
        const send: Send = { kind: 'shout', q: q++, from, group: s.group, at: Date.now() }
        sends.set(`shout:${send.q}`, send)
        rec.sends.push(send)
        shoutsSent++
        peers[from].worker.send({ cmd: 'shout', key: from, group: s.group, q: send.q, bytes: s.bytes })
      }, 1000 / s.rate))
    }
    // Whispers and requests: at `rate` per second, from a random usable peer to another on its segment.
    const pairTraffic = (kind: 'whisper' | 'request', t: { rate: number, bytes: number } | null): void => {
      if (t == null || t.rate <= 0) return
      let n = 0
      timers.push(setInterval(() => {
        const live = peers.map((_, i) => i).filter(usable)
        if (live.length < 2) return
        const from = live[Math.floor(random() * live.length)]
        const others = live.filter(i => i !== from && sameLan(peers[i], peers[from]))
        if (others.length === 0) return
        const to = others[Math.floor(random() * others.length)]
        const send: Send = { kind, q: n++, from, to, at: Date.now() }
        sends.set(`${kind}:${send.q}`, send)
        rec.sends.push(send)
        peers[from].worker.send(kind === 'whisper'
          ? { cmd: 'whisper', key: from, to: peers[to].id, q: send.q, bytes: t.bytes }
          : { cmd: 'request', key: from, to: peers[to].id, toKey: to, q: send.q, bytes: t.bytes })
      }, 1000 / t.rate))
    }
    pairTraffic('whisper', plan.whispers)
    pairTraffic('request', plan.requests)
    const open = new Map<string, number>() // open fault windows by peer+kind
    const openWindow = (peer: number, kind: Recording['faults'][number]['kind'], at: number): void => {
      rec.faults.push({ peer, kind, start: at, end: Infinity })
      open.set(`${peer}`, rec.faults.length - 1)
    }
    const closeWindow = (peer: number, at: number): void => {
      const k = open.get(`${peer}`)
      if (k != null) { rec.faults[k].end = at; open.delete(`${peer}`) }
    }
    const act = async (a: Action): Promise<void> => {
      const at = Date.now()
      const peer = 'peer' in a ? a.peer : undefined
      rec.timeline.push({ at, type: a.type, peer, detail: detailOf(a) })
      log(`${((at - rec.runStart) / 1000).toFixed(1)}s ${a.type}${peer != null ? ` peer-${peer}` : ''}${a.type === 'latency' ? ` ${detailOf(a) ?? ''}` : ''}`)
      switch (a.type) {
        case 'crash': {
          const p = peers[a.peer]
          openWindow(a.peer, 'crash', at)
          p.up = false
          rec.liveness.push({ peer: a.peer, up: false, at })
          // Not awaited: the crash itself is instant (links cut); the stop behind it may take seconds
          // in a busy process and must not delay the next action (a freeze would start late and
          // end on time). A restart of the same peer waits for it in the worker.
          if (memoryMode) void p.worker.request({ cmd: 'crash', key: a.peer }, `node:${a.peer}`)
          else p.worker.signal('SIGKILL')
          break
        }
        case 'freeze':
          openWindow(a.peer, 'freeze', at)
          peers[a.peer].frozen = true
          if (memoryMode) peers[a.peer].worker.send({ cmd: 'stall', key: a.peer, on: true })
          else peers[a.peer].worker.signal('SIGSTOP')
          break
        case 'thaw':
          thaw(peers[a.peer])
          closeWindow(a.peer, at)
          break
        case 'leave': {
          const p = peers[a.peer]
          if (!p.up) return
          openWindow(a.peer, a.churn === true ? 'churn' : 'leave', at)
          p.up = false
          rec.liveness.push({ peer: a.peer, up: false, at })
          await p.worker.request({ cmd: 'stop', key: a.peer }, `node:${a.peer}`)
          break
        }
        case 'rejoin': {
          const p = peers[a.peer]
          if (p.up) return
          if (p.worker.dead) { p.worker = soloWorker(a.peer); sendLinks([p.worker]) }
          if (await startPeer(a.peer)) announce([a.peer])
          closeWindow(a.peer, Date.now())
          break
        }
        case 'partition': {
          const map: Record<string, string> = {}
          for (const [name, members] of Object.entries(a.segments)) for (const i of members) { peers[i].segment = name; map[peers[i].id] = name }
          rec.partitions.push({ start: at, end: Infinity, segments: a.segments })
          for (const x of workers) x.send({ cmd: 'segments', segments: map })
          break
        }
        case 'heal': {
          for (const p of peers) p.segment = null
          const last = rec.partitions[rec.partitions.length - 1]
          if (last != null && last.end === Infinity) last.end = at
          for (const x of workers) x.send({ cmd: 'segments', segments: null })
          // mDNS's next query round: everyone hears everyone again.
          announce(peers.map((_, i) => i).filter(i => peers[i].up))
          break
        }
        case 'slow':
          if (a.delayMs > 0) openWindow(a.peer, 'slow', at)
          else closeWindow(a.peer, at)
          peers[a.peer].worker.send({ cmd: 'slow', delayMs: a.delayMs })
          break
        case 'latency':
          if (a.ms == null) latencyRules.delete(a.id)
          else latencyRules.set(a.id, { ms: a.ms, jitter: a.jitter, a: a.a, b: a.b })
          sendLinks(workers)
          break
      }
    }
    // Actions run in order, each waiting for the previous (a rejoin after its leave).
    let chain = Promise.resolve()
    for (const a of plan.actions) {
      timers.push(setTimeout(() => { chain = chain.then(async () => { await act(a) }, () => {}); pending.push(chain) }, a.at))
    }
    await pause(plan.durationMs)
    for (const t of timers) clearInterval(t)
    // An action still running now (a stop() that waits on overloaded peers) is reported, not waited for.
    if (await Promise.race([Promise.allSettled(pending).then(() => true), sleep(15_000).then(() => false)]) === false) log('an action did not finish within 15 s of the run\'s end')
    // Thaw anything still frozen, so it can stop; then let the last messages land.
    for (const p of peers) if (p.frozen) thaw(p)
    phase = 'drain'
    await pause(3000)
    for (const w of workers) w.send({ cmd: 'sample' })
    await pause(300)
    rec.runEnd = Date.now()
  } finally {
    phase = 'stop'
    for (const t of timers) clearInterval(t)
    clearInterval(sampler)
    clearInterval(reannouncer)
    if (statusTimer != null) clearInterval(statusTimer)
    for (const p of peers) if (p.frozen) thaw(p)
    signal?.removeEventListener('abort', killWorkers)
    const hard = signal?.aborted === true
    await Promise.all([...workers].map(async w => {
      if (w.dead) return
      const exited = new Promise<void>(resolve => { w.proc.once('exit', () => { resolve() }) })
      w.send({ cmd: 'exit' })
      // An aborted run fails fast: no goodbyes.
      const t = setTimeout(() => { w.signal('SIGKILL') }, hard ? 0 : 10_000)
      await exited
      clearTimeout(t)
    }))
  }
  return rec
}

function detailOf (a: Action): string | undefined {
  switch (a.type) {
    case 'partition': return Object.entries(a.segments).map(([k, v]) => `${k}:${v.length}`).join(' ')
    case 'slow': return `${a.delayMs} ms/msg`
    case 'latency': return a.ms == null ? `rule ${a.id} off` : `rule ${a.id}: ${a.ms} ± ${a.jitter} ms, ${a.a.length} x ${a.b.length} peers`
    default: return undefined
  }
}
