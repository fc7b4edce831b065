// npm run bench:abuse: honest nodes shouting to their group while one attacker floods shouts, or
// sends garbage on every Shoal and gossipsub protocol; measured against the same mesh without the
// attacker, in the same run.
//
//   node dist/sim/bench/abuse.js [--nodes 20] [--seconds 10] [--rate 2] [--variants flood,garbage]
//                                [--max-inbound-shouts N] [--no-pin] [--json out/bench-abuse.json]
//
// --max-inbound-shouts sets the honest nodes' per-author shout limit (default: the library's).
//
// The honest nodes share this process (one clock: latency is receive time minus send time); the
// attacker runs in a child process, as a real one would. On a LAN the attacker's CPU is its own
// machine's: so, where taskset(1) and two cores exist, the honest process is pinned to core 0 and
// the attacker to core 1 for every phase, baseline included, and what an attack costs the honest
// nodes is the work its traffic makes them do, not the core it takes from them. --no-pin lets the
// two share both cores (the 'spin' control then shows how much the attacker's CPU alone costs).
// Each honest node shouts `--rate` times a second for `--seconds` per phase; every other honest
// node must receive every shout. Target (issue 5): delivery 100%, p99 within 2x of the baseline.
import { execFileSync, fork, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, resolve as resolvePath } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { cpus } from 'node:os'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createNode, type ShoalNode } from '../../src/index.js'
import { distribution, ms, type Distribution } from '../stats.js'

const SELF = fileURLToPath(import.meta.url)
const GRACE_MS = 3000
const sleep = async (msecs: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, msecs)) }

// 'spin' is a control, not an attack: a child process that only burns a core, never connecting.
// It shows how much of an attack's effect is the attacker's CPU taken from the honest nodes
// (the machine's cores are shared) rather than the work its traffic makes them do.
type Variant = 'baseline' | 'flood' | 'garbage' | 'spin'

interface Phase {
  variant: Variant
  sent: number
  expected: number
  delivered: number
  deliveryRatio: number
  latency: Distribution
  /** Summed over the honest nodes: what the limits dropped and what decoders rejected. */
  rateLimited: number
  malformedDropped: number
  /** Shouts held for a sender not in the view (the removed flooder's, still in flight), then dropped. */
  unknownSenderDropped: number
  limitEvents: number
  /** What the attacker says it sent (shouts, or garbage streams opened). */
  attackerSent: number
  /** How late the honest process's event loop ran, p99 and max (ms): its CPU saturation. */
  loopDelayP99: number
  loopDelayMax: number
  /** CPU the honest process used, as a share of one core over the phase: the work the attack makes for it. */
  cpuShare: number
  quarantined: number
}

// --- the attacker (child process) ---

async function attacker (variant: Variant, addresses: string[], protocols: string[]): Promise<void> {
  let sent = 0
  let running = true
  process.on('message', () => { running = false })
  if (variant === 'spin') {
    process.send?.({ ready: true })
    while (running) {
      const until = performance.now() + 50
      while (performance.now() < until) { /* burns the core: nothing else */ }
      await new Promise(resolve => setImmediate(resolve))
    }
  } else if (variant === 'flood') {
    // A well-formed member that shouts as fast as its event loop lets it. shout() paces itself
    // below its own maxInboundShouts, so the attacker sets that sky-high (as anyone may): only
    // the honest nodes' limit holds it back.
    const node = await createNode({ name: 'attacker', listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, groups: ['g'], bootstrap: addresses, profile: 'local', maxInboundShouts: 1e9 })
    while (node.peersIn('g').length < addresses.length) await sleep(50)
    process.send?.({ ready: true })
    const junk = new Uint8Array(1024)
    while (running) {
      await Promise.all(Array.from({ length: 50 }, async () => { await node.shout('g', junk).catch(() => {}); sent++ }))
      await new Promise(resolve => setImmediate(resolve))
    }
    await node.stop()
  } else {
    // Speaks libp2p but not Shoal: random bytes and absurd length prefixes on every protocol.
    const rogue = await createLibp2p({ addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
    await rogue.handle('/shoal/wire/1.0.0', (s) => { void (async () => { for await (const _ of s) {} })().catch(() => {}) })
    process.send?.({ ready: true })
    while (running) {
      await Promise.all(addresses.flatMap(a => protocols.map(async protocol => {
        try {
          const s = await rogue.dialProtocol(multiaddr(a), protocol, { signal: AbortSignal.timeout(2000) })
          s.send(randomBytes(1 + Math.floor(Math.random() * 4096)))
          s.send(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x7f))
          s.send(randomBytes(256))
          sent++
        } catch {}
      })))
      await sleep(20)
    }
    await rogue.stop()
  }
  process.send?.({ sent })
  process.exit(0)
}

// --- the coordinator ---

/** Whether the honest process and the attacker can each have a core of their own. */
function canPin (): boolean {
  return cpus().length >= 2 && spawnSync('taskset', ['-V']).status === 0
}

async function startAttacker (variant: Variant, addresses: string[], protocols: string[], pin: boolean): Promise<{ proc: ChildProcess, stop: () => Promise<number> }> {
  // taskset starts node on core 1, so every thread node makes (V8's, libuv's) stays there.
  const on = pin ? { execPath: 'taskset', execArgv: ['-c', '1', process.execPath] } : {}
  const proc = fork(SELF, ['attacker', variant, JSON.stringify(addresses), JSON.stringify(protocols)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], ...on })
  await new Promise<void>((resolve, reject) => {
    proc.once('message', () => { resolve() })
    proc.once('exit', code => { reject(new Error(`attacker exited with ${String(code)}`)) })
  })
  const stop = async (): Promise<number> => await new Promise(resolve => {
    proc.once('message', (m: any) => { resolve(m.sent ?? 0) })
    proc.send('stop')
  })
  return { proc, stop }
}

async function phase (variant: Variant, nodes: ShoalNode[], seconds: number, rate: number, pin: boolean): Promise<Phase> {
  const before = nodes.map(n => n.stats())
  const loop = monitorEventLoopDelay({ resolution: 10 })
  loop.enable()
  const [cpu0, t0] = [process.cpuUsage(), performance.now()]
  const honest = new Set(nodes.map(n => n.id))
  const sentAt = new Map<string, number>()
  const latencies: number[] = []
  let delivered = 0
  let limitEvents = 0
  const offs = nodes.map(n => {
    const onShout = (e: any): void => {
      if (!honest.has(e.from.id)) return
      const at = sentAt.get(`${variant}/${e.from.id}/${(e.data as any)?.i}`)
      if (at == null) return
      delivered++
      latencies.push(performance.now() - at)
    }
    const onLimit = (): void => { limitEvents++ }
    n.on('shout', onShout)
    n.on('limit', onLimit)
    return () => { n.off('shout', onShout); n.off('limit', onLimit) }
  })
  const attack = variant === 'baseline' ? undefined : await startAttacker(variant,
    nodes.map(n => n.addresses().find(a => a.includes('127.0.0.1')) as string),
    nodes[0].libp2p.getProtocols().filter(p => p.startsWith('/shoal/') || p.includes('sub/')), pin)
  // Honest traffic starts with the attack (the attacker is a member everyone has seen): its first
  // burst, before the limits and graylisting bite, is part of what is measured.
  const end = performance.now() + seconds * 1000
  let sent = 0
  await Promise.all(nodes.map(async (node, k) => {
    // Spread the nodes' ticks over the interval, as independent senders would be.
    await sleep(k * 1000 / rate / nodes.length)
    for (let i = 0; performance.now() < end; i++) {
      const next = performance.now() + 1000 / rate
      sentAt.set(`${variant}/${node.id}/${i}`, performance.now())
      sent++
      await node.shout('g', { i, pad: 'x'.repeat(200) })
      await sleep(Math.max(0, next - performance.now()))
    }
  }))
  await sleep(GRACE_MS)
  const attackerSent = attack != null ? await attack.stop() : 0
  for (const off of offs) off()
  const after = nodes.map(n => n.stats())
  loop.disable()
  const cpu = process.cpuUsage(cpu0)
  const sum = (key: 'rateLimited' | 'malformedDropped' | 'unknownSenderDropped' | 'quarantined'): number => after.reduce((s, a, i) => s + a[key] - before[i][key], 0)
  const expected = sent * (nodes.length - 1)
  return {
    variant,
    sent,
    expected,
    delivered,
    deliveryRatio: delivered / expected,
    latency: distribution(latencies),
    rateLimited: sum('rateLimited'),
    malformedDropped: sum('malformedDropped'),
    unknownSenderDropped: sum('unknownSenderDropped'),
    limitEvents,
    attackerSent,
    loopDelayP99: loop.percentile(99) / 1e6,
    loopDelayMax: loop.max / 1e6,
    cpuShare: (cpu.user + cpu.system) / 1000 / (performance.now() - t0),
    quarantined: sum('quarantined')
  }
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '20' },
      seconds: { type: 'string', default: '10' },
      rate: { type: 'string', default: '2' },
      variants: { type: 'string', default: 'flood,garbage' },
      'max-inbound-shouts': { type: 'string' },
      'no-pin': { type: 'boolean', default: false },
      json: { type: 'string', default: 'out/bench-abuse.json' }
    }
  })
  const [count, seconds, rate] = [Number(values.nodes), Number(values.seconds), Number(values.rate)]
  const variants = values.variants.split(',') as Variant[]
  const pin = !values['no-pin'] && canPin()
  // -a: V8's and libuv's threads, started before this line, move to core 0 with the main thread.
  if (pin) execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' })
  const limit = values['max-inbound-shouts'] != null ? { maxInboundShouts: Number(values['max-inbound-shouts']) } : {}
  const first = await createNode({ name: 'h0', listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, groups: ['g'], profile: 'local', ...limit })
  const nodes = [first, ...await Promise.all(Array.from({ length: count - 1 }, async (_, i) =>
    await createNode({ name: `h${i + 1}`, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, groups: ['g'], profile: 'local', bootstrap: first.addresses(), ...limit })))]
  const shoutLimit = values['max-inbound-shouts'] ?? 'default'
  const formed = performance.now()
  while (!nodes.every(n => n.peersIn('g').length === count - 1)) await sleep(100)
  // Past gossipsub's mesh set-up and Shoal's new-connection window (direct copies on top of gossip).
  await sleep(6000)
  console.error(`${count} honest nodes formed their group in ${ms(performance.now() - formed)} ms`)

  const phases: Phase[] = []
  for (const variant of ['baseline', ...variants] as Variant[]) {
    const p = await phase(variant, nodes, seconds, rate, pin)
    console.error(`${variant}: ${p.delivered}/${p.expected} delivered, p50 ${ms(p.latency.p50)} ms, p99 ${ms(p.latency.p99)} ms`)
    phases.push(p)
    await sleep(2000)
  }
  const base = phases[0]
  console.log(`\nHonest shouts with and without an attacker (${count} honest nodes in one process, attacker in another, ${pin ? 'each pinned to a core of its own' : 'sharing the cores'}, TCP loopback, ${cpus().length} CPUs, Node ${process.version}; ${rate} shouts/s per node for ${seconds} s per phase; maxInboundShouts ${shoutLimit})\n`)
  const lines = [['phase', 'sent', 'delivered', 'ratio', 'p50 (ms)', 'p99 (ms)', 'p99 vs baseline', 'loop delay p99/max (ms)', 'honest CPU', 'attacker sent', 'rate-limited', 'malformed dropped', 'quarantined', 'limit events']]
  for (const p of phases) {
    lines.push([p.variant, String(p.sent), `${p.delivered}/${p.expected}`, `${(p.deliveryRatio * 100).toFixed(2)}%`, ms(p.latency.p50), ms(p.latency.p99),
      `${(p.latency.p99 / base.latency.p99).toFixed(2)}x`, `${ms(p.loopDelayP99)} / ${ms(p.loopDelayMax)}`, `${(p.cpuShare * 100).toFixed(0)}%`, String(p.attackerSent), String(p.rateLimited), String(p.malformedDropped), String(p.quarantined), String(p.limitEvents)])
  }
  const widths = lines[0].map((_, i) => Math.max(...lines.map(l => l[i].length)))
  console.log(lines.map(l => l.map((c, i) => c.padEnd(widths[i])).join('  ')).join('\n'))
  // Shouts not even sent on schedule (the honest process stalled) count against the target too.
  const pass = phases.filter(p => p.variant !== 'spin').every(p => p.deliveryRatio === 1 && p.sent >= 0.95 * base.sent && p.latency.p99 <= 2 * base.latency.p99)
  console.log(`\nTarget: honest delivery 100% and p99 within 2x of the baseline: ${pass ? 'met' : 'NOT met'}`)

  const path = resolvePath(values.json)
  await mkdir(dirname(path), { recursive: true })
  await writeFile(path, JSON.stringify({ date: new Date().toISOString(), nodes: count, seconds, rate, pinned: pin, maxInboundShouts: shoutLimit, phases, pass }, null, 2))
  console.log(`(JSON: ${path})`)
  await Promise.all(nodes.map(async n => { await n.stop() }))
}

if (process.argv[2] === 'attacker') void attacker(process.argv[3] as Variant, JSON.parse(process.argv[4]), JSON.parse(process.argv[5]))
else main().catch(err => { console.error(err); process.exit(1) })
