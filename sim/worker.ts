// A simulator worker process: hosts some of the run's real Shoal nodes (on TCP loopback, or all of
// them on the memory transport) and does what the coordinator (sim/runner.ts) tells it over IPC. Everything the nodes emit goes back
// timestamped where it happened (one machine, one clock), in small batches.
import { createNode, type ShoalNode } from '../src/index.js'
import { watchLag, worstLagSince } from '../src/presence/lag.js'
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { feedDiscovery, type Feed, type Sighting } from './feed-discovery.js'
import { SegmentGater } from './segment-gater.js'
import { LinkShaper, type LinkDelay, type LinkRule } from './link-shaper.js'
import { tcp } from '@libp2p/tcp'
import { memory } from '@libp2p/memory'
import type { SimTransport } from './scenario.js'

export type WorkerCommand =
  | { cmd: 'start', key: number, name: string, privateKey: string, groups: string[], profile: 'lan' | 'wifi' | 'local', degree?: number, transport: SimTransport }
  | { cmd: 'stop', key: number }
  /** Abrupt: every connection reset, nothing more sent or received, then stopped (memory mode). */
  | { cmd: 'crash', key: number }
  /** Holds every byte to and from the node while its connections stay open (memory mode). */
  | { cmd: 'stall', key: number, on: boolean }
  | { cmd: 'links', base: LinkDelay, rules: LinkRule[] }
  /** Every node in `to` hears every peer in `peers` (but itself). */
  | { cmd: 'hear', to: number[], peers: Sighting[] }
  | { cmd: 'segments', segments: Record<string, string> | null }
  | { cmd: 'shout', key: number, group: string, q: number, bytes: number }
  | { cmd: 'whisper', key: number, to: string, q: number, bytes: number }
  | { cmd: 'request', key: number, to: string, toKey: number, q: number, bytes: number }
  | { cmd: 'slow', delayMs: number }
  | { cmd: 'sample' }
  | { cmd: 'exit' }

export type Observed =
  | { type: 'ev', key: number, event: 'enter' | 'exit' | 'suspect' | 'alive', peer: string, reason?: string, at: number }
  | { type: 'rx', key: number, kind: 'shout' | 'whisper' | 'request', q: number, from: string, at: number }
  | { type: 'sent', key: number, kind: 'shout' | 'whisper' | 'request', q: number, at: number, error?: string, reason?: string }

export interface NodeSample {
  key: number
  peers: number
  connections: number
  shoutsSent: number
  shoutsReceived: number
  whispersSent: number
  whispersReceived: number
  presenceFramesSent: number
  presenceBytesSent: number
  shoutFallbacks: number
}

export type WorkerMessage =
  | { type: 'batch', items: Observed[] }
  | { type: 'started', key: number, id: string, addrs: string[], at: number }
  | { type: 'start-failed', key: number, error: string }
  | { type: 'stopped', key: number, at: number }
  | { type: 'sample', at: number, rss: number, heap: number, cpuMs: number, lagMs: number, nodes: NodeSample[] }

// `view` counts the node's enter and exit events: its view's size for samples, without
// node.peers() copying 500 entries for each of a worker's nodes every 2 s (8% of its time).
const nodes = new Map<number, { node: ShoalNode, feed: Feed, view: number }>()
const gater = new SegmentGater()
const shaper = new LinkShaper()
let generation = 0
/** Crashed nodes still stopping, by key: a restart of the same peer waits for its old self to be gone. */
const stopping = new Map<number, Promise<void>>()
/** Service every node serves for request traffic: the payload comes back. */
export const ECHO = 'sim/echo'
/** How long a simulated request waits for its reply (the delivery window of sim/measure.ts is 3 s). */
const REQUEST_TIMEOUT_MS = 3000
let slowMs = 0
let batch: Observed[] = []
// How late this process's event loop runs: every node in it is that late to read, probe and
// answer, which the peers' views and the report's figures then reflect. Read from the nodes' own
// watch (what their stall guards see), held for the process's life: a sample reports the worst
// since the last one, the stall the process may be in when it is asked included (samples asked
// for during one long stall are answered together, after it). Lateness under its 20 ms tick reads 0.
watchLag()
let lastSample = Date.now()
const lag = (): number => {
  const since = lastSample
  lastSample = Date.now()
  return worstLagSince(since)
}
let flush: ReturnType<typeof setTimeout> | undefined

const send = (m: WorkerMessage): void => { process.send?.(m) }
const observe = (o: Observed): void => {
  batch.push(o)
  flush ??= setTimeout(() => { flush = undefined; const items = batch; batch = []; send({ type: 'batch', items }) }, 20)
}
// A slow consumer: this process does `slowMs` of work for every message it takes in.
const busy = (): void => { if (slowMs > 0) { const end = performance.now() + slowMs; while (performance.now() < end); } }

process.on('message', (m: WorkerCommand) => {
  handle(m).catch(err => {
    process.stderr.write(`sim worker: ${String(err?.stack ?? err)}\n`)
    // The coordinator waits for an answer to these.
    if (m.cmd === 'start') send({ type: 'start-failed', key: m.key, error: String(err?.message ?? err) })
    if (m.cmd === 'stop' || m.cmd === 'crash') send({ type: 'stopped', key: m.key, at: Date.now() })
  })
})
process.on('disconnect', () => { process.exit(0) })

async function handle (m: WorkerCommand): Promise<void> {
  switch (m.cmd) {
    case 'start': await start(m); break
    case 'stop': {
      const n = nodes.get(m.key)
      nodes.delete(m.key)
      await n?.node.stop()
      send({ type: 'stopped', key: m.key, at: Date.now() })
      break
    }
    case 'crash': {
      const n = nodes.get(m.key)
      nodes.delete(m.key)
      if (n != null) {
        shaper.crash(n.node.id)
        const stopped = n.node.stop()
        stopping.set(m.key, stopped)
        await stopped.finally(() => { stopping.delete(m.key) })
      }
      send({ type: 'stopped', key: m.key, at: Date.now() })
      break
    }
    case 'stall': {
      const n = nodes.get(m.key)
      if (n != null) shaper.stall(n.node.id, m.on)
      break
    }
    case 'links': shaper.set(m.base, m.rules); break
    case 'hear':
      // A list may name a recipient itself (see announce in runner.ts): a node does not hear itself.
      for (const k of m.to) {
        const n = nodes.get(k)
        n?.feed.hear(m.peers.filter(p => p.id !== n.node.id))
      }
      break
    case 'segments':
      gater.set(m.segments)
      for (const { node } of nodes.values()) {
        for (const c of node.libp2p.getConnections()) {
          if (gater.blocked(node.id, c.remotePeer.toString())) c.abort(new Error('simulated partition'))
        }
      }
      break
    case 'shout':
    case 'whisper': {
      const n = nodes.get(m.key)
      if (n == null) return
      const at = Date.now()
      const data = { q: m.q, t: at, pad: 'x'.repeat(Math.max(0, m.bytes - 40)) }
      const sent = m.cmd === 'shout' ? n.node.shout(m.group, data) : n.node.whisper(m.to, data)
      sent.then(() => { observe({ type: 'sent', key: m.key, kind: m.cmd, q: m.q, at }) },
        (err: Error) => { observe({ type: 'sent', key: m.key, kind: m.cmd, q: m.q, at, error: err.name, reason: err.message }) })
      break
    }
    case 'request': {
      // A request counts as delivered when its reply is back: the receipt is the round trip.
      const n = nodes.get(m.key)
      if (n == null) return
      const at = Date.now()
      n.node.request(m.to, ECHO, { q: m.q, t: at, pad: 'x'.repeat(Math.max(0, m.bytes - 40)) }, { timeout: REQUEST_TIMEOUT_MS }).then(
        () => {
          const done = Date.now()
          observe({ type: 'sent', key: m.key, kind: 'request', q: m.q, at })
          observe({ type: 'rx', key: m.toKey, kind: 'request', q: m.q, from: n.node.id, at: done })
        },
        (err: Error) => { observe({ type: 'sent', key: m.key, kind: 'request', q: m.q, at, error: err.name, reason: err.message }) })
      break
    }
    case 'slow': slowMs = m.delayMs; break
    case 'sample': {
      const cpu = process.cpuUsage()
      const lagMs = lag()
      send({
        type: 'sample',
        at: Date.now(),
        rss: process.memoryUsage().rss,
        heap: process.memoryUsage().heapUsed,
        cpuMs: (cpu.user + cpu.system) / 1000,
        lagMs,
        nodes: [...nodes].map(([key, { node, view }]) => {
          const s = node.stats()
          return {
            key,
            peers: view,
            connections: node.libp2p.getConnections().length,
            shoutsSent: s.shoutsSent,
            shoutsReceived: s.shoutsReceived,
            whispersSent: s.whispersSent,
            whispersReceived: s.whispersReceived,
            presenceFramesSent: s.presenceFramesSent,
            presenceBytesSent: s.presenceBytesSent,
            shoutFallbacks: s.shoutFallbacks
          }
        })
      })
      break
    }
    case 'exit':
      await Promise.allSettled([...nodes.values()].map(async n => { await n.node.stop() }))
      process.exit(0)
  }
}

async function start (m: Extract<WorkerCommand, { cmd: 'start' }>): Promise<void> {
  await stopping.get(m.key)?.catch(() => {})
  const feed = feedDiscovery()
  const privateKey = privateKeyFromProtobuf(Buffer.from(m.privateKey, 'base64'))
  const id = peerIdFromPrivateKey(privateKey).toString()
  shaper.revive(id)
  const memoryMode = m.transport === 'memory'
  let node: ShoalNode
  try {
    node = await createNode({
      name: m.name,
      privateKey,
      // A new address per start: a restarted peer must not race its old listener.
      listen: [memoryMode ? `/memory/sim-${process.pid}-${m.key}-${++generation}` : '/ip4/127.0.0.1/tcp/0'],
      transports: [shaper.transport(memoryMode ? memory() : tcp())],
      mdns: false,
      discovery: [feed.discovery],
      connectionGater: shaper.gater(gater.forLocal(id)),
      groups: m.groups,
      profile: m.profile,
      degree: m.degree
    })
  } catch (err: any) {
    send({ type: 'start-failed', key: m.key, error: String(err?.message ?? err) })
    return
  }
  const entry = { node, feed, view: 0 }
  nodes.set(m.key, entry)
  const key = m.key
  for (const event of ['enter', 'exit', 'suspect', 'alive'] as const) {
    node.on(event, (e: any) => {
      if (event === 'enter') entry.view++
      if (event === 'exit') entry.view--
      observe({ type: 'ev', key, event, peer: e.peer.id, reason: e.reason, at: Date.now() })
    })
  }
  const rx = (kind: 'shout' | 'whisper') => (e: { from: { id: string }, data: unknown }) => {
    const at = Date.now()
    busy()
    const q = (e.data as { q?: unknown })?.q
    if (typeof q === 'number') observe({ type: 'rx', key, kind, q, from: e.from.id, at })
  }
  node.on('shout', rx('shout'))
  node.on('whisper', rx('whisper'))
  node.handle(ECHO, ({ data }) => { busy(); return data })
  send({ type: 'started', key, id: node.id, addrs: node.addresses(), at: Date.now() })
}
