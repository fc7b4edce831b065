// A process hosting some of the benchmark's nodes, driven over IPC by sim/bench/presence.ts.
// Every event the nodes emit goes back with a wall-clock timestamp (one machine, one clock), so
// the coordinator measures what the nodes themselves saw, across processes.
import { createNode, type NodeOptions, type ShoalNode } from '../../src/index.js'

export type HostCommand =
  | { cmd: 'start', key: string, options: NodeOptions }
  | { cmd: 'stop', key: string }
  | { cmd: 'stats' }
  | { cmd: 'load', group: string, perSecond: number, bytes: number, durationMs: number }
  | { cmd: 'exit' }

export type HostMessage =
  | { type: 'started', key: string, id: string, addresses: string[], startedAt: number, readyAt: number }
  | { type: 'event', key: string, event: 'enter' | 'exit' | 'suspect' | 'alive', peer: string, reason?: string, at: number }
  | { type: 'stats', rss: number, nodes: Array<{ key: string, peers: number, connected: number, presenceBytesSent: number, presenceFramesSent: number, probesFailed: number, localHealth: number }> }
  | { type: 'stopping', key: string, at: number }
  | { type: 'load-done', sent: number, failed: number }

const nodes = new Map<string, ShoalNode>()
const send = (m: HostMessage): void => { process.send?.(m) }

process.on('message', (m: HostCommand) => { void handle(m) })

async function handle (m: HostCommand): Promise<void> {
  switch (m.cmd) {
    case 'start': {
      const startedAt = Date.now()
      const node = await createNode(m.options)
      nodes.set(m.key, node)
      for (const event of ['enter', 'exit', 'suspect', 'alive'] as const) {
        node.on(event, (e: any) => { send({ type: 'event', key: m.key, event, peer: e.peer.id, reason: e.reason, at: Date.now() }) })
      }
      send({ type: 'started', key: m.key, id: node.id, addresses: node.addresses(), startedAt, readyAt: Date.now() })
      break
    }
    case 'stop': {
      const node = nodes.get(m.key)
      nodes.delete(m.key)
      send({ type: 'stopping', key: m.key, at: Date.now() })
      await node?.stop()
      break
    }
    case 'stats':
      if (process.env.SHOAL_BENCH_DEBUG != null) {
        for (const [key, n] of nodes) {
          const open = new Set(n.libp2p.getConnections().map(c => c.remotePeer.toString()))
          const missing = n.peers().filter(p => !open.has(p.id)).map(p => p.name)
          if (missing.length > 0 && missing.length < 15) console.error(`DEBUG ${key} ${n.id.slice(-6)} not connected to ${missing.join(',')}`)
        }
      }
      send({
        type: 'stats',
        rss: process.memoryUsage().rss,
        nodes: [...nodes].map(([key, n]) => ({ key, peers: n.peers().length, connected: connected(n), ...pick(n.stats()) }))
      })
      break
    case 'load': await load(m); break
    case 'exit':
      await Promise.allSettled([...nodes.values()].map(async n => { await n.stop() }))
      process.exit(0)
  }
}

/** Peers in the view this node also holds a connection to: the mesh under the view, which forms later. */
function connected (node: ShoalNode): number {
  const open = new Set(node.libp2p.getConnections().map(c => c.remotePeer.toString()))
  return node.peers().filter(p => open.has(p.id)).length
}

function pick (s: ReturnType<ShoalNode['stats']>): { presenceBytesSent: number, presenceFramesSent: number, probesFailed: number, localHealth: number } {
  return { presenceBytesSent: s.presenceBytesSent, presenceFramesSent: s.presenceFramesSent, probesFailed: s.probesFailed, localHealth: s.localHealth }
}

/** Every hosted node shouts `perSecond` messages of `bytes` to `group` for `durationMs`. */
async function load (m: Extract<HostCommand, { cmd: 'load' }>): Promise<void> {
  let sent = 0
  let failed = 0
  const payload = new Uint8Array(m.bytes)
  const end = Date.now() + m.durationMs
  await Promise.all([...nodes.values()].map(async node => {
    await node.join(m.group)
    while (Date.now() < end) {
      const tick = Date.now()
      await node.shout(m.group, payload).then(() => { sent++ }, () => { failed++ })
      await new Promise(resolve => setTimeout(resolve, Math.max(0, 1000 / m.perSecond - (Date.now() - tick))))
    }
  }))
  send({ type: 'load-done', sent, failed })
}
