// npm run bench:presence: how fast and how truthfully presence works, at several mesh sizes.
//
//   node dist/sim/bench/presence.js [--sizes 10,50,100] [--hosts 4] [--profile lan]
//                                   [--load 0] [--load-rate 2] [--load-bytes 512] [--json out/bench-presence.json]
//
// Real nodes on TCP loopback, spread over --hosts processes (0: one each); the two peers that
// crash (kill -9) and freeze (SIGSTOP) always run alone in processes of their own. Every figure comes from the events
// the nodes emitted, timestamped where they happened. With --load S, a further phase has every
// node shout for S seconds (saturating the CPUs) and counts false suspicions and exits.
import { fork, type ChildProcess } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, resolve as resolvePath } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { cpus } from 'node:os'
import type { NodeOptions, PresenceProfile } from '../../src/index.js'
import type { HostCommand, HostMessage } from './host.js'
import { distribution, mb, ms, type Distribution } from '../stats.js'

const HOST = fileURLToPath(new URL('./host.js', import.meta.url))
// Base nodes started at once; each wave settles before the next.
const WAVE = 5

interface Event { node: string, event: string, peer: string, reason?: string, at: number }

/**
 * Every event the nodes reported, indexed by the peer it is about. The coordinator polls while
 * a hundred nodes report; scanning every event on every poll made it the busiest process on the
 * machine during a suspicion storm, starving the very nodes it measured.
 */
class EventLog {
  readonly all: Event[] = []
  private readonly byPeer = new Map<string, Event[]>()
  private readonly counts = new Map<string, number>()

  push (e: Event): void {
    this.all.push(e)
    let list = this.byPeer.get(e.peer)
    if (list == null) { list = []; this.byPeer.set(e.peer, list) }
    list.push(e)
    this.counts.set(e.event, (this.counts.get(e.event) ?? 0) + 1)
  }

  about (peer: string): Event[] { return this.byPeer.get(peer) ?? [] }

  count (kind: string): number { return this.counts.get(kind) ?? 0 }
}

/** A process hosting nodes, and what it has told us. */
class Host {
  readonly proc: ChildProcess
  readonly started = new Map<string, Extract<HostMessage, { type: 'started' }>>()
  private readonly waiting = new Map<string, Array<(m: any) => void>>()

  constructor (readonly events: EventLog) {
    this.proc = fork(HOST, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.proc.on('message', (m: HostMessage) => {
      if (m.type === 'event') events.push({ node: m.key, event: m.event, peer: m.peer, reason: m.reason, at: m.at })
      if (m.type === 'started') this.started.set(m.key, m)
      const key = m.type === 'started' || m.type === 'stopping' ? `${m.type}:${m.key}` : m.type
      const w = this.waiting.get(key)?.shift()
      w?.(m)
    })
  }

  command (c: HostCommand): void { this.proc.send(c) }

  async request<T extends HostMessage> (c: HostCommand, reply: string): Promise<T> {
    const answer = new Promise<T>(resolve => {
      const list = this.waiting.get(reply) ?? []
      list.push(resolve)
      this.waiting.set(reply, list)
    })
    this.command(c)
    return await answer
  }

  async start (key: string, options: NodeOptions): Promise<Extract<HostMessage, { type: 'started' }>> {
    return await this.request({ cmd: 'start', key, options }, `started:${key}`)
  }

  async stats (): Promise<Extract<HostMessage, { type: 'stats' }>> { return await this.request({ cmd: 'stats' }, 'stats') }

  kill (): void { if (this.proc.exitCode === null) this.proc.kill('SIGKILL') }
}

export interface SizeResult {
  peers: number
  hosts: number
  baseMeshMs: number
  join: { allSeeMs: number, perNode: Distribution }[]
  crash: { firstWarningAllMs: number, goneAllMs: number, reasons: Record<string, number> }
  freeze: { firstWarningAllMs: number, goneAllMs: number, reasons: Record<string, number> }
  leave: { goneAllMs: number, reasons: Record<string, number> }
  /** After the base mesh formed. */
  falseSuspects: number
  falseExits: number
  /** While the base mesh formed, the machine saturated by handshakes: a different regime, reported apart. */
  formation: { suspects: number, exits: number }
  presenceBytesPerSecPerNode: { mean: number, max: number }
  presenceFramesPerSecPerNode: number
  /** Lifeguard local health (0 = healthy) of the nodes once formed, mean and max: timings stretch by 1 + health. */
  localHealth: { mean: number, max: number }
  rssPerNodeMB: number
  load?: { seconds: number, shoutsSent: number, cpuBusyPercent: number, falseSuspects: number, falseExits: number }
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

async function until (cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await sleep(100)
  }
}

function machineBusy (): () => number {
  const snap = (): { idle: number, total: number } => cpus().reduce((a, c) => {
    const t = Object.values(c.times).reduce((x, y) => x + y, 0)
    return { idle: a.idle + c.times.idle, total: a.total + t }
  }, { idle: 0, total: 0 })
  const before = snap()
  return () => {
    const after = snap()
    return 100 * (1 - (after.idle - before.idle) / Math.max(1, after.total - before.total))
  }
}

export async function runSize (n: number, opts: { hosts: number, profile: PresenceProfile, load: number, loadRate: number, loadBytes: number, log: (s: string) => void }): Promise<SizeResult> {
  const events = new EventLog()
  // --hosts 0 gives every node a process of its own, as real apps run; on two cores a hundred
  // processes cost more than the nodes themselves. Nodes sharing a process also share its pauses
  // (a GC, a burst of handshakes), which a remote prober cannot tell from a failure.
  const hosts = Array.from({ length: opts.hosts > 0 ? Math.min(opts.hosts, n - 2) : n - 2 }, () => new Host(events))
  const victims: Host[] = []
  const all = (): Host[] => [...hosts, ...victims]
  const node = (extra: NodeOptions = {}): NodeOptions => ({ listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, profile: opts.profile, ...extra })
  try {
    const t0 = Date.now()
    const seed = await hosts[0].start('b0', node({ name: 'b0' }))
    const base = n - 2
    const keys = ['b0']
    let lastProgress = Date.now()
    // Every node sees `peers` others, and holds a connection to each: a newcomer is in every view
    // long before its hundred handshakes are done, and those load the machine meanwhile.
    const everyone = async (peers: number): Promise<boolean> => {
      const stats = await Promise.all(hosts.map(async h => await h.stats()))
      const counts = stats.flatMap(s => s.nodes.map(x => Math.min(x.peers, x.connected))).sort((x, y) => x - y)
      if (Date.now() - lastProgress > 10_000) {
        lastProgress = Date.now()
        const count = (kind: string): number => events.count(kind)
        opts.log(`N=${n}: ${Math.round((Date.now() - t0) / 1000)} s, peers seen and connected min/median ${counts[0]}/${counts[counts.length >> 1]} of ${peers}; enters ${count('enter')}, suspects ${count('suspect')}, exits ${count('exit')}`)
      }
      return counts.every(c => c >= peers)
    }
    // Started in waves, each settling before the next, so that the base mesh forms without
    // saturating the machine; its formation is not what is measured.
    for (let i = 1; i < base; i += WAVE) {
      await Promise.all(Array.from({ length: Math.min(WAVE, base - i) }, async (_, j) => {
        const key = `b${i + j}`
        keys.push(key)
        await hosts[(i + j) % hosts.length].start(key, node({ name: key, bootstrap: seed.addresses }))
      }))
      await until(async () => await everyone(keys.length - 1), 600_000, 'base mesh did not converge')
    }
    const baseMeshMs = Date.now() - t0
    opts.log(`N=${n}: base mesh of ${base} converged in ${ms(baseMeshMs)} ms`)
    const baseIds = new Map(hosts.flatMap(h => [...h.started.values()].map(s => [s.key, s.id] as const)))

    // Join: a newcomer (in its own process, as a new app would be) until every base node saw it.
    const join = async (key: string): Promise<{ host: Host, id: string, result: SizeResult['join'][number] }> => {
      const host = new Host(events)
      victims.push(host)
      const started = await host.start(key, node({ name: key, bootstrap: seed.addresses }))
      const seen = (): Event[] => events.about(started.id).filter(e => e.event === 'enter' && baseIds.has(e.node))
      await until(() => seen().length >= base, 60_000, `${key} was not seen by all`)
      const at = seen().map(e => e.at - started.startedAt)
      return { host, id: started.id, result: { allSeeMs: Math.max(...at), perNode: distribution(at) } }
    }
    const a = await join('crashy')
    await until(async () => await everyone(base), 60_000, 'mesh did not connect to the newcomer')
    const b = await join('frozen')
    opts.log(`N=${n}: join seen by all in ${ms(a.result.allSeeMs)} / ${ms(b.result.allSeeMs)} ms`)
    await until(async () => await everyone(n - 1), 60_000, 'full mesh did not converge')
    await sleep(3000)

    // Presence traffic in a quiet period.
    const traffic = async (): Promise<Map<string, { bytes: number, frames: number, health: number }>> => {
      const out = new Map<string, { bytes: number, frames: number, health: number }>()
      for (const h of hosts) for (const s of (await h.stats()).nodes) out.set(s.key, { bytes: s.presenceBytesSent, frames: s.presenceFramesSent, health: s.localHealth })
      return out
    }
    const before = await traffic()
    const windowStart = Date.now()
    await sleep(10_000)
    const after = await traffic()
    const secs = (Date.now() - windowStart) / 1000
    const rates = [...after].map(([k, v]) => ({ bytes: (v.bytes - (before.get(k)?.bytes ?? 0)) / secs, frames: (v.frames - (before.get(k)?.frames ?? 0)) / secs }))
    const rss = (await Promise.all(hosts.map(async h => (await h.stats()).rss))).reduce((x, y) => x + y, 0) / base

    // A fault, then: when did every observer first hear of it (suspect or exit), and when was it gone everywhere?
    const observe = async (victimId: string, observers: string[], act: () => number, timeoutMs: number): Promise<SizeResult['crash']> => {
      const start = act()
      const watching = new Set(observers)
      const about = (): Event[] => events.about(victimId).filter(e => e.at >= start && watching.has(e.node))
      await until(() => new Set(about().filter(e => e.event === 'exit').map(e => e.node)).size >= observers.length, timeoutMs, 'fault not seen by all')
      const firstWarn = observers.map(o => Math.min(...about().filter(e => e.node === o && (e.event === 'suspect' || e.event === 'exit')).map(e => e.at)))
      const exits = about().filter(e => e.event === 'exit')
      const reasons: Record<string, number> = {}
      for (const e of exits) reasons[e.reason ?? '?'] = (reasons[e.reason ?? '?'] ?? 0) + 1
      return { firstWarningAllMs: Math.max(...firstWarn) - start, goneAllMs: Math.max(...exits.map(e => e.at)) - start, reasons }
    }
    const baseKeys = [...baseIds.keys()]
    const crash = await observe(a.id, [...baseKeys, 'frozen'], () => { a.host.proc.kill('SIGKILL'); return Date.now() }, 60_000)
    opts.log(`N=${n}: crash gone at all in ${ms(crash.goneAllMs)} ms`)
    const freeze = await observe(b.id, baseKeys, () => { b.host.proc.kill('SIGSTOP'); return Date.now() }, 120_000)
    b.host.kill()
    opts.log(`N=${n}: freeze gone at all in ${ms(freeze.goneAllMs)} ms`)
    await sleep(1000)

    const leaverKey = baseKeys[baseKeys.length - 1]
    const leaverHost = hosts.find(h => h.started.has(leaverKey)) as Host
    const leaverId = baseIds.get(leaverKey) as string
    const stopping = await leaverHost.request<Extract<HostMessage, { type: 'stopping' }>>({ cmd: 'stop', key: leaverKey }, `stopping:${leaverKey}`)
    const stayers = baseKeys.filter(k => k !== leaverKey)
    const leaveEvents = (): Event[] => events.about(leaverId).filter(e => e.event === 'exit' && stayers.includes(e.node))
    await until(() => leaveEvents().length >= stayers.length, 30_000, 'leave not seen by all')
    const leaveReasons: Record<string, number> = {}
    for (const e of leaveEvents()) leaveReasons[e.reason ?? '?'] = (leaveReasons[e.reason ?? '?'] ?? 0) + 1
    const leave = { goneAllMs: Math.max(...leaveEvents().map(e => e.at)) - stopping.at, reasons: leaveReasons }
    opts.log(`N=${n}: leave seen by all in ${ms(leave.goneAllMs)} ms`)

    const faulty = new Set([a.id, b.id, leaverId])
    const falseOf = (kind: string, from = t0 + baseMeshMs): number => events.all.filter(e => e.event === kind && !faulty.has(e.peer) && e.at >= from).length
    const duringFormation = (kind: string): number => events.all.filter(e => e.event === kind && e.at < t0 + baseMeshMs).length
    const result: SizeResult = {
      peers: n,
      hosts: hosts.length,
      baseMeshMs,
      join: [a.result, b.result],
      crash,
      freeze,
      leave,
      falseSuspects: falseOf('suspect'),
      falseExits: falseOf('exit'),
      formation: { suspects: duringFormation('suspect'), exits: duringFormation('exit') },
      presenceBytesPerSecPerNode: { mean: rates.reduce((x, r) => x + r.bytes, 0) / rates.length, max: Math.max(...rates.map(r => r.bytes)) },
      presenceFramesPerSecPerNode: rates.reduce((x, r) => x + r.frames, 0) / rates.length,
      localHealth: { mean: [...after.values()].reduce((x, v) => x + v.health, 0) / after.size, max: Math.max(...[...after.values()].map(v => v.health)) },
      rssPerNodeMB: rss / (1024 * 1024)
    }

    if (opts.load > 0) {
      opts.log(`N=${n}: load phase, ${opts.load} s of shouts (${opts.loadRate}/s per node, ${opts.loadBytes} B)`)
      const loadStart = Date.now()
      const busy = machineBusy()
      const done = await Promise.all(hosts.map(async h => await h.request<Extract<HostMessage, { type: 'load-done' }>>(
        { cmd: 'load', group: 'load', perSecond: opts.loadRate, bytes: opts.loadBytes, durationMs: opts.load * 1000 }, 'load-done')))
      result.load = {
        seconds: opts.load,
        shoutsSent: done.reduce((x, d) => x + d.sent, 0),
        cpuBusyPercent: busy(),
        falseSuspects: falseOf('suspect', loadStart),
        falseExits: falseOf('exit', loadStart)
      }
    }
    if (process.env.SHOAL_BENCH_EVENTS != null) await writeFile(`${process.env.SHOAL_BENCH_EVENTS}-${n}.json`, JSON.stringify({ t0, baseMeshAt: t0 + baseMeshMs, faulty: [...faulty], ids: Object.fromEntries(all().flatMap(h => [...h.started.values()].map(x => [x.id, x.key]))), events: events.all }))
    return result
  } finally {
    for (const h of all()) { h.proc.kill('SIGCONT'); h.kill() }
  }
}

function table (results: SizeResult[]): string {
  const rows: Array<[string, (r: SizeResult) => string]> = [
    ['join: all see a new peer (ms)', r => r.join.map(j => ms(j.allSeeMs)).join(' / ')],
    ['crash: first warning at all (ms)', r => ms(r.crash.firstWarningAllMs)],
    ['crash: gone at all (ms)', r => ms(r.crash.goneAllMs)],
    ['freeze: first warning at all (ms)', r => ms(r.freeze.firstWarningAllMs)],
    ['freeze: gone at all (ms)', r => ms(r.freeze.goneAllMs)],
    ['graceful leave seen by all (ms)', r => ms(r.leave.goneAllMs)],
    ['false suspects / false exits', r => `${r.falseSuspects} / ${r.falseExits}`],
    ['  ... while the base mesh formed', r => `${r.formation.suspects} / ${r.formation.exits}`],
    ['presence bytes/s per node (mean, max)', r => `${r.presenceBytesPerSecPerNode.mean.toFixed(0)}, ${r.presenceBytesPerSecPerNode.max.toFixed(0)}`],
    ['presence frames/s per node', r => r.presenceFramesPerSecPerNode.toFixed(1)],
    ['local health once formed (mean, max)', r => `${r.localHealth.mean.toFixed(2)}, ${r.localHealth.max}`],
    ['RSS per node process (MB)', r => r.rssPerNodeMB.toFixed(1)],
    ['base mesh formed in (ms, not a target)', r => ms(r.baseMeshMs)],
    ['under load: false suspects / exits', r => r.load == null ? '-' : `${r.load.falseSuspects} / ${r.load.falseExits} (${r.load.seconds} s, CPU ${r.load.cpuBusyPercent.toFixed(0)}%, ${r.load.shoutsSent} shouts)`]
  ]
  const head = ['', ...results.map(r => `N=${r.peers}`)]
  const lines = [head, ...rows.map(([label, f]) => [label, ...results.map(f)])]
  const widths = head.map((_, i) => Math.max(...lines.map(l => l[i].length)))
  return lines.map(l => l.map((c, i) => i === 0 ? c.padEnd(widths[0]) : c.padStart(widths[i])).join('  ')).join('\n')
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '10,50,100' },
      hosts: { type: 'string', default: '4' },
      profile: { type: 'string', default: 'lan' },
      load: { type: 'string', default: '0' },
      'load-rate': { type: 'string', default: '2' },
      'load-bytes': { type: 'string', default: '512' },
      json: { type: 'string', default: 'out/bench-presence.json' }
    }
  })
  const sizes = values.sizes.split(',').map(Number)
  if (sizes.some(s => !Number.isInteger(s) || s < 4)) throw new Error('--sizes: integers of at least 4')
  const results: SizeResult[] = []
  for (const n of sizes) {
    results.push(await runSize(n, {
      hosts: Number(values.hosts),
      profile: values.profile as PresenceProfile,
      load: Number(values.load),
      loadRate: Number(values['load-rate']),
      loadBytes: Number(values['load-bytes']),
      log: s => { process.stderr.write(s + '\n') }
    }))
  }
  console.log(`\nShoal presence benchmark (profile ${values.profile}, TCP loopback, ${cpus().length} CPUs, Node ${process.version})\n`)
  console.log(table(results))
  const path = resolvePath(values.json)
  await mkdir(dirname(path), { recursive: true })
  await writeFile(path, JSON.stringify({ date: new Date().toISOString(), profile: values.profile, results }, null, 2))
  console.log(`\n(JSON: ${path})`)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch(err => { console.error(err); process.exit(1) })
}
