import test from 'ava'
import type { ShoalNode } from '../src/index.js'
import { memoryOptions, tcpOptions, startMesh, until, sleep } from './helpers.js'

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
