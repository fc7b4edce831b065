import test from 'ava'
import { AckTracker } from '../src/presence/acks.js'
import { PendingDeliveries } from '../src/presence/pending.js'
import { sleep } from './helpers.js'

test('an ack wait resolves once every peer acknowledged that version or a later one', async t => {
  const acks = new AckTracker(5000, () => t.fail('timed out'))
  let done = false
  const waiting = acks.wait(['a', 'b'], 3).then(() => { done = true })
  acks.ack('a', 3)
  acks.ack('b', 2) // an older version does not count
  await sleep(10)
  t.false(done)
  acks.ack('b', 4)
  await waiting
  t.true(done)
  await acks.wait(['a', 'b'], 3) // already acknowledged: resolves at once
})

test('an ack wait does not wait for a peer that is gone, nor past its timeout or an abort', async t => {
  const timeouts: number[] = []
  const acks = new AckTracker(50, missing => timeouts.push(missing))
  const gone = acks.wait(['a'], 1)
  acks.forget('a')
  await gone
  const t0 = Date.now()
  await acks.wait(['x', 'y'], 1)
  t.true(Date.now() - t0 >= 45)
  t.deepEqual(timeouts, [2])
  const controller = new AbortController()
  const aborted = acks.wait(['z'], 1, controller.signal)
  controller.abort()
  await aborted
  const cleared = acks.wait(['w'], 1)
  acks.clear()
  await cleared
  t.pass()
})

test('held deliveries are released in order once the peer introduces itself', t => {
  const drops: string[] = []
  const pending = new PendingDeliveries(3, 5000, (peer, count, why) => drops.push(`${peer}:${count}:${why}`))
  const got: number[] = []
  for (let i = 0; i < 5; i++) pending.hold('p', () => got.push(i))
  t.deepEqual(got, [])
  pending.release('p')
  t.deepEqual(got, [0, 1, 2])
  t.deepEqual(drops, ['p:1:more than 3 held', 'p:1:more than 3 held'])
  pending.release('p') // nothing left, nothing delivered twice
  t.deepEqual(got, [0, 1, 2])
  pending.clear()
})

test('held deliveries are dropped, and reported, when no hello comes in time', async t => {
  const drops: string[] = []
  const pending = new PendingDeliveries(10, 30, (peer, count) => drops.push(`${peer}:${count}`))
  let delivered = false
  pending.hold('q', () => { delivered = true })
  pending.hold('q', () => { delivered = true })
  await sleep(60)
  pending.release('q')
  t.false(delivered)
  t.deepEqual(drops, ['q:2'])
})
