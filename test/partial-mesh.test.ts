import test, { type ExecutionContext } from 'ava'
import type { ShoalNode } from '../src/index.js'
import { LanBus, lanDiscovery } from '../sim/lan-bus.js'
import { memoryOptions, start, until, next, record, sleep, firewall } from './helpers.js'

// A partial mesh (the `degree` option): nodes keep a few connections each and pass presence news
// on, so everyone must still see everything, at a fraction of the connections.
const N = 16
const DEGREE = 3

const connections = (n: ShoalNode): number => new Set(n.libp2p.getConnections().map(c => c.remotePeer.toString())).size

/** Node i bootstraps from node i-1: a chain, no hub, so news must cross several hops. */
async function partialMesh (t: ExecutionContext): Promise<ShoalNode[]> {
  const nodes: ShoalNode[] = []
  for (let i = 0; i < N; i++) {
    const bootstrap = i > 0 ? nodes[i - 1].addresses() : []
    nodes.push(await start(t, memoryOptions({ name: `p${i}`, degree: DEGREE, groups: i % 2 === 0 ? ['g'] : [], profile: 'local', bootstrap })))
  }
  await until(() => nodes.every(n => n.peers().length === N - 1), 30_000, 'views did not converge')
  return nodes
}

test('a partial mesh: every node sees every other over a few connections, and hears a group shout once', async t => {
  const nodes = await partialMesh(t)
  // Views converge first (news travels through the hub); connections follow, dialled at random.
  await until(() => nodes.every(n => connections(n) >= DEGREE), 15_000, 'nodes did not reach their degree')
  await sleep(1000)
  const counts = nodes.map(connections).sort((a, b) => a - b)
  t.log(`connections per node: ${counts.join(' ')}`)
  // Full mesh would be N-1 = 15 each; the median keeps to about the degree (plus group members).
  t.true(counts[Math.floor(counts.length / 2)] <= DEGREE + 6, `median ${counts[Math.floor(counts.length / 2)]}`)
  t.true(counts.every(c => c >= 1))

  const members = nodes.filter((_, i) => i % 2 === 0)
  for (const m of members) t.is(m.peersIn('g').length, members.length - 1)
  // Gossipsub builds a group's mesh from connected members only: give it its heartbeat.
  await sleep(1500)
  const logs = members.map(record)
  const sender = members[members.length - 1]
  for (let k = 0; k < 5; k++) await sender.shout('g', `m${k}`)
  await until(() => logs.every((log, i) => members[i] === sender || log.filter(e => e.type === 'shout').length >= 5), 10_000, 'a member missed a shout')
  await sleep(300)
  for (const [i, log] of logs.entries()) {
    if (members[i] === sender) continue
    t.deepEqual(log.filter(e => e.type === 'shout').map(e => e.type === 'shout' ? e.data : null).sort(), ['m0', 'm1', 'm2', 'm3', 'm4'])
  }
  for (const n of nodes.filter((_, i) => i % 2 === 1)) t.false(record(n).some(e => e.type === 'shout'))
})

test('a partial mesh: a join, a crash and a graceful leave reach every node', async t => {
  const nodes = await partialMesh(t)
  const [joiner, crasher, leaver] = [nodes[3], nodes[8], nodes[12]]
  const others = nodes.filter(n => n !== crasher && n !== leaver)

  const joined = others.filter(n => n !== joiner).map(async n => await next(n, 'join', e => e.peer.id === joiner.id && e.group === 'late', 10_000))
  await joiner.join('late')
  await Promise.all(joined)
  t.pass('join seen by all')

  const lost = others.map(async n => await next(n, 'exit', e => e.peer.id === crasher.id, 15_000))
  // libp2p stops under Shoal: connections close with no goodbye, as in a crash.
  await crasher.libp2p.stop()
  for (const e of await Promise.all(lost)) t.is(e.reason, 'lost')

  const left = others.map(async n => await next(n, 'exit', e => e.peer.id === leaver.id, 10_000))
  await leaver.stop()
  for (const e of await Promise.all(left)) t.is(e.reason, 'left')
  await until(() => others.every(n => n.peers().length === others.length - 1), 10_000, 'views did not settle')
})

test('a partial mesh: after a partition heals, the halves find each other again through discovery', async t => {
  t.timeout(90_000)
  // Each half keeps its degree within itself while cut off, so no one is short of connections
  // when it heals: only the peers heard of again on the LAN, strangers now, bring the halves together.
  const nodes: ShoalNode[] = []
  const { gater, split, heal } = firewall(nodes)
  const bus = new LanBus({ reannounceInterval: 500 })
  const n = 12
  for (let i = 0; i < n; i++) {
    nodes.push(await start(t, memoryOptions({ name: `q${i}`, degree: DEGREE, profile: 'local', discovery: [lanDiscovery(bus)], connectionGater: gater(i) })))
  }
  await until(() => nodes.every(x => x.peers().length === n - 1), 30_000, 'views did not converge')

  split(i => i < n / 2 ? 0 : 1)
  await until(() => nodes.every(x => x.peers().length === n / 2 - 1), 20_000, 'halves did not see each other go')
  // Long enough for every tombstone of the other side to be gone too.
  await sleep(1000)
  heal()
  await until(() => nodes.every(x => x.peers().length === n - 1), 30_000, 'halves did not find each other again')
  t.pass()
})

test('degree is checked: an integer from 2 to maxPeers', async t => {
  const { createNode, ConfigError } = await import('../src/index.js')
  for (const degree of [1, 2.5, 500]) await t.throwsAsync(createNode(memoryOptions({ degree })), { instanceOf: ConfigError })
})
