import test from 'ava'
import { AckTracker } from '../src/presence/acks.js'
import { PendingDeliveries } from '../src/presence/pending.js'
import { Suspicions } from '../src/presence/suspicion.js'
import { PROFILES, suspicionBounds } from '../src/presence/profile.js'
import { viewDigest } from '../src/presence/digest.js'
import { signState, verifyState } from '../src/presence/signed-state.js'
import { stateBody } from '../src/codec/frame.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
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

test('suspicion timeout: longest with one reporter, shrinking with confirmations to the shortest', t => {
  const s = new Suspicions({ bounds: () => ({ min: 1000, max: 6000 }), expectedConfirmations: 3, onExpire: () => {} })
  t.is(s.timeout(0), 6000)
  t.true(s.timeout(1) < 6000 && s.timeout(1) > s.timeout(2))
  t.is(s.timeout(3), 1000)
  t.is(s.timeout(10), 1000)
  t.deepEqual(suspicionBounds(PROFILES.lan, 100), { min: 2000, max: 6000 })
  t.deepEqual(suspicionBounds(PROFILES.lan, 3), { min: 1000, max: 3000 }) // never below one log10 step
})

test('a suspicion expires unless cleared; confirmations from the same reporter do not count twice; newer versions restart it', async t => {
  const expired: Array<[string, number]> = []
  const s = new Suspicions({ bounds: () => ({ min: 40, max: 400 }), expectedConfirmations: 2, onExpire: (p, v) => expired.push([p, v]) })
  t.is(s.report('x', 1, 'a'), 'new')
  t.is(s.report('x', 1, 'a'), 'known')
  t.is(s.report('x', 1, 'b'), 'confirmed')
  t.is(s.report('x', 1, 'c'), 'confirmed') // two confirmations: the shortest timeout, 40 ms
  t.is(s.report('y', 1, 'a'), 'new')
  s.clear('y')
  await sleep(100)
  t.deepEqual(expired, [['x', 1]])
  t.false(s.has('x'))
  t.is(s.report('z', 1, 'a'), 'new')
  t.is(s.report('z', 2, 'a'), 'new') // the suspect moved on to version 2: a fresh suspicion
  s.clearAll()
})

test('view digests agree exactly when membership and versions agree', t => {
  const a = viewDigest([['p1', 3], ['p2', 5]])
  t.deepEqual(viewDigest([['p2', 5], ['p1', 3]]), a) // order does not matter
  t.notDeepEqual(viewDigest([['p1', 3], ['p2', 6]]), a)
  t.notDeepEqual(viewDigest([['p1', 3]]), a)
  t.is(a.count, 2)
  t.true(Number.isSafeInteger(a.hash))
})

test('a suspicion that runs out while this node was stalled is extended by the stall, once per stall', async t => {
  const expired: number[] = []
  let stall = 60
  const s = new Suspicions({ bounds: () => ({ min: 30, max: 60 }), expectedConfirmations: 0, stallSince: () => stall, onExpire: () => expired.push(Date.now()) })
  const t0 = Date.now()
  s.report('x', 1, 'a')
  await sleep(60)
  t.deepEqual(expired, []) // 30 ms timeout, but a 60 ms stall (at most the longest timeout): extended to 90 ms
  stall = 0
  await sleep(80)
  t.is(expired.length, 1)
  t.true(expired[0] - t0 >= 85)
})

test('a signed state verifies only for its owner and only unaltered', async t => {
  const key = await generateKeyPair('Ed25519')
  const other = await generateKeyPair('Ed25519')
  const id = peerIdFromPrivateKey(key).toString()
  const signed = await signState(key, { name: 'a', headers: {}, groups: ['g'], ver: 3, addrs: [] })
  t.true(await verifyState(id, signed))
  t.false(await verifyState(peerIdFromPrivateKey(other).toString(), signed))
  const forged = { ...signed.state, groups: ['g', 'admins'] }
  t.false(await verifyState(id, { ...signed, state: forged, body: stateBody(forged) }))
  t.false(await verifyState('not-a-peer-id', signed))
  const rsa = await generateKeyPair('RSA', 1024)
  t.false(await verifyState(peerIdFromPrivateKey(rsa).toString(), await signState(rsa, signed.state)), 'RSA ids do not carry their key')
})
