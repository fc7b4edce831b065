// npm run bench:abuse: honest nodes shouting to their group while one attacker floods shouts, or
// sends garbage on every Shoal and gossipsub protocol; measured against the same mesh without the
// attacker, in the same run.
//
//   node dist/sim/bench/abuse.js [--nodes 20] [--seconds 10] [--rounds 3] [--rate 2] [--variants flood,garbage,spin]
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
  /** Each round's own p99 (ms), pooled into `latency`. */
  roundsP99: number[]
  /** When the honest nodes had quarantined the attacker, first and last (ms after the attack began; pooled: the worst round's); null when not all did. */
  quarantineMs: { first: number, all: number } | null
  /** p99 (ms) of the shouts sent in each second of the phase (in a pooled phase, the worst round's): where the tail sits in time. */
  p99BySecond: number[]
}

// --- the attacker (child process) ---

// The attacker is another host, as on a LAN: its connections come from an address of its own, so
// libp2p's per-host limits on inbound connections (which Shoal lifts for 127.0.0.1 alone, where
// simulated peers share one address) apply to it as they would to a machine on the network. A
// new address each phase: a quarantine covers the host, and would greet the next attack there.
// (@libp2p/tcp hands its dialOpts to net.connect whole; its type leaves out localAddress.)
const attackerTcp = (host: string): ReturnType<typeof tcp> => tcp({ dialOpts: { localAddress: host } as Record<string, unknown> })
let attacks = 0

async function attacker (variant: Variant, host: string, addresses: string[], protocols: string[]): Promise<void> {
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
    const node = await createNode({ name: 'attacker', listen: [`/ip4/${host}/tcp/0`], transports: [attackerTcp(host)], mdns: false, groups: ['g'], bootstrap: addresses, profile: 'local', maxInboundShouts: 1e9 })
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
    const rogue = await createLibp2p({ addresses: { listen: [`/ip4/${host}/tcp/0`] }, transports: [attackerTcp(host)], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
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
  const proc = fork(SELF, ['attacker', variant, `127.0.0.${2 + attacks++}`, JSON.stringify(addresses), JSON.stringify(protocols)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], ...on })
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

async function phase (variant: Variant, nodes: ShoalNode[], seconds: number, rate: number, pin: boolean): Promise<{ phase: Phase, latencies: number[] }> {
  const before = nodes.map(n => n.stats())
  const loop = monitorEventLoopDelay({ resolution: 10 })
  loop.enable()
  const [cpu0, t0] = [process.cpuUsage(), performance.now()]
  const honest = new Set(nodes.map(n => n.id))
  const sentAt = new Map<string, number>()
  const latencies: number[] = []
  const bySecond = Array.from({ length: seconds }, (): number[] => [])
  let start = 0
  let delivered = 0
  let limitEvents = 0
  const offs = nodes.map(n => {
    const onShout = (e: any): void => {
      if (!honest.has(e.from.id)) return
      const at = sentAt.get(`${variant}/${e.from.id}/${(e.data as any)?.i}`)
      if (at == null) return
      delivered++
      const latency = performance.now() - at
      latencies.push(latency)
      bySecond[Math.floor((at - start) / 1000)]?.push(latency)
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
  start = performance.now()
  const end = start + seconds * 1000
  // When each node quarantined the attacker (its stats, polled): how long the attack's first
  // burst lasts, which is what its cost to honest traffic depends on.
  const quarantinedAt = new Map<number, number>()
  const watch = attack == null
    ? undefined
    : setInterval(() => {
      nodes.forEach((n, k) => { if (!quarantinedAt.has(k) && n.stats().quarantined > before[k].quarantined) quarantinedAt.set(k, performance.now() - start) })
      if (quarantinedAt.size === nodes.length || performance.now() > end) clearInterval(watch)
    }, 10)
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
  const result: Phase = {
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
    quarantined: sum('quarantined'),
    roundsP99: [],
    quarantineMs: quarantinedAt.size === nodes.length ? { first: Math.min(...quarantinedAt.values()), all: Math.max(...quarantinedAt.values()) } : null,
    p99BySecond: bySecond.map(l => distribution(l).p99)
  }
  return { phase: result, latencies }
}

/**
 * One variant's rounds as one phase: counts summed, latencies pooled (a single stall of the
 * machine decides a 10 s phase's p99: the same phase measured twice was 0.2x and 4.3x of its
 * baseline), CPU and loop delay averaged, the worst loop delay kept.
 */
function pool (rounds: Array<{ phase: Phase, latencies: number[] }>): Phase {
  const ps = rounds.map(r => r.phase)
  const total = (key: 'sent' | 'expected' | 'delivered' | 'rateLimited' | 'malformedDropped' | 'unknownSenderDropped' | 'limitEvents' | 'attackerSent' | 'quarantined'): number => ps.reduce((a, p) => a + p[key], 0)
  const mean = (key: 'loopDelayP99' | 'cpuShare'): number => ps.reduce((a, p) => a + p[key], 0) / ps.length
  return {
    variant: ps[0].variant,
    sent: total('sent'),
    expected: total('expected'),
    delivered: total('delivered'),
    deliveryRatio: total('delivered') / total('expected'),
    latency: distribution(rounds.flatMap(r => r.latencies)),
    rateLimited: total('rateLimited'),
    malformedDropped: total('malformedDropped'),
    unknownSenderDropped: total('unknownSenderDropped'),
    limitEvents: total('limitEvents'),
    attackerSent: total('attackerSent'),
    loopDelayP99: mean('loopDelayP99'),
    loopDelayMax: Math.max(...ps.map(p => p.loopDelayMax)),
    cpuShare: mean('cpuShare'),
    quarantined: total('quarantined'),
    roundsP99: ps.map(p => p.latency.p99),
    quarantineMs: ps.some(p => p.quarantineMs == null) ? null : ps.reduce((worst, p) => (p.quarantineMs?.all ?? 0) > (worst.quarantineMs?.all ?? 0) ? p : worst).quarantineMs,
    p99BySecond: ps.reduce((worst, p) => p.latency.p99 > worst.latency.p99 ? p : worst).p99BySecond
  }
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '20' },
      seconds: { type: 'string', default: '10' },
      rounds: { type: 'string', default: '3' },
      rate: { type: 'string', default: '2' },
      variants: { type: 'string', default: 'flood,garbage,spin' },
      'max-inbound-shouts': { type: 'string' },
      'no-pin': { type: 'boolean', default: false },
      json: { type: 'string', default: 'out/bench-abuse.json' }
    }
  })
  const [count, seconds, rate, rounds] = [Number(values.nodes), Number(values.seconds), Number(values.rate), Number(values.rounds)]
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

  // Rounds interleave the variants, so that a slow spell of the machine falls on all of them.
  const order = ['baseline', ...variants] as Variant[]
  const measured = new Map(order.map(v => [v, [] as Array<{ phase: Phase, latencies: number[] }>]))
  for (let r = 0; r < rounds; r++) {
    for (const variant of order) {
      const m = await phase(variant, nodes, seconds, rate, pin)
      console.error(`round ${r + 1} ${variant}: ${m.phase.delivered}/${m.phase.expected} delivered, p50 ${ms(m.phase.latency.p50)} ms, p99 ${ms(m.phase.latency.p99)} ms (by second: ${m.phase.p99BySecond.map(ms).join(' ')})${m.phase.quarantineMs != null ? `; attacker quarantined by the first node after ${ms(m.phase.quarantineMs.first)} ms, by all after ${ms(m.phase.quarantineMs.all)} ms` : ''}`)
      measured.get(variant)?.push(m)
      await sleep(2000)
    }
  }
  const phases = order.map(v => pool(measured.get(v) ?? []))
  const base = phases[0]
  console.log(`\nHonest shouts with and without an attacker (${count} honest nodes in one process, attacker in another, ${pin ? 'each pinned to a core of its own' : 'sharing the cores'}, TCP loopback, ${cpus().length} CPUs, Node ${process.version}; ${rate} shouts/s per node for ${seconds} s per phase, ${rounds} rounds of the phases in turn, latencies pooled; maxInboundShouts ${shoutLimit})\n`)
  const lines = [['phase', 'sent', 'delivered', 'ratio', 'p50 (ms)', 'p99 (ms)', 'p99 vs baseline', 'p99 per round (ms)', 'loop delay p99/max (ms)', 'honest CPU', 'attacker sent', 'rate-limited', 'malformed dropped', 'quarantined', 'all quarantined it after (ms, worst round)', 'limit events']]
  for (const p of phases) {
    lines.push([p.variant, String(p.sent), `${p.delivered}/${p.expected}`, `${(p.deliveryRatio * 100).toFixed(2)}%`, ms(p.latency.p50), ms(p.latency.p99),
      `${(p.latency.p99 / base.latency.p99).toFixed(2)}x`, p.roundsP99.map(ms).join(' '), `${ms(p.loopDelayP99)} / ${ms(p.loopDelayMax)}`, `${(p.cpuShare * 100).toFixed(0)}%`, String(p.attackerSent), String(p.rateLimited), String(p.malformedDropped), String(p.quarantined), p.quarantineMs != null ? ms(p.quarantineMs.all) : '-', String(p.limitEvents)])
  }
  const widths = lines[0].map((_, i) => Math.max(...lines.map(l => l[i].length)))
  console.log(lines.map(l => l.map((c, i) => c.padEnd(widths[i])).join('  ')).join('\n'))
  // Shouts not even sent on schedule (the honest process stalled) count against the target too.
  const attacks = phases.filter(p => p.variant !== 'spin' && p.variant !== 'baseline')
  const within = (ref: Phase): boolean => attacks.every(p => p.deliveryRatio === 1 && p.sent >= 0.95 * ref.sent && p.latency.p99 <= 2 * ref.latency.p99)
  const pass = base.deliveryRatio === 1 && within(base)
  console.log(`\nTarget: honest delivery 100% and p99 within 2x of the baseline: ${pass ? 'met' : 'NOT met'}`)
  // On a machine whose cores share one host, the attacker's process slows the honest one by
  // running at all, pinned or not: 'spin' (its CPU without its traffic) measures that, and the
  // attacks against it measure what their traffic costs, which is what Shoal decides.
  const spin = phases.find(p => p.variant === 'spin')
  const passSpin = spin != null && spin.deliveryRatio === 1 && within(spin)
  if (spin != null) console.log(`Against the spin control (the attacker's CPU without its traffic): ${attacks.map(p => `${p.variant} ${(p.latency.p99 / spin.latency.p99).toFixed(2)}x`).join(', ')}: ${passSpin ? 'met' : 'NOT met'}`)

  const path = resolvePath(values.json)
  await mkdir(dirname(path), { recursive: true })
  await writeFile(path, JSON.stringify({ date: new Date().toISOString(), nodes: count, seconds, rounds, rate, pinned: pin, maxInboundShouts: shoutLimit, phases, pass, passAgainstSpin: spin != null ? passSpin : null }, null, 2))
  console.log(`(JSON: ${path})`)
  await Promise.all(nodes.map(async n => { await n.stop() }))
}

if (process.argv[2] === 'attacker') void attacker(process.argv[3] as Variant, process.argv[4], JSON.parse(process.argv[5]), JSON.parse(process.argv[6]))
else main().catch(err => { console.error(err); process.exit(1) })
