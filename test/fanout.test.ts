import test from 'ava'
import type { ShoalNode } from '../src/index.js'
import { TOPIC_PREFIX } from '../src/groups/groups.js'
import { firewall, memoryOptions, tcpOptions, startMesh, until, sleep } from './helpers.js'

// In a file of its own so that ava runs it in a separate worker: twelve-node meshes on both
// transports would otherwise starve the timers of every other mesh test in the same process.

/** Counts shouts per (receiver, sender, body) to check exactly-once delivery. */
function countShouts (nodes: ShoalNode[]): Map<string, number> {
  const counts = new Map<string, number>()
  for (const n of nodes) {
    n.on('shout', e => {
      const key = `${n.name}<-${e.from.name}:${JSON.stringify(e.data)}`
      counts.set(key, (counts.get(key) ?? 0) + 1)
    })
  }
  return counts
}

for (const [transport, opts] of [['memory', memoryOptions], ['tcp', tcpOptions]] as const) {
  test(`[${transport}] shouts right after start reach every member of 12 exactly once`, async t => {
    t.timeout(60_000)
    const n = 12
    const perNode = 5
    // startMesh returns as soon as presence converged: gossipsub's mesh is still forming.
    const nodes = await startMesh(t, n, i => opts({ name: `n${i}`, groups: ['g'] }))
    const counts = countShouts(nodes)
    await Promise.all(nodes.map(async node => {
      for (let k = 0; k < perNode; k++) await node.shout('g', { k, from: node.name })
    }))
    const expected = n * (n - 1) * perNode
    await until(() => [...counts.values()].reduce((a, b) => a + b, 0) >= expected, 20_000, 'not every shout arrived')
    await sleep(500) // let any duplicate arrive
    t.is(counts.size, expected)
    t.true([...counts.values()].every(c => c === 1), 'a shout was delivered twice')
    const fallbacks = nodes.reduce((a, node) => a + node.stats().shoutFallbacks, 0)
    t.log(`${expected} deliveries, ${fallbacks} by direct fallback`)
  })
}

// In a full mesh gossipsub's mesh only backs up the author's own sends (see FULL_MESH in
// src/groups/pubsub.ts): each member passes a shout on to a few peers, not to 6-12 who all had it
// already, and a member the author cannot reach still gets every shout through them.
test('[memory] in a full mesh a member passes shouts on to at most 4 peers, and one cut off from the author still gets them all', async t => {
  t.timeout(60_000)
  const n = 8
  const nodes: ShoalNode[] = []
  const wall = firewall(nodes)
  nodes.push(...await startMesh(t, n, i => memoryOptions({ name: `n${i}`, groups: ['g'], connectionGater: wall.gater(i) })))
  const topic = TOPIC_PREFIX + 'g'
  // The gossipsub instance's own view of its mesh (not on its public interface type).
  const meshes = (): number[] => nodes.map(node => (node.libp2p.services.pubsub as unknown as { getMeshPeers: (topic: string) => string[] }).getMeshPeers(topic).length)
  // Gossipsub grafts and prunes on its heartbeat (1 s): a few of them settle the mesh.
  await until(() => meshes().every(size => size >= 2), 10_000, 'gossipsub meshes forming')
  await sleep(3000)
  t.log(`mesh sizes: ${meshes().join(' ')}`)
  t.true(meshes().every(size => size >= 1 && size <= 4), `mesh sizes ${meshes().join(' ')}`)

  const [author, cut] = [nodes[0], nodes[5]]
  wall.separate([[author, cut]])
  await until(() => !cut.libp2p.getConnections().some(c => c.remotePeer.toString() === author.id), 5000, 'the cut')
  const got = new Set<number>()
  cut.on('shout', e => { if (e.from.id === author.id) got.add((e.data as { k: number }).k) })
  for (let k = 0; k < 20; k++) await author.shout('g', { k })
  await until(() => got.size === 20, 15_000, `the cut-off member got ${got.size} of 20 shouts`)
  t.is(got.size, 20)
})
