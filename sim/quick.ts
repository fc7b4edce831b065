// The quick simulated mesh that `npm start` runs: N real Shoal nodes in one process on a
// simulated LAN, measured from the events they emit.
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { performance } from 'node:perf_hooks'
import { createNode, type NodeOptions, type ShoalNode } from '../src/index.js'
import { LanBus, lanDiscovery } from './lan-bus.js'
import { distribution, ms, type Distribution } from './stats.js'

export interface QuickOptions {
  peers: number
  transport: 'memory' | 'tcp'
  shouts: number
  whispers: number
  /** Where to write the JSON report; none if undefined. */
  json?: string
  /** Progress lines go here (default: nowhere). */
  progress?: (line: string) => void
}

export interface QuickResult {
  peers: number
  transport: string
  startMs: number
  convergeMs: number
  shout: { sent: number, expected: number, delivered: number, duplicates: number, fallbacks: number, latencyMs: Distribution }
  whisper: { roundTrips: number, rttMs: Distribution }
  leave: { seenByAll: boolean, ms: number }
  memoryPerNodeMB: number
}

const GROUP = 'chat'

export async function runQuick (o: QuickOptions): Promise<QuickResult> {
  const say = o.progress ?? (() => {})
  const bus = new LanBus()
  const run = `${process.pid}-${Date.now()}`
  const options = (i: number): NodeOptions => ({
    name: `peer-${i}`,
    listen: [o.transport === 'memory' ? `/memory/quick-${run}-${i}` : '/ip4/127.0.0.1/tcp/0'],
    mdns: false,
    connectionMonitor: false,
    discovery: [lanDiscovery(bus)],
    groups: [GROUP]
  })
  globalThis.gc?.()
  const rss0 = process.memoryUsage().rss
  const t0 = performance.now()
  const nodes: ShoalNode[] = []
  try {
    nodes.push(...await Promise.all(Array.from({ length: o.peers }, async (_, i) => await createNode(options(i)))))
    const startMs = performance.now() - t0
    say(`started ${o.peers} nodes in ${ms(startMs)} ms`)
    await waitFor(() => nodes.every(n => n.peers().length === o.peers - 1), 120_000, () => {
      const seen = nodes.reduce((a, n) => a + n.peers().length, 0)
      return `convergence: ${seen}/${o.peers * (o.peers - 1)} peer views`
    }, say)
    const convergeMs = performance.now() - t0
    say(`all ${o.peers} see all others after ${ms(convergeMs)} ms`)
    const memoryPerNodeMB = (process.memoryUsage().rss - rss0) / o.peers / 1e6

    const shout = await measureShouts(nodes, o.shouts, say)
    const whisper = await measureWhispers(nodes, o.whispers)
    say(`whisper round trips: ${whisper.roundTrips}`)
    const leave = await measureLeave(nodes)
    say(`graceful leave seen by all after ${ms(leave.ms)} ms`)

    const result: QuickResult = { peers: o.peers, transport: o.transport, startMs, convergeMs, shout, whisper, leave, memoryPerNodeMB }
    if (o.json != null) {
      await mkdir(dirname(o.json), { recursive: true })
      await writeFile(o.json, JSON.stringify(result, null, 2) + '\n')
    }
    return result
  } finally {
    await Promise.all(nodes.map(async n => { await n.stop() }))
  }
}

async function measureShouts (nodes: ShoalNode[], count: number, say: (l: string) => void): Promise<QuickResult['shout']> {
  const latencies: number[] = []
  const seen = new Set<string>()
  let duplicates = 0
  for (const n of nodes) {
    n.on('shout', e => {
      const { k, ts } = e.data as { k: number, ts: number }
      const key = `${n.id}/${k}`
      if (seen.has(key)) { duplicates++; return }
      seen.add(key)
      latencies.push(performance.now() - ts)
    })
  }
  const expected = count * (nodes.length - 1)
  for (let k = 0; k < count; k++) {
    const from = nodes[Math.floor(Math.random() * nodes.length)]
    await from.shout(GROUP, { k, ts: performance.now() })
    await sleep(10) // a chat-like pace, not a flood: this measures latency, not throughput
  }
  await waitFor(() => latencies.length >= expected, 10_000, () => `shouts: ${latencies.length}/${expected}`, say).catch(() => {})
  await sleep(200) // room for a late duplicate to show up
  const fallbacks = nodes.reduce((a, n) => a + n.stats().shoutFallbacks, 0)
  return { sent: count, expected, delivered: latencies.length, duplicates, fallbacks, latencyMs: distribution(latencies) }
}

async function measureWhispers (nodes: ShoalNode[], count: number): Promise<QuickResult['whisper']> {
  const pending = new Map<number, (rtt: number) => void>()
  for (const n of nodes) {
    n.on('whisper', e => {
      const m = e.data as { ping?: number, pong?: number, ts: number }
      if (m.ping != null) void n.whisper(e.from.id, { pong: m.ping, ts: m.ts }).catch(() => {})
      else if (m.pong != null) pending.get(m.pong)?.(performance.now() - m.ts)
    })
  }
  const rtts: number[] = []
  for (let i = 0; i < count; i++) {
    const a = nodes[Math.floor(Math.random() * nodes.length)]
    const others = nodes.filter(n => n !== a)
    const b = others[Math.floor(Math.random() * others.length)]
    const rtt = new Promise<number>(resolve => { pending.set(i, resolve) })
    await a.whisper(b.id, { ping: i, ts: performance.now() })
    rtts.push(await withTimeout(rtt, 5000))
    pending.delete(i)
  }
  return { roundTrips: rtts.length, rttMs: distribution(rtts) }
}

async function measureLeave (nodes: ShoalNode[]): Promise<QuickResult['leave']> {
  const leaver = nodes[nodes.length - 1]
  const others = nodes.slice(0, -1)
  let left = 0
  const t0 = performance.now()
  const all = new Promise<number>(resolve => {
    for (const n of others) {
      n.on('exit', e => { if (e.peer.id === leaver.id && e.reason === 'left' && ++left === others.length) resolve(performance.now() - t0) })
    }
  })
  await leaver.stop()
  const took = await withTimeout(all, 10_000).catch(() => NaN)
  return { seenByAll: !Number.isNaN(took), ms: took }
}

export function formatQuick (r: QuickResult): string {
  const s = r.shout
  const rows: Array<[string, string]> = [
    ['nodes started', `${ms(r.startMs)} ms`],
    ['all see all (join convergence)', `${ms(r.convergeMs)} ms`],
    [`shout delivery (${s.sent} shouts x ${r.peers - 1})`, `${s.delivered}/${s.expected} (${(100 * s.delivered / s.expected).toFixed(2)}%), ${s.duplicates} duplicates, ${s.fallbacks} via direct fallback`],
    ['shout latency p50 / p90 / p99 / max', `${ms(s.latencyMs.p50)} / ${ms(s.latencyMs.p90)} / ${ms(s.latencyMs.p99)} / ${ms(s.latencyMs.max)} ms`],
    [`whisper round trip (${r.whisper.roundTrips})  p50 / p99`, `${ms(r.whisper.rttMs.p50)} / ${ms(r.whisper.rttMs.p99)} ms`],
    ['graceful leave seen by all', r.leave.seenByAll ? `${ms(r.leave.ms)} ms` : 'NOT seen by all'],
    ['memory per node (process RSS)', `${r.memoryPerNodeMB.toFixed(1)} MB`]
  ]
  const width = Math.max(...rows.map(([k]) => k.length))
  return [`Shoal quick mesh: ${r.peers} peers, ${r.transport} transport, one process`, ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`)].join('\n')
}

async function waitFor (cond: () => boolean, timeoutMs: number, status: () => string, say: (l: string) => void): Promise<void> {
  const deadline = performance.now() + timeoutMs
  let lastSaid = performance.now()
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out: ${status()}`)
    if (performance.now() - lastSaid > 1000) { say(status()); lastSaid = performance.now() }
    await sleep(5)
  }
}

async function withTimeout<T> (p: Promise<T>, msTimeout: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    return await Promise.race([p, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error('timed out')) }, msTimeout) })])
  } finally { clearTimeout(timer) }
}

const sleep = async (t: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, t)) }

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      peers: { type: 'string', default: '20' },
      transport: { type: 'string', default: 'memory' },
      shouts: { type: 'string', default: '50' },
      whispers: { type: 'string', default: '200' },
      json: { type: 'string', default: 'out/quick.json' }
    }
  })
  const transport = values.transport as string
  if (transport !== 'memory' && transport !== 'tcp') {
    console.error('--transport must be memory or tcp')
    process.exitCode = 2
  } else {
    const result = await runQuick({
      peers: Number(values.peers),
      transport,
      shouts: Number(values.shouts),
      whispers: Number(values.whispers),
      json: values.json,
      progress: line => { console.error(`  ... ${line}`) }
    })
    console.log(formatQuick(result))
    console.log(`(JSON: ${values.json})`)
    const ok = result.shout.delivered === result.shout.expected && result.shout.duplicates === 0 && result.leave.seenByAll
    if (!ok) process.exitCode = 1
  }
}
