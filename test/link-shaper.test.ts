import test from 'ava'
import { tcp } from '@libp2p/tcp'
import { memory } from '@libp2p/memory'
import { LinkShaper } from '../sim/link-shaper.js'
import { memoryOptions, tcpOptions, startMesh, until, sleep } from './helpers.js'
import type { ShoalNode } from '../src/index.js'

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

async function roundTrips (a: ShoalNode, b: ShoalNode, n: number): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    await a.request(b.id, 'echo', i, { timeout: 5000 })
    out.push(performance.now() - t0)
  }
  return out
}

for (const [name, options, transport] of [['memory', memoryOptions, memory], ['TCP', tcpOptions, tcp]] as const) {
  test(`${name}: a link's latency delays every byte one way, in order, and only on the links a rule names`, async t => {
    const shaper = new LinkShaper()
    const [a, b, c] = await startMesh(t, 3, i => options({ name: `n${i}`, transports: [shaper.transport(transport())], connectionGater: shaper.gater() }))
    for (const n of [a, b, c]) n.handle('echo', ({ data }) => data)
    const before = median(await roundTrips(a, b, 10))

    // 40 ms ± 15 each way between a and b; c's links keep no delay.
    shaper.set({ ms: 0, jitter: 0 }, [{ ms: 40, jitter: 15, a: [a.id], b: [b.id] }])
    const slow = await roundTrips(a, b, 10)
    t.true(Math.min(...slow) >= 50, `a-b round trips ${slow.map(x => x.toFixed(0)).join(' ')} ms: at least 2 x (40 - 15)`)
    t.true(median(slow) >= before + 60, `median ${median(slow).toFixed(0)} ms vs ${before.toFixed(1)} ms unshaped`)
    const fast = median(await roundTrips(a, c, 10))
    t.true(fast < 40, `a-c is not shaped: ${fast.toFixed(1)} ms`)

    // Jitter never reorders: 100 whispers sent back to back arrive in the order sent.
    const got: number[] = []
    b.on('whisper', e => { got.push(e.data as number) })
    for (let i = 0; i < 100; i++) void a.whisper(b.id, i)
    await until(() => got.length === 100, 10_000, 'whispers did not all arrive')
    t.deepEqual(got, Array.from({ length: 100 }, (_, i) => i))
  })
}

test('memory: a stalled node\'s bytes are held both ways while its connections stay open, and all arrive after the stall', async t => {
  const shaper = new LinkShaper()
  const [a, b] = await startMesh(t, 2, i => memoryOptions({ name: `n${i}`, transports: [shaper.transport(memory())], connectionGater: shaper.gater() }))
  const toB: number[] = []
  const toA: number[] = []
  b.on('whisper', e => { toB.push(e.data as number) })
  a.on('whisper', e => { toA.push(e.data as number) })
  shaper.stall(b.id, true)
  const sent = [a.whisper(b.id, 1), b.whisper(a.id, 2)]
  await sleep(500)
  t.deepEqual([toB, toA], [[], []], 'nothing crosses while b is stalled')
  t.true(a.libp2p.getConnections(b.libp2p.peerId).length > 0, 'the connection stays open')
  shaper.stall(b.id, false)
  await Promise.all(sent)
  await until(() => toB.length === 1 && toA.length === 1, 5000, 'held whispers did not arrive after the stall')
  t.deepEqual([toB, toA], [[1], [2]])
})

test('memory: a crashed node\'s connections are reset and nothing it sends arrives; every shaped link is released', async t => {
  const shaper = new LinkShaper()
  const [a, b] = await startMesh(t, 2, i => memoryOptions({ name: `n${i}`, transports: [shaper.transport(memory())], connectionGater: shaper.gater() }))
  const left: string[] = []
  a.on('exit', e => { left.push(e.reason) })
  t.true(shaper.size > 0)
  shaper.crash(b.id)
  await b.stop()
  // No goodbye got through: a finds b lost, not left.
  await until(() => left.length > 0, 15_000, 'a never noticed the crash')
  t.deepEqual(left, ['lost'])
  await a.stop()
  await until(() => shaper.size === 0, 2000, `${shaper.size} shaped links still open`)
  t.pass()
})
