// A node's own shouts are paced below maxInboundShouts, the rate every receiver accepts from one
// sender: a fast honest sender is slowed down where it can see it, instead of losing shouts
// silently at every receiver.
import test from 'ava'
import { spawn } from 'node:child_process'
import { RateLimitedError, type ShoalNode } from '../src/index.js'
import { memoryOptions, tcpOptions, startMesh, until, sleep } from './helpers.js'
import { fixture } from './child.js'

/** The numbered shouts each of `nodes` received from `from`. */
function received (nodes: ShoalNode[], from: ShoalNode): Array<Set<number>> {
  return nodes.map(n => {
    const got = new Set<number>()
    n.on('shout', e => { if (e.from.id === from.id && typeof e.data === 'number') got.add(e.data) })
    return got
  })
}

test('a node shouting in a tight loop faster than maxInboundShouts is paced: every shout reaches every member, none is rate-limited', async t => {
  // TCP: a shout's gossip and direct copies (both sent on a new connection) can come in one read.
  const [sender, ...others] = await startMesh(t, 3, i => tcpOptions({ name: `n${i}`, groups: ['g'], maxInboundShouts: 20 }))
  const got = received(others, sender)
  const count = 60
  const t0 = Date.now()
  for (let i = 0; i < count; i++) await sender.shout('g', i)
  const took = Date.now() - t0
  await until(() => got.every(s => s.size === count), 15_000, `shouts lost (${got.map(s => s.size).join(', ')} of ${count})`)
  t.deepEqual(others.map(n => n.stats().rateLimited), [0, 0])
  // Paced to 3/4 of 20 a second after a burst of 5: the 60th waited for 55 more turns.
  t.true(took >= 55 / 15 * 1000 - 50, `60 shouts went out in ${took} ms: not paced`)
})

test('a sender that does not pace (its own limit set far higher) loses shouts at receivers holding the limit', async t => {
  // The control for the test above: the same loop unpaced is over the receivers' limit.
  const [sender, ...others] = await startMesh(t, 3, i => memoryOptions({ name: `n${i}`, groups: ['g'], maxInboundShouts: i === 0 ? 100_000 : 20 }))
  const got = received(others, sender)
  for (let i = 0; i < 60; i++) await sender.shout('g', i)
  await until(() => others.every(n => n.stats().rateLimited > 0), 10_000, 'no receiver rate-limited the unpaced sender')
  await sleep(500)
  t.true(got.every(s => s.size < 60), `received ${got.map(s => s.size).join(', ')} of 60`)
})

test('a shout whose signal aborts while it waits for its turn rejects with the abort reason; the shouts behind it still go out', async t => {
  // 4 a second accepted per sender: a burst of 1, then a turn every 1/3 s.
  const [sender, receiver] = await startMesh(t, 2, i => memoryOptions({ name: `n${i}`, groups: ['g'], maxInboundShouts: 4 }))
  const [got] = received([receiver], sender)
  await sender.shout('g', 0)
  const controller = new AbortController()
  let settled = false
  const aborted = sender.shout('g', 1, { signal: controller.signal }).finally(() => { settled = true })
  const behind = sender.shout('g', 2)
  await sleep(50)
  t.false(settled, 'the second shout did not wait for its turn')
  controller.abort(new Error('user gave up'))
  await t.throwsAsync(aborted, { message: 'user gave up' })
  await behind
  await until(() => got.has(2), 5000, 'the shout behind the aborted one did not arrive')
  t.deepEqual([...got].sort(), [0, 2])
})

test('a shout whose turn is further off than sendTimeout rejects at once with RateLimitedError', async t => {
  // A burst of 1, then a turn every 1/3 s: within 1 s, three more.
  const [sender, receiver] = await startMesh(t, 2, i => memoryOptions({ name: `n${i}`, groups: ['g'], maxInboundShouts: 4, sendTimeout: 1000 }))
  const [got] = received([receiver], sender)
  const results = await Promise.allSettled(Array.from({ length: 10 }, async (_, i) => { await sender.shout('g', i) }))
  const refused = results.flatMap(r => r.status === 'rejected' ? [r.reason] : [])
  t.is(refused.length, 6)
  for (const err of refused) {
    t.true(err instanceof RateLimitedError)
    t.is(err.code, 'ERR_RATE_LIMITED')
  }
  await until(() => got.size === 4, 5000, `received ${got.size} of the 4 shouts that went out`)
  t.deepEqual([...got].sort(), [0, 1, 2, 3])
})

test('a node stopped while shouts wait for their turn rejects them with NodeStoppedError and leaves no timer behind', async t => {
  const proc = spawn(process.execPath, [fixture('paced-stop')], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  proc.stdout.on('data', d => { out += String(d) })
  // The next turn was 13 s away: a pacing timer left behind would keep the process up that long.
  const code = await new Promise<number | null>(resolve => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); resolve(null) }, 8000)
    proc.on('exit', c => { clearTimeout(timer); resolve(c) })
  })
  t.is(code, 0, 'process did not exit by itself after stop()')
  t.deepEqual(JSON.parse(out), { waiting: ['NodeStoppedError', 'NodeStoppedError', 'NodeStoppedError'] })
})
