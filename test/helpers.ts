import type { ExecutionContext } from 'ava'
import { peerIdFromString } from '@libp2p/peer-id'
import * as lp from 'it-length-prefixed'
import { createNode, type NodeOptions, type ShoalNode, type ShoalEvent, type ShoalEventType, type EventOf } from '../src/index.js'

let memCounter = 0

/** Options for a node that only talks in-process (memory transport, no mDNS). */
export function memoryOptions (extra: NodeOptions = {}): NodeOptions {
  return { listen: [`/memory/test-${process.pid}-${++memCounter}`], mdns: false, connectionMonitor: false, ...extra }
}

/** Options for a node on TCP loopback with no mDNS. */
export function tcpOptions (extra: NodeOptions = {}): NodeOptions {
  return { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, ...extra }
}

/** Starts a node that is always stopped when the test ends, pass or fail. */
export async function start (t: ExecutionContext, options: NodeOptions): Promise<ShoalNode> {
  const node = await createNode(options)
  t.teardown(async () => { await node.stop() })
  return node
}

/**
 * Starts `n` nodes that find each other through the first one (bootstrap + peer exchange) and
 * waits until every node sees every other.
 */
export async function startMesh (t: ExecutionContext, n: number, make: (i: number) => NodeOptions, timeoutMs = 20_000): Promise<ShoalNode[]> {
  const first = await start(t, make(0))
  const rest = await Promise.all(Array.from({ length: n - 1 }, async (_, i) => await start(t, { bootstrap: first.addresses(), ...make(i + 1) })))
  const nodes = [first, ...rest]
  await until(() => nodes.every(node => node.peers().length === n - 1), timeoutMs, 'mesh did not converge')
  return nodes
}

/** Polls `cond` every 10 ms until it holds; rejects with `what` after `timeoutMs`. */
export async function until (cond: () => boolean, timeoutMs: number, what = 'condition not met'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`)
    await sleep(10)
  }
}

/** Resolves with the next `type` event matching `match`; rejects after `timeoutMs`. */
export async function next<K extends ShoalEventType> (node: ShoalNode, type: K, match: (e: EventOf<K>) => boolean = () => true, timeoutMs = 10_000): Promise<EventOf<K>> {
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { node.off(type, listener); reject(new Error(`no '${type}' event on ${node.name} within ${timeoutMs} ms`)) }, timeoutMs)
    const listener = (e: EventOf<K>): void => {
      if (!match(e)) return
      clearTimeout(timer)
      node.off(type, listener)
      resolve(e)
    }
    node.on(type, listener)
  })
}

/** Records every event a node emits, for assertions on counts and order. */
export function record (node: ShoalNode): ShoalEvent[] {
  const log: ShoalEvent[] = []
  for (const type of ['enter', 'exit', 'join', 'leave', 'shout', 'whisper', 'suspect', 'alive', 'update', 'limit'] as const) node.on(type, (e: ShoalEvent) => log.push(e))
  return log
}

export const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/**
 * A firewall between `nodes` (filled in as they start): `gater(i)` goes in node i's options;
 * `split` puts the nodes in parts and cuts every pair in different parts, `separate` cuts the
 * pairs named (cuts need not be a partition: a apart from c, both with b); either aborts the
 * connections it cuts and refuses new ones (a firewall that rejects), and replaces the cuts
 * before it. `heal` lifts them.
 */
export function firewall (nodes: ShoalNode[]): {
  gater: (i: number) => NodeOptions['connectionGater']
  split: (part: (i: number) => number) => void
  separate: (pairs: Array<[ShoalNode, ShoalNode]>) => void
  heal: () => void
} {
  let apart: ((a: string, b: string) => boolean) | undefined
  const cut = (a: string | undefined, b: string): boolean => apart != null && a != null && apart(a, b)
  const enforce = (rule: (a: string, b: string) => boolean): void => {
    apart = rule
    for (const n of nodes) {
      for (const c of n.libp2p.getConnections()) if (cut(n.id, c.remotePeer.toString())) c.abort(new Error('partition'))
    }
  }
  const pair = (a: string, b: string): string => a < b ? `${a} ${b}` : `${b} ${a}`
  return {
    gater: i => ({
      // Cut once connected, as a network that resets: not the node's own refusal to dial.
      denyOutboundConnection: peer => cut(nodes[i]?.id, peer.toString()),
      denyInboundEncryptedConnection: peer => cut(nodes[i]?.id, peer.toString()),
      denyOutboundEncryptedConnection: peer => cut(nodes[i]?.id, peer.toString())
    }),
    split: part => {
      const parts = new Map(nodes.map((n, i) => [n.id, part(i)]))
      enforce((a, b) => parts.get(a) !== parts.get(b))
    },
    separate: pairs => {
      const cuts = new Set(pairs.map(([x, y]) => pair(x.id, y.id)))
      enforce((a, b) => cuts.has(pair(a, b)))
    },
    heal: () => { apart = undefined }
  }
}

/**
 * Writes wire frames to `to` on a stream of `from`'s own, as a hand-written peer would: what the
 * node must cope with from a peer that does not run Shoal's code. Closes the stream after.
 */
export async function sendRawFrames (from: ShoalNode, to: ShoalNode, frames: Uint8Array[]): Promise<void> {
  const stream = await from.libp2p.dialProtocol(peerIdFromString(to.id), '/shoal/wire/1.0.0')
  for (const f of frames) stream.send(lp.encode.single(f))
  await stream.close()
}
