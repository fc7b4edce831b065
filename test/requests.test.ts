import test from 'ava'
import {
  NodeStoppedError, NoHandlerError, PeerLostError, PeerNotFoundError, RemoteError, RequestTimeoutError, InvalidArgumentError
} from '../src/index.js'
import { memoryOptions, tcpOptions, startMesh, sleep } from './helpers.js'

test('a request gets its handler\'s reply, for every kind of payload, and the handler sees who asked', async t => {
  const [a, b] = await startMesh(t, 2, i => memoryOptions({ name: `n${i}` }))
  const askers: string[] = []
  b.handle('echo', async ({ from, data }) => { askers.push(from.name); return data })
  for (const data of ['text', new Uint8Array([1, 2, 3]), { nested: [1, 'two', null] }, 42]) {
    t.deepEqual(await a.request(b.id, 'echo', data), data)
  }
  t.deepEqual(askers, ['n0', 'n0', 'n0', 'n0'])
})

test('many requests in flight on one connection each get their own reply, whatever the order of completion', async t => {
  const [a, b] = await startMesh(t, 2, i => tcpOptions({ name: `n${i}` }))
  // Later requests finish first: replies must be matched by id, not by order.
  b.handle('square', async ({ data }) => { const n = data as number; await sleep((200 - n) % 20); return n * n })
  const ns = Array.from({ length: 200 }, (_, i) => i)
  const replies = await Promise.all(ns.map(async n => await a.request(b.id, 'square', n)))
  t.deepEqual(replies, ns.map(n => n * n))
})

test('an unknown service rejects at once with NoHandlerError, not after the timeout', async t => {
  const [a, b] = await startMesh(t, 2, i => memoryOptions({ name: `n${i}` }))
  const t0 = Date.now()
  const err = await t.throwsAsync(a.request(b.id, 'nope', 1, { timeout: 5000 }), { instanceOf: NoHandlerError })
  t.is(err?.code, 'ERR_NO_HANDLER')
  t.true(Date.now() - t0 < 1000)
  // A handler removed is gone too.
  const off = b.handle('brief', () => 'here')
  t.is(await a.request(b.id, 'brief', null), 'here')
  off()
  await t.throwsAsync(a.request(b.id, 'brief', null), { instanceOf: NoHandlerError })
})

test('a handler that throws, or replies with something unsendable, gives the requester a RemoteError with the message', async t => {
  const [a, b] = await startMesh(t, 2, i => memoryOptions({ name: `n${i}` }))
  b.handle('fail', () => { throw new Error('disk on fire') })
  b.handle('bad', () => (() => {}) as any)
  const err = await t.throwsAsync(a.request(b.id, 'fail', null), { instanceOf: RemoteError })
  t.regex(err?.message ?? '', /disk on fire/)
  t.is((err as RemoteError).remoteMessage, 'disk on fire')
  await t.throwsAsync(a.request(b.id, 'bad', null), { instanceOf: RemoteError, message: /JSON/ })
  // The node that failed keeps serving.
  b.handle('ok', () => 'fine')
  t.is(await a.request(b.id, 'ok', null), 'fine')
})

test('no reply within the timeout rejects with RequestTimeoutError; an aborted signal rejects with its reason', async t => {
  const [a, b] = await startMesh(t, 2, i => memoryOptions({ name: `n${i}` }))
  b.handle('slow', async ({ signal }) => { await new Promise(resolve => { signal.addEventListener('abort', resolve) }); return 'late' })
  const err = await t.throwsAsync(a.request(b.id, 'slow', null, { timeout: 200 }), { instanceOf: RequestTimeoutError })
  t.is(err?.code, 'ERR_REQUEST_TIMEOUT')
  const controller = new AbortController()
  const pending = a.request(b.id, 'slow', null, { signal: controller.signal })
  controller.abort(new Error('changed my mind'))
  await t.throwsAsync(pending, { message: 'changed my mind' })
})

test('a peer that crashes or leaves mid-request rejects it with PeerLostError; its handlers for a gone requester are aborted', async t => {
  const [a, b, c] = await startMesh(t, 3, i => memoryOptions({ name: `n${i}` }))
  const started = (node: typeof b): Promise<void> => new Promise(resolve => {
    node.handle('hang', async ({ signal }) => { resolve(); await new Promise(() => {}); return signal.aborted })
  })
  const bStarted = started(b)
  const toB = a.request(b.id, 'hang', null, { timeout: 30_000 })
  await bStarted
  await b.libp2p.stop() // a crash: connections drop without a goodbye
  const err = await t.throwsAsync(toB, { instanceOf: PeerLostError })
  t.is(err?.code, 'ERR_PEER_LOST')

  // The requester goes away: the handler serving it is told through its signal.
  let aborted: (reason: unknown) => void = () => {}
  const abortSeen = new Promise(resolve => { aborted = resolve })
  c.handle('watch', async ({ signal }) => { signal.addEventListener('abort', () => { aborted(signal.reason) }); return await new Promise(() => {}) })
  const orphan = a.request(c.id, 'watch', null, { timeout: 30_000 })
  await sleep(100)
  await a.stop()
  await t.throwsAsync(orphan, { instanceOf: NodeStoppedError })
  t.true(await abortSeen instanceof PeerLostError)
})

test('bad arguments reject with typed errors before anything is sent', async t => {
  const [a] = await startMesh(t, 2, i => memoryOptions({ name: `n${i}` }))
  await t.throwsAsync(a.request('12D3KooWnotapeer', 'x', 1), { instanceOf: PeerNotFoundError })
  await t.throwsAsync(a.request(a.peers()[0].id, '', 1), { instanceOf: InvalidArgumentError })
  await t.throwsAsync(a.request(a.peers()[0].id, 'x', undefined as any), { instanceOf: InvalidArgumentError })
  t.throws(() => a.handle('x', 'not a function' as any), { instanceOf: InvalidArgumentError })
})
