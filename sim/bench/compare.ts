// npm run bench: Shoal against the bare stack underneath, in one run, on the same messages.
//   shout   vs bare libp2p + @libp2p/gossipsub nodes (same memory transport, Noise, Yamux), full mesh
//   whisper vs a raw node:net socket with 4-byte length-prefixed frames (the target), vs the same
//           socket under TLS with Noise's cipher (what encryption alone costs, done by OpenSSL in
//           C++), and vs a bare libp2p stream over the same TCP + Noise + Yamux with
//           length-prefixed frames (to tell what Shoal adds from what the stack costs)
// Prints ratios (Shoal / bare) and writes JSON (default out/bench.json).
//
//   node dist/sim/bench/compare.js [--repeats 5] [--peers 10] [--shouts 300] [--burst 1000]
//                                  [--whispers 6000] [--whisper-bytes 16384] [--json out/bench.json]
//
// Everything timed runs in one process, one side after the other, so all see the same machine;
// the figures are "what one event loop does", not LAN figures (stack.md, pitfall 8). Heap per
// node is measured in a process of its own per side (measureHeap). Every side warms up before it
// is timed, the sides take turns going first, and each figure is the median of `repeats` rounds
// (every round is in the JSON).
import '../../src/polyfill.js'
import { createServer, connect, type Socket } from 'node:net'
import { createServer as createTlsServer, connect as connectTls, type ConnectionOptions } from 'node:tls'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { mkdir, writeFile } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks'
import { dirname } from 'node:path'
import { parseArgs, promisify } from 'node:util'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createLibp2p, type Libp2p } from 'libp2p'
import { memory } from '@libp2p/memory'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { identify } from '@libp2p/identify'
import { gossipsub } from '@libp2p/gossipsub'
import * as lp from 'it-length-prefixed'
import type { Stream } from '@libp2p/interface'
import { createNode, type ShoalNode } from '../../src/index.js'
import { noiseCrypto } from '../../src/noise-crypto.js'
import { LanBus, lanDiscovery } from '../lan-bus.js'
import { distribution, ms, type Distribution } from '../stats.js'
import { exposeGc } from '../gc.js'

const TOPIC = 'bench'
/**
 * Both sides wait this long after forming: gossipsub has learnt every subscription, and Shoal no
 * longer also sends each shout directly to members whose connection is younger than 5 s (its
 * guard against copies lost on a connection about to be pruned; see Groups' `settled`). Measured
 * before that, every shout of the first seconds went out twice. The steady state is what counts.
 */
const SETTLE_MS = 6000
/**
 * Latency passes per side: the last is timed, the ones before are its warm-up. One shout every
 * 10 ms runs each function of the shout path once per shout, so V8 reaches its optimising
 * thresholds over hundreds of shouts, not the 50 a first version warmed up with: in a first pass
 * of 300 it still compiled 70-90 functions (on both sides), each compile a job of up to 4 ms on a
 * helper thread that, on 2 cores, the kernel often ran on the main thread's core, delaying
 * whichever shout was in flight by as much (its main thread's run-queue wait showed it). The
 * second pass compiled 10-22, the third 8-16. The first pass's latency is kept as `cold`.
 */
const LATENCY_PASSES = 3
const sleep = async (t: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, t)) }
/** `p`, or an error naming `what` after `ms`: a side that stalls fails the run instead of hanging it. */
async function within<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    return await Promise.race([p, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`bench: ${what} not done within ${ms / 1000} s`)) }, ms) })])
  } finally {
    clearTimeout(timer)
  }
}
/** Polls `cond` every 20 ms, failing after `ms`. */
async function until (cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`bench: ${what} not done within ${ms / 1000} s`)
    await sleep(20)
  }
}
/** The heap after two forced collections. Only in measureHeap's child: see there why. */
const heapMB = async (): Promise<number> => {
  await sleep(500)
  const gc = exposeGc()
  gc?.(); gc?.()
  return process.memoryUsage().heapUsed / 2 ** 20
}

/** A message: sequence number and send time in its first 12 bytes, padded to `bytes`. */
function message (seq: number, bytes: number): Uint8Array {
  const b = new Uint8Array(bytes)
  const v = new DataView(b.buffer)
  v.setUint32(0, seq)
  v.setFloat64(4, performance.now())
  return b
}
const readSeq = (b: Uint8Array): { seq: number, t: number } => {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength)
  return { seq: v.getUint32(0), t: v.getFloat64(4) }
}

interface GroupSide {
  /** Copies sent besides the pub/sub path (Shoal's direct fallback; 0 for bare gossipsub). */
  directCopies: () => number
  publish: (i: number, data: Uint8Array) => Promise<void>
  onMessage: (fn: (receiver: number, data: Uint8Array) => void) => void
  stop: () => Promise<void>
}

/**
 * `cpuUsPerDelivery`: CPU time of the whole process (senders and receivers) per message received
 * during the burst. Unlike wall-clock figures it hardly moves when other work shares the machine.
 * `tail` says what the timed latency pass's tail is made of (see TailFigures). `latencyMs` is that
 * pass's; `coldLatencyMs` the first pass's (see LATENCY_PASSES).
 */
export interface ShoutFigures { directCopies: number, latencyMs: Distribution, coldLatencyMs: Distribution, delivered: number, expected: number, ratio: number, burstMsgsPerSec: number, cpuUsPerDelivery: number, heapPerNodeMB: number, tail: TailFigures }
/** What a round times of a side; its heap is measured once, in a process of its own (measureHeap). */
type TimedShout = Omit<ShoutFigures, 'heapPerNodeMB'>

/**
 * What the timed latency pass's tail is made of, measured the same way on both sides; none of it
 * changes what is timed. A shout is one chain of microtasks from publish to its last delivery
 * (the memory transport hands data on without a turn of the event loop), so nothing but a
 * garbage collection, the machine or the chain's own work can delay a delivery.
 * - `cpuMsPerShout`: CPU time of the process per shout in that phase (deliveries and duplicates).
 *   A side that uses less than the 10 ms between shouts leaves the process idle in between.
 * - `scavengesPer1000`: young-generation collections per 1000 shouts (allocation rate).
 * - `shoutsWithGc`: shouts with any collection between their publish and their last delivery.
 * - `mainWaitMs`: time the process's main thread was ready to run but not running (Linux
 *   schedstat run-queue delay; NaN elsewhere): what other threads and processes took from it.
 */
export interface TailFigures { cpuMsPerShout: number, scavengesPer1000: number, shoutsWithGc: number, mainWaitMs: number }

/** Milliseconds the main thread has waited to run since it started (Linux), or NaN. */
function mainThreadWaitMs (): number {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[1]) / 1e6
  } catch {
    return NaN
  }
}

/** Collections (start, end, kind) from now until the returned function is called. */
function watchGc (): () => Array<{ start: number, end: number, minor: boolean }> {
  const seen: Array<{ start: number, end: number, minor: boolean }> = []
  const obs = new PerformanceObserver(list => {
    for (const e of list.getEntries()) seen.push({ start: e.startTime, end: e.startTime + e.duration, minor: (e as unknown as { detail?: { kind?: number } }).detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MINOR })
  })
  obs.observe({ entryTypes: ['gc'] })
  return () => { obs.disconnect(); return seen }
}

async function shoalGroup (n: number): Promise<GroupSide> {
  const bus = new LanBus()
  const run = Date.now().toString(36)
  const nodes: ShoalNode[] = await Promise.all(Array.from({ length: n }, async (_, i) => await createNode({
    // A throughput burst from one node: shout() would pace it to the default maxInboundShouts.
    name: `s${i}`, listen: [`/memory/bench-shoal-${run}-${i}`], mdns: false, discovery: [lanDiscovery(bus)], groups: [TOPIC], maxInboundShouts: 1e6
  })))
  await until(() => nodes.every(x => x.peersIn(TOPIC).length === n - 1), 60_000, 'Shoal group forming')
  await sleep(SETTLE_MS)
  const fns: Array<(r: number, d: Uint8Array) => void> = []
  nodes.forEach((x, i) => { x.on('shout', e => { for (const f of fns) f(i, e.data as Uint8Array) }) })
  return {
    directCopies: () => nodes.reduce((a, x) => a + x.stats().shoutFallbacks, 0),
    publish: async (i, data) => { await nodes[i].shout(TOPIC, data) },
    onMessage: (fn) => { fns.push(fn) },
    stop: async () => { await Promise.all(nodes.map(async x => { await x.stop() })) }
  }
}

async function bareGroup (n: number): Promise<GroupSide> {
  const run = Date.now().toString(36)
  const nodes: Array<Libp2p<{ pubsub: ReturnType<ReturnType<typeof gossipsub>>, identify: unknown }>> = await Promise.all(Array.from({ length: n }, async (_, i) => await createLibp2p({
    addresses: { listen: [`/memory/bench-bare-${run}-${i}`] },
    transports: [memory()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionMonitor: { enabled: false },
    services: {
      identify: identify(),
      // The defaults, but for what many nodes on one address need (stack.md, pitfall 2).
      pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, scoreParams: { IPColocationFactorWeight: 0 } })
    }
  }) as any))
  for (const x of nodes) x.services.pubsub.subscribe(TOPIC)
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) await nodes[i].dial(nodes[j].getMultiaddrs()[0])
  await until(() => nodes.every(x => x.services.pubsub.getSubscribers(TOPIC).length === n - 1), 60_000, 'gossipsub subscriptions')
  await sleep(SETTLE_MS)
  const fns: Array<(r: number, d: Uint8Array) => void> = []
  nodes.forEach((x, i) => { x.services.pubsub.addEventListener('message', (e: any) => { for (const f of fns) f(i, e.detail.data) }) })
  return {
    directCopies: () => 0,
    publish: async (i, data) => { await nodes[i].services.pubsub.publish(TOPIC, data) },
    onMessage: (fn) => { fns.push(fn) },
    stop: async () => { await Promise.all(nodes.map(async x => { await x.stop() })) }
  }
}

/**
 * Heap per node of a formed, settled side, in a process of its own (`--heap-of`): measuring it
 * takes forced collections, and in the bench's process those skewed what came after. A forced
 * collection resets V8's limits to the small heap it leaves, and every latency pass timed after
 * one ran into 5-6 full collections where it otherwise had none (the side holding more live data
 * the more), each a pause of 2-7 ms with marking threads taking the main thread's core. And the
 * code a side before had compiled was flushed some seconds later, so a baseline taken after it
 * came out high: bare gossipsub's heap once measured -1.8 MB per node.
 */
async function measureHeap (side: 'bare' | 'shoal', peers: number): Promise<number> {
  const { stdout } = await promisify(execFile)(process.execPath, [fileURLToPath(import.meta.url), '--heap-of', side, '--peers', String(peers)])
  return Number(stdout.trim())
}

/** The child of measureHeap: prints the heap per node of `side`. */
async function printHeap (side: string, peers: number): Promise<void> {
  const make = side === 'bare' ? bareGroup : shoalGroup
  const heap0 = await heapMB()
  const nodes = await make(peers)
  console.log((await heapMB() - heap0) / peers)
  await nodes.stop()
}

/** `keep` is handed the timed pass's latencies, pooled over rounds by the caller. */
async function measureGroup (make: (n: number) => Promise<GroupSide>, o: { peers: number, shouts: number, burst: number, bytes: number }, keep: (latencies: number[]) => void): Promise<TimedShout> {
  const side = await make(o.peers)
  let burstGot = 0
  let burstDone: (() => void) | undefined
  const burstBase = 1_000_000
  // Sequence numbers of latency pass p start at p * PASS; a delivery says which pass it is of.
  const PASS = 100_000
  // Per pass: every delivery's latency, and per shout when it was sent and when its last delivery came.
  const passes = Array.from({ length: LATENCY_PASSES }, () => ({ lat: [] as number[], span: new Map<number, { sent: number, last: number }>() }))
  side.onMessage((_r, data) => {
    const { seq, t } = readSeq(data)
    if (seq >= burstBase) { if (++burstGot === o.burst * (o.peers - 1)) burstDone?.(); return }
    const { lat, span } = passes[Math.floor(seq / PASS)]
    const now = performance.now()
    lat.push(now - t)
    const s = span.get(seq)
    if (s == null) span.set(seq, { sent: t, last: now })
    else s.last = now
  })
  // Latency: one message every 10 ms from a rotating sender, each leaving the others time to take it.
  const latencyPass = async (p: number): Promise<TailFigures> => {
    const gcs = watchGc()
    const wait0 = mainThreadWaitMs()
    const cpu0 = process.cpuUsage()
    for (let q = 0; q < o.shouts; q++) {
      await side.publish(q % o.peers, message(p * PASS + q, o.bytes))
      await sleep(10)
    }
    await sleep(1000)
    const cpu = process.cpuUsage(cpu0)
    const mainWaitMs = mainThreadWaitMs() - wait0
    // The observer reports in a later turn.
    await sleep(0)
    const collections = gcs()
    return {
      cpuMsPerShout: (cpu.user + cpu.system) / 1000 / o.shouts,
      scavengesPer1000: collections.filter(c => c.minor).length / o.shouts * 1000,
      shoutsWithGc: [...passes[p].span.values()].filter(s => collections.some(c => c.start < s.last && c.end > s.sent)).length,
      mainWaitMs
    }
  }
  // The passes before the timed one are its warm-up (see LATENCY_PASSES); the first is kept as `cold`.
  let tail = await latencyPass(0)
  for (let p = 1; p < LATENCY_PASSES; p++) tail = await latencyPass(p)
  // Throughput: one sender publishes a burst back to back; until every receiver has all of it.
  const done = new Promise<void>(resolve => { burstDone = resolve })
  const t0 = performance.now()
  const cpu0 = process.cpuUsage()
  for (let q = 0; q < o.burst; q++) await side.publish(0, message(burstBase + q, o.bytes))
  // The bound's timer is cleared: left running, it held the finished bench's process for a minute.
  let bound: ReturnType<typeof setTimeout> | undefined
  await Promise.race([done, new Promise<void>(resolve => { bound = setTimeout(resolve, 60_000) })])
  clearTimeout(bound)
  const burstMs = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  const directCopies = side.directCopies()
  await side.stop()
  // Every pass counts towards delivery: a warm-up that lost shouts is a lost shout all the same.
  const delivered = passes.reduce((a, x) => a + x.lat.length, 0)
  const expected = LATENCY_PASSES * o.shouts * (o.peers - 1)
  keep(passes[LATENCY_PASSES - 1].lat)
  return { directCopies, latencyMs: distribution(passes[LATENCY_PASSES - 1].lat), coldLatencyMs: distribution(passes[0].lat), delivered, expected, ratio: delivered / expected, burstMsgsPerSec: burstGot / (o.peers - 1) / (burstMs / 1000), cpuUsPerDelivery: (cpu.user + cpu.system) / Math.max(1, burstGot), tail }
}

/**
 * `cpuMsPerMB`: CPU time of the whole process (both ends) per MiB carried; steadier than MB/s on a
 * shared machine. `cold`: the same for the side's first flood, before its code is optimised.
 */
export interface StreamFigures { throughputMBps: number, cpuMsPerMB: number, rttMs: Distribution, cold: { throughputMBps: number, cpuMsPerMB: number } }

/** One point-to-point channel: `send` resolves when the sender may send again (its back-pressure rule). */
interface StreamSide {
  send: (payload: Uint8Array) => Promise<void>
  /** On the receiver: the length of every frame but the 1-byte pings, which it echoes back. */
  onFrame: (fn: (len: number) => void) => void
  /** On the sender: an echoed ping came back. */
  onPong: (fn: () => void) => void
  stop: () => Promise<void>
}

async function measureStream (side: StreamSide, o: { count: number, bytes: number, rtts: number }): Promise<StreamFigures> {
  let bytes = 0
  let target = Infinity
  let all: (() => void) | undefined
  let pong: (() => void) | undefined
  side.onFrame(len => { bytes += len; if (bytes >= target) all?.() })
  side.onPong(() => { pong?.() })
  const ping = async (): Promise<number> => {
    const back = new Promise<void>(resolve => { pong = resolve })
    const t = performance.now()
    await side.send(new Uint8Array(1))
    await within(back, 10_000, 'a round trip')
    return performance.now() - t
  }
  const payload = new Uint8Array(o.bytes)
  const flood = async (count: number): Promise<{ ms: number, cpuMs: number }> => {
    bytes = 0
    target = count * o.bytes
    const done = new Promise<void>(resolve => { all = resolve })
    const t0 = performance.now()
    const cpu0 = process.cpuUsage()
    for (let i = 0; i < count; i++) await side.send(payload)
    await within(done, 120_000, `receiving ${count} whispers`).catch((err: Error) => { throw new Error(`${err.message} (${bytes} of ${target} bytes arrived)`) })
    const cpu = process.cpuUsage(cpu0)
    return { ms: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000 }
  }
  const mb = o.count * o.bytes / 2 ** 20
  const figures = ({ ms, cpuMs }: { ms: number, cpuMs: number }): StreamFigures['cold'] => ({ throughputMBps: mb / (ms / 1000), cpuMsPerMB: cpuMs / mb })
  try {
    // Warm-up: two whole floods before the timed one. V8 optimises a deep JavaScript path (Noise,
    // Yamux, Shoal's wire) over thousands of messages: Shoal's first flood of 6000 took about twice
    // the CPU per MiB of its third, where the raw socket's path is native and warm at once. The
    // first flood's figures are kept as `cold`; what a long-lived peer sees is the warm one.
    for (let i = 0; i < 50; i++) await ping()
    const cold = figures(await flood(o.count))
    await flood(o.count)
    const rtt: number[] = []
    for (let i = 0; i < o.rtts; i++) rtt.push(await ping())
    return { ...figures(await flood(o.count)), rttMs: distribution(rtt), cold }
  } finally {
    await side.stop()
  }
}

async function shoalWhisper (): Promise<StreamSide> {
  // The flood is faster than the default inbound byte rate (maxInboundBytes, 64 MiB/s per peer):
  // past it whispers are dropped by design, and the run would wait for them. The rate is still
  // checked on every whisper, against a limit no loopback flood here reaches (as the shout half
  // lifts maxInboundShouts).
  const opts = { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false as const, maxInboundBytes: 2 ** 40 }
  const a = await createNode({ ...opts, name: 'a' })
  const b = await createNode({ ...opts, name: 'b', bootstrap: a.addresses() })
  await until(() => a.peer(b.id) != null && b.peer(a.id) != null, 30_000, 'two Shoal nodes seeing each other')
  return {
    send: async (payload) => { await a.whisper(b.id, payload) },
    onFrame: (fn) => {
      b.on('whisper', e => {
        const d = e.data as Uint8Array
        if (d.byteLength === 1) void b.whisper(a.id, d)
        else fn(d.byteLength)
      })
    },
    onPong: (fn) => { a.on('whisper', () => { fn() }) },
    stop: async () => { await Promise.all([a.stop(), b.stop()]) }
  }
}

/** Waits until `stream` takes more data (as Shoal's wire does; see src/direct/wire.ts). */
async function drained (stream: Stream): Promise<void> {
  while (stream.writableNeedsDrain) await new Promise(resolve => { stream.addEventListener('drain', resolve, { once: true }) })
}

/** The stack Shoal's whisper runs on, bare: one libp2p stream (TCP, Noise, Yamux) with length-prefixed frames. */
async function bareStream (): Promise<StreamSide> {
  const make = async (): Promise<Libp2p> => await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise({ crypto: noiseCrypto })],
    streamMuxers: [yamux()],
    connectionMonitor: { enabled: false }
  })
  const a = await make()
  const b = await make()
  let onFrame: (len: number) => void = () => {}
  let onPong: () => void = () => {}
  const read = (stream: Stream, fn: (frame: Uint8Array) => void): void => {
    void (async () => { for await (const f of lp.decode(stream)) fn(f.subarray()) })().catch(() => {})
  }
  await b.handle('/bench/1', (stream) => {
    read(stream, f => {
      if (f.byteLength === 1) stream.send(lp.encode.single(f))
      else onFrame(f.byteLength)
    })
  })
  const stream = await a.dialProtocol(b.getMultiaddrs()[0], '/bench/1')
  read(stream, () => { onPong() })
  return {
    send: async (payload) => { await drained(stream); stream.send(lp.encode.single(payload)) },
    onFrame: (fn) => { onFrame = fn },
    onPong: (fn) => { onPong = fn },
    stop: async () => { stream.abort(new Error('done')); await Promise.all([a.stop(), b.stop()]) }
  }
}

// TLS 1.2 with a pre-shared key (no certificates to make) and ChaCha20-Poly1305, the cipher
// Noise uses: the cheapest a socket with the same encryption gets in Node.
const TLS_PSK = { ciphers: 'PSK-CHACHA20-POLY1305', minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' } satisfies ConnectionOptions
const psk = randomBytes(32)

async function rawSocket (encrypted = false): Promise<StreamSide> {
  let onFrame: (len: number) => void = () => {}
  let onPong: () => void = () => {}
  // Frames: 4-byte length, then the payload; a 1-byte payload is a ping the server echoes.
  const framer = (fn: (len: number, sock: Socket) => void) => (sock: Socket) => {
    let buf: Buffer = Buffer.alloc(0)
    sock.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const len = buf.readUInt32BE(0)
        buf = buf.subarray(4 + len)
        fn(len, sock)
      }
    })
  }
  const frame = (payload: Uint8Array): Buffer => { const h = Buffer.alloc(4); h.writeUInt32BE(payload.byteLength); return Buffer.concat([h, payload]) }
  const serve = framer((len, sock) => {
    if (len === 1) sock.write(frame(new Uint8Array(1)))
    else onFrame(len)
  })
  const server = encrypted ? createTlsServer({ ...TLS_PSK, pskCallback: () => psk }, serve) : createServer(serve)
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  const client = encrypted
    ? connectTls({ ...TLS_PSK, port, host: '127.0.0.1', pskCallback: () => ({ psk, identity: 'bench' }), checkServerIdentity: () => undefined })
    : connect(port, '127.0.0.1')
  await once(client, encrypted ? 'secureConnect' : 'connect')
  framer(() => { onPong() })(client)
  return {
    // Waits for the socket to drain like a whisper waits for its stream: the same back-pressure rule.
    send: async (payload) => { if (!client.write(frame(payload))) await new Promise(resolve => client.once('drain', resolve)) },
    onFrame: (fn) => { onFrame = fn },
    onPong: (fn) => { onPong = fn },
    stop: async () => { client.destroy(); await new Promise(resolve => server.close(resolve)) }
  }
}

/** Longest one side of one round may take (a stalled side fails the run, naming itself). */
const SIDE_LIMIT_MS = 300_000
const NO_SHOUT: TimedShout = { directCopies: NaN, latencyMs: distribution([]), coldLatencyMs: distribution([]), delivered: 0, expected: 0, ratio: NaN, burstMsgsPerSec: NaN, cpuUsPerDelivery: NaN, tail: { cpuMsPerShout: NaN, scavengesPer1000: NaN, shoutsWithGc: NaN, mainWaitMs: NaN } }
const NO_STREAM: StreamFigures = { throughputMBps: NaN, cpuMsPerMB: NaN, rttMs: distribution([]), cold: { throughputMBps: NaN, cpuMsPerMB: NaN } }

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
/** The median of each field over rounds (a distribution field by field). */
function medianOf<T extends Record<string, any>> (rounds: T[]): T {
  const out: Record<string, any> = {}
  for (const k of Object.keys(rounds[0])) {
    out[k] = typeof rounds[0][k] === 'number' ? median(rounds.map(r => r[k])) : medianOf(rounds.map(r => r[k]))
  }
  return out as T
}
/** Runs the sides in a turn that moves by one every round, so no side always goes first. */
async function inTurn<T> (round: number, sides: Array<() => Promise<T>>): Promise<T[]> {
  const out = new Array<T>(sides.length)
  for (let k = 0; k < sides.length; k++) {
    const i = (k + round) % sides.length
    out[i] = await sides[i]()
  }
  return out
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      repeats: { type: 'string', default: '5' },
      // For profiling one path (node --cpu-prof): 'shout' or 'whisper'; the other is skipped.
      only: { type: 'string' },
      peers: { type: 'string', default: '10' },
      shouts: { type: 'string', default: '300' },
      burst: { type: 'string', default: '1000' },
      'shout-bytes': { type: 'string', default: '200' },
      whispers: { type: 'string', default: '6000' },
      'whisper-bytes': { type: 'string', default: '16384' },
      rtts: { type: 'string', default: '500' },
      json: { type: 'string', default: 'out/bench.json' },
      'heap-of': { type: 'string' }
    }
  })
  if (values['heap-of'] != null) { await printHeap(values['heap-of'], Number(values.peers)); return }
  const repeats = Math.max(1, Number(values.repeats))
  const g = { peers: Number(values.peers), shouts: Number(values.shouts), burst: Number(values.burst), bytes: Number(values['shout-bytes']) }
  const w = { count: Number(values.whispers), bytes: Number(values['whisper-bytes']), rtts: Number(values.rtts) }
  const log = (s: string): void => { process.stderr.write(s + '\n') }
  log(`bench: ${repeats} rounds of: ${g.peers} nodes, ${g.shouts} shouts of ${g.bytes} B + a burst of ${g.burst}; ${w.count} whispers of ${w.bytes} B, ${w.rtts} round trips`)
  const rounds: Array<{ bare: TimedShout, shoal: TimedShout, raw: StreamFigures, tls: StreamFigures, stack: StreamFigures, whisper: StreamFigures }> = []
  // Every timed delivery of every round, per side. One round's p99 is its worst 27 of 2700
  // deliveries, i.e. 3 shouts (each reaches 9 members together), so it moves with 3 events;
  // pooled, the p99 is decided by 15.
  const pooled = { bare: [] as number[], shoal: [] as number[] }
  for (let r = 0; r < repeats; r++) {
    const [bare, shoal] = values.only === 'whisper'
      ? [NO_SHOUT, NO_SHOUT]
      : await inTurn(r, ([['bare gossipsub', bareGroup, pooled.bare], ['Shoal shout', shoalGroup, pooled.shoal]] as const).map(([name, make, into]) => async () => await within(measureGroup(make, g, l => { into.push(...l) }), SIDE_LIMIT_MS, `round ${r + 1}, ${name}`)))
    const [raw, tls, stack, whisper] = values.only === 'shout'
      ? [NO_STREAM, NO_STREAM, NO_STREAM, NO_STREAM]
      : await inTurn(r, ([['raw socket', async () => await rawSocket()], ['TLS socket', async () => await rawSocket(true)], ['bare stream', bareStream], ['Shoal whisper', shoalWhisper]] as const).map(([name, make]) => async () => await within((async () => await measureStream(await make(), w))(), SIDE_LIMIT_MS, `round ${r + 1}, ${name}`)))
    rounds.push({ bare, shoal, raw, tls, stack, whisper })
    log(`  round ${r + 1}: shout p50/p99 ${ms(shoal.latencyMs.p50)}/${ms(shoal.latencyMs.p99)} vs bare ${ms(bare.latencyMs.p50)}/${ms(bare.latencyMs.p99)} ms; whisper ${whisper.throughputMBps.toFixed(0)} vs stack ${stack.throughputMBps.toFixed(0)} vs TLS ${tls.throughputMBps.toFixed(0)} vs raw ${raw.throughputMBps.toFixed(0)} MB/s`)
  }
  const medians = medianOf(rounds)
  const { raw, tls, stack, whisper } = medians
  // Each in a process of its own (see measureHeap).
  const [bareHeap, shoalHeap] = values.only === 'whisper' ? [NaN, NaN] : [await measureHeap('bare', g.peers), await measureHeap('shoal', g.peers)]
  const [pooledShoal, pooledBare] = [distribution(pooled.shoal), distribution(pooled.bare)]
  const bare: ShoutFigures = { ...medians.bare, heapPerNodeMB: bareHeap }
  const shoal: ShoutFigures = { ...medians.shoal, heapPerNodeMB: shoalHeap }
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    config: { ...g, whispers: w, repeats },
    note: 'each figure is the median over the rounds; rounds has every round',
    shout: { shoal, bare, pooledLatencyMs: { shoal: pooledShoal, bare: pooledBare }, ratios: { p50: shoal.latencyMs.p50 / bare.latencyMs.p50, p99: shoal.latencyMs.p99 / bare.latencyMs.p99, p99Pooled: pooledShoal.p99 / pooledBare.p99, burst: shoal.burstMsgsPerSec / bare.burstMsgsPerSec, cpuPerDelivery: shoal.cpuUsPerDelivery / bare.cpuUsPerDelivery, heap: shoal.heapPerNodeMB / bare.heapPerNodeMB } },
    whisper: {
      shoal: whisper,
      raw,
      tls,
      stack,
      ratios: {
        throughput: whisper.throughputMBps / raw.throughputMBps,
        throughputVsTls: whisper.throughputMBps / tls.throughputMBps,
        tlsVsRaw: tls.throughputMBps / raw.throughputMBps,
        rttP50: whisper.rttMs.p50 / raw.rttMs.p50,
        throughputVsStack: whisper.throughputMBps / stack.throughputMBps,
        stackVsRaw: stack.throughputMBps / raw.throughputMBps,
        // MB per CPU second, Shoal / raw: the throughput ratio the CPU cost alone allows.
        cpuEfficiency: raw.cpuMsPerMB / whisper.cpuMsPerMB,
        cpuEfficiencyVsStack: stack.cpuMsPerMB / whisper.cpuMsPerMB
      }
    },
    // Each round's own ratio, its sides run minutes apart at most: the raw socket's throughput
    // moves 3x from round to round (542-1867 MB/s in this release's runs), far more than Shoal's.
    ratiosByRound: {
      shoutP99: rounds.map(x => x.shoal.latencyMs.p99 / x.bare.latencyMs.p99),
      whisperThroughput: rounds.map(x => x.whisper.throughputMBps / x.raw.throughputMBps)
    },
    targets: {
      whisperThroughputAtLeastHalfOfRaw: whisper.throughputMBps >= 0.5 * raw.throughputMBps,
      shoutP99AtMost1_2xBare: pooledShoal.p99 <= 1.2 * pooledBare.p99,
      shoutP99AtMost1_2xBareMedianOfRounds: shoal.latencyMs.p99 <= 1.2 * bare.latencyMs.p99,
      shoutDelivery100: rounds.every(x => x.shoal.ratio === 1)
    },
    rounds
  }
  const d = (x: Distribution): string => `${ms(x.p50)} / ${ms(x.p90)} / ${ms(x.p99)} / ${ms(x.max)}`
  const r = result
  console.log([
    `medians of ${repeats} rounds`,
    `shout (${g.peers} nodes, memory transport)        Shoal                         bare gossipsub                ratio`,
    `  latency p50/p90/p99/max ms     ${d(shoal.latencyMs).padEnd(30)}${d(bare.latencyMs).padEnd(30)}p50 ${r.shout.ratios.p50.toFixed(2)}x, p99 ${r.shout.ratios.p99.toFixed(2)}x`,
    `    pooled over rounds           ${d(pooledShoal).padEnd(30)}${d(pooledBare).padEnd(30)}p99 ${r.shout.ratios.p99Pooled.toFixed(2)}x`,
    `    first pass (cold)            ${d(shoal.coldLatencyMs).padEnd(30)}${d(bare.coldLatencyMs).padEnd(30)}p99 ${(shoal.coldLatencyMs.p99 / bare.coldLatencyMs.p99).toFixed(2)}x`,
    `  delivery, every round          Shoal ${rounds.map(x => `${x.shoal.delivered}/${x.shoal.expected}`).join(' ')}; bare ${rounds.map(x => `${x.bare.delivered}/${x.bare.expected}`).join(' ')}`,
    `  burst, msgs/s to all           ${shoal.burstMsgsPerSec.toFixed(0).padEnd(30)}${bare.burstMsgsPerSec.toFixed(0).padEnd(30)}${r.shout.ratios.burst.toFixed(2)}x`,
    `  burst, CPU µs per delivery     ${shoal.cpuUsPerDelivery.toFixed(0).padEnd(30)}${bare.cpuUsPerDelivery.toFixed(0).padEnd(30)}${r.shout.ratios.cpuPerDelivery.toFixed(2)}x`,
    `  direct copies (Shoal fallback) ${String(shoal.directCopies).padEnd(30)}${String(bare.directCopies).padEnd(30)}`,
    `  heap per node MB               ${shoal.heapPerNodeMB.toFixed(2).padEnd(30)}${bare.heapPerNodeMB.toFixed(2).padEnd(30)}${r.shout.ratios.heap.toFixed(2)}x`,
    `  timed pass: CPU ms/shout       ${shoal.tail.cpuMsPerShout.toFixed(1).padEnd(30)}${bare.tail.cpuMsPerShout.toFixed(1).padEnd(30)}(10 ms between shouts)`,
    `    scavenges per 1000 shouts    ${shoal.tail.scavengesPer1000.toFixed(0).padEnd(30)}${bare.tail.scavengesPer1000.toFixed(0).padEnd(30)}`,
    `    shouts with a GC in delivery ${String(shoal.tail.shoutsWithGc).padEnd(30)}${String(bare.tail.shoutsWithGc).padEnd(30)}of ${g.shouts}`,
    `    main thread waiting to run   ${`${shoal.tail.mainWaitMs.toFixed(0)} ms`.padEnd(30)}${`${bare.tail.mainWaitMs.toFixed(0)} ms`.padEnd(30)}(run-queue delay, Linux)`,
    `whisper (TCP loopback)                 Shoal                         raw node:net                  ratio        bare libp2p stream`,
    `  throughput MB/s (${w.bytes} B msgs)  ${whisper.throughputMBps.toFixed(1).padEnd(30)}${raw.throughputMBps.toFixed(1).padEnd(30)}${`${r.whisper.ratios.throughput.toFixed(2)}x`.padEnd(13)}${stack.throughputMBps.toFixed(1)} (Shoal ${r.whisper.ratios.throughputVsStack.toFixed(2)}x of it)`,
    `  CPU ms per MiB (both ends)     ${whisper.cpuMsPerMB.toFixed(2).padEnd(30)}${raw.cpuMsPerMB.toFixed(2).padEnd(30)}${`${r.whisper.ratios.cpuEfficiency.toFixed(2)}x`.padEnd(13)}${stack.cpuMsPerMB.toFixed(2)} (Shoal ${r.whisper.ratios.cpuEfficiencyVsStack.toFixed(2)}x of its MB per CPU s)`,
    `  first flood (cold), MB/s       ${whisper.cold.throughputMBps.toFixed(1).padEnd(30)}${raw.cold.throughputMBps.toFixed(1).padEnd(30)}${`${(whisper.cold.throughputMBps / raw.cold.throughputMBps).toFixed(2)}x`.padEnd(13)}${stack.cold.throughputMBps.toFixed(1)}`,
    `    CPU ms per MiB, cold         ${whisper.cold.cpuMsPerMB.toFixed(2).padEnd(30)}${raw.cold.cpuMsPerMB.toFixed(2).padEnd(30)}${''.padEnd(13)}${stack.cold.cpuMsPerMB.toFixed(2)}`,
    `  round trip p50/p90/p99/max ms  ${d(whisper.rttMs).padEnd(30)}${d(raw.rttMs).padEnd(30)}${`p50 ${r.whisper.ratios.rttP50.toFixed(2)}x`.padEnd(13)}${d(stack.rttMs)}`,
    `  the raw socket under TLS (PSK, ChaCha20-Poly1305): ${tls.throughputMBps.toFixed(1)} MB/s (${r.whisper.ratios.tlsVsRaw.toFixed(2)}x of raw), ${tls.cpuMsPerMB.toFixed(2)} CPU ms/MiB; Shoal ${r.whisper.ratios.throughputVsTls.toFixed(2)}x of it`,
    `ratio by round: shout p99 ${r.ratiosByRound.shoutP99.map(x => x.toFixed(2)).join(' ')}; whisper ${r.ratiosByRound.whisperThroughput.map(x => x.toFixed(2)).join(' ')}`,
    `targets: whisper >= 50% of raw: ${r.targets.whisperThroughputAtLeastHalfOfRaw ? 'MET' : 'NOT met'}; shout p99 <= 1.2x bare: ${r.targets.shoutP99AtMost1_2xBare ? 'MET' : 'NOT met'} pooled, ${r.targets.shoutP99AtMost1_2xBareMedianOfRounds ? 'MET' : 'NOT met'} on the median of rounds; shout delivery 100%: ${r.targets.shoutDelivery100 ? 'MET' : 'NOT met'}`
  ].join('\n'))
  await mkdir(dirname(values.json), { recursive: true })
  await writeFile(values.json, JSON.stringify(result, null, 2) + '\n')
  console.log(`(JSON: ${values.json})`)
}

main().then(() => {
  // Every node and socket is stopped: nothing should keep the process alive. If something does, say what.
  setTimeout(() => {
    const handles = (process as any)._getActiveHandles?.() as unknown[] ?? []
    console.error(`bench: still running 5 s after everything stopped; active handles: ${handles.map(h => (h as any)?.constructor?.name).join(', ')}`)
    process.exit(process.exitCode ?? 0)
  }, 5000).unref()
}, err => {
  // A side that stalled may hold nodes open: say so and leave.
  console.error(err)
  process.exit(1)
})
