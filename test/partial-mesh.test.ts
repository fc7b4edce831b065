import test, { type ExecutionContext } from 'ava'
import type { ShoalNode, ShoalEvent, NodeOptions } from '../src/index.js'
import { LanBus, lanDiscovery } from '../sim/lan-bus.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { memoryOptions, tcpOptions, start, until, next, record, sleep, firewall } from './helpers.js'
import { startChild } from './child.js'

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

/**
 * A line, fixed by the nodes' gaters: n0 - n1 - ... - n(M-1). A peer not in the line may connect
 * to n0 alone. Each node's gater refuses its own dials past its neighbours, as an application's
 * policy would.
 */
async function line (t: ExecutionContext, M: number, options: Partial<NodeOptions>): Promise<{ nodes: ShoalNode[], ids: string[] }> {
  const keys = await Promise.all(Array.from({ length: M }, async () => await generateKeyPair('Ed25519')))
  const ids = keys.map(k => peerIdFromPrivateKey(k).toString())
  const edge = (i: number, peer: string): boolean => {
    const j = ids.indexOf(peer)
    return j === -1 ? i === 0 : Math.abs(i - j) === 1
  }
  const nodes: ShoalNode[] = []
  for (let i = 0; i < M; i++) {
    const deny = (peer: { toString: () => string }): boolean => !edge(i, peer.toString())
    nodes.push(await start(t, tcpOptions({
      ...options, name: `n${i}`, privateKey: keys[i], degree: 2, bootstrap: i > 0 ? nodes[i - 1].addresses() : [],
      connectionGater: { denyDialPeer: deny, denyInboundEncryptedConnection: deny, denyOutboundEncryptedConnection: deny }
    })))
  }
  return { nodes, ids }
}

test('a partial mesh: a live peer this node\'s own gater keeps it from is not suspected', async t => {
  // Each node now and then dials a peer it is not connected to (rotation), and a refused dial is
  // a suspicion. Here every such dial is refused by the dialler's own gater: about 7 in the window.
  const { nodes } = await line(t, 6, { profile: 'lan', presence: { syncInterval: 1000 } })
  await until(() => nodes.every(n => n.peers().length === 5), 30_000, 'views did not converge along the line')
  const logs = nodes.map(record)
  await sleep(6000)
  const suspicions = logs.flatMap((log, i) => log.filter(e => e.type === 'suspect').map(e => `n${i} suspects ${e.type === 'suspect' ? e.peer.name : ''}`))
  t.deepEqual(suspicions, [])
  for (const n of nodes) t.is(n.peers().length, 5)
})

test('a partial mesh: a suspicion crosses the mesh while the nodes keep up, and stays with the suspect\'s neighbourhood when they are late', async t => {
  // A line, fixed by the nodes' gaters: child - n0 - n1 - ... - n5. The child (its own process,
  // so it can be frozen) is let in by n0 alone; n0 is its only prober.
  // 'wifi': a node keeps up while its loop runs less than 500 ms late (the probe timeout).
  const M = 6
  const { nodes, ids } = await line(t, M, { profile: 'wifi' })
  // The child's own allow list keeps it from dialling past n0 (its dials refused at the far end
  // would be connections that open and close at once, taken for failures).
  const child = await startChild(t, tcpOptions({ name: 'child', degree: 2, profile: 'wifi', bootstrap: nodes[0].addresses(), allow: [ids[0]] }))
  await until(() => nodes.every(n => n.peers().length === M), 30_000, 'views did not converge along the line')

  /**
   * Freezes the child until n0 suspects it (running `onSuspect` then) and thaws it. Returns each
   * node's events about the child, and those of the first episode alone: the ones heard before
   * n1 heard the child refute (a thawed child busy with its backlog may be suspected once more).
   */
  const suspicion = async (onSuspect: () => void): Promise<{ all: string[][], first: string[][] }> => {
    // From a calm start: a suspicion left over from the mesh forming (a busy machine) must be over.
    await until(() => nodes.every(n => n.peer(child.id)?.state === 'alive'), 30_000, 'the child is not alive everywhere')
    await sleep(1000)
    const logs = nodes.map(record)
    const heardAt = logs.map(() => new Map<ShoalEvent, number>())
    for (const [i, n] of nodes.entries()) for (const type of ['suspect', 'alive'] as const) n.on(type, e => heardAt[i].set(e, Date.now()))
    const suspected = next(nodes[0], 'suspect', e => { if (e.peer.id === child.id) onSuspect(); return e.peer.id === child.id }, 15_000)
    child.proc.kill('SIGSTOP')
    await suspected
    // Frozen a little longer, so that news of the suspicion (if passed on) is all over the line
    // before the refutation: else the two race, and the refutation can hide a relay that happened.
    await sleep(300)
    child.proc.kill('SIGCONT')
    await next(nodes[1], 'alive', e => e.peer.id === child.id, 10_000)
    const refuted = Date.now()
    await sleep(2000)
    for (const n of nodes) t.is(n.peer(child.id)?.state, 'alive')
    const about = logs.map(log => log.filter(e => 'peer' in e && e.peer.id === child.id))
    return {
      all: about.map(a => a.map(e => e.type)),
      first: about.map((a, i) => a.filter(e => (heardAt[i].get(e) ?? Infinity) <= refuted).map(e => e.type))
    }
  }
  const show = (events: string[][]): string => events.map((a, i) => `n${i}: ${a.join(' ') || '-'}`).join('; ')

  const calm = await suspicion(() => {})
  t.log('on time:', show(calm.all), '| first episode:', show(calm.first))
  for (const [i, a] of calm.all.entries()) t.true(a[0] === 'suspect' && a.at(-1) === 'alive' && !a.includes('exit'), `n${i}: ${a.join(' ')}`)
  for (const [i, a] of calm.first.entries()) t.is(a[0], 'suspect', `n${i} did not hear of the suspicion before the refutation`)

  // The process stalls (every node in it runs late) just as n0 tells n1: n1 keeps it to itself.
  const late = await suspicion(() => { const until = Date.now() + 1000; while (Date.now() < until); })
  t.log('late:', show(late.all), '| first episode:', show(late.first))
  for (const i of [0, 1]) t.true(late.all[i][0] === 'suspect' && late.all[i].at(-1) === 'alive', `n${i}: ${late.all[i].join(' ')}`)
  for (let i = 2; i < M; i++) t.deepEqual(late.first[i], [], `n${i} heard of the suspicion raised in the stall`)
})

test('degree is checked: an integer from 2 to maxPeers', async t => {
  const { createNode, ConfigError } = await import('../src/index.js')
  for (const degree of [1, 2.5, 500]) await t.throwsAsync(createNode(memoryOptions({ degree })), { instanceOf: ConfigError })
})
