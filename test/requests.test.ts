import test from 'ava'
import {
  NodeStoppedError, NoHandlerError, PeerLostError, PeerNotFoundError, RemoteError, RequestTimeoutError, InvalidArgumentError,
  NotEnoughRepliesError
} from '../src/index.js'
import { memoryOptions, tcpOptions, startMesh, sleep, until } from './helpers.js'

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

// Request and reply frames over 64 bytes are slices of Node's buffer pool, and the stack seals
// messages from 512 bytes up with OpenSSL: bytes of every size around those lines, many in
// flight on one connection (pool slices made one after another), and texts too, come back whole.
test('payloads around the frame pool\'s and the cipher\'s size lines come back byte for byte, many in flight', async t => {
  const [a, b] = await startMesh(t, 2, i => tcpOptions({ name: `n${i}` }))
  b.handle('echo', ({ data }) => data)
  const sizes = [0, 1, 50, 60, 64, 65, 100, 500, 511, 512, 513, 1000, 1024, 1199, 1200, 4000, 9000, 70_000]
  const sent = sizes.flatMap((size, i) => [0, 1, 2].map(k => Uint8Array.from({ length: size }, (_, j) => (i * 7 + k * 13 + j * 31) & 0xff)))
  const back = await Promise.all(sent.map(async data => await a.request(b.id, 'echo', data)))
  back.forEach((got, i) => { t.true(got instanceof Uint8Array && Buffer.from(got).equals(Buffer.from(sent[i])), `payload ${i} (${sent[i].length} B) differs`) })
  const text = 'ü'.repeat(700)
  t.is(await a.request(b.id, 'echo', text), text)
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

test('gather asks every other member of a group: replies, members without the handler, and failures are told apart', async t => {
  const nodes = await startMesh(t, 6, i => memoryOptions({ name: `n${i}`, groups: i < 5 ? ['files'] : [] }))
  const [asker, ...rest] = nodes
  // n1-n3 serve; n3's handler fails; n4 is a member without the handler; n5 is not a member.
  for (const n of rest.slice(0, 3)) n.handle('has', ({ data }) => { if (n.name === 'n3') throw new Error('broken disk'); return `${n.name} has ${String(data)}` })
  rest[4].handle('has', () => 'not a member, never asked')
  await until(() => asker.peersIn('files').length === 4, 5000)
  const result = await asker.gather('files', 'has', 'x.txt', { timeout: 2000 })
  t.deepEqual(result.replies.map(r => r.data).sort(), ['n1 has x.txt', 'n2 has x.txt'])
  t.deepEqual(result.replies.map(r => r.peer.name).sort(), ['n1', 'n2'])
  t.deepEqual(result.noHandler.map(p => p.name), ['n4'])
  t.deepEqual(result.missing.map(m => m.peer.name), ['n3'])
  t.true(result.missing[0].error instanceof RemoteError)

  // max: stop at the first reply; min: too few replies is an error that still carries them.
  t.is((await asker.gather('files', 'has', 'y', { max: 1 })).replies.length, 1)
  const err = await t.throwsAsync(asker.gather('files', 'has', 'z', { min: 3 }), { instanceOf: NotEnoughRepliesError })
  t.is((err as NotEnoughRepliesError).result.replies.length, 2)
})

test('gatherEach yields answers as they come, a slow member\'s after a fast one\'s, and a silent one times out', async t => {
  const nodes = await startMesh(t, 4, i => memoryOptions({ name: `n${i}`, groups: ['g'] }))
  const [asker, fast, slow, silent] = nodes
  fast.handle('q', () => 'fast')
  slow.handle('q', async () => { await sleep(300); return 'slow' })
  silent.handle('q', async () => await new Promise(() => {}))
  const seen: string[] = []
  for await (const item of asker.gatherEach('g', 'q', null, { timeout: 1000 })) {
    seen.push(item.type === 'reply' ? String(item.data) : `${item.type}:${item.peer.name}`)
  }
  t.deepEqual(seen, ['fast', 'slow', 'failed:n3'])
})

test('one signal passed to many requests: aborting it rejects them all with its reason, without a listener per request', async t => {
  const [a, b] = await startMesh(t, 2, i => memoryOptions({ name: `n${i}` }))
  b.handle('hang', async () => await new Promise(() => {}))
  b.handle('echo', ({ data }) => data)
  const warnings: string[] = []
  const onWarning = (w: Error): void => { warnings.push(w.name) }
  process.on('warning', onWarning)
  t.teardown(() => { process.off('warning', onWarning) })
  const controller = new AbortController()
  // Requests that finish stop watching the signal; the pending ones all hear its abort.
  t.deepEqual(await Promise.all(Array.from({ length: 30 }, async (_, i) => await a.request(b.id, 'echo', i, { signal: controller.signal }))), Array.from({ length: 30 }, (_, i) => i))
  const pending = Array.from({ length: 50 }, async () => await a.request(b.id, 'hang', null, { signal: controller.signal, timeout: 30_000 }))
  await sleep(50)
  controller.abort(new Error('enough'))
  for (const p of pending) await t.throwsAsync(p, { message: 'enough' })
  await t.throwsAsync(a.request(b.id, 'echo', 1, { signal: controller.signal }), { message: 'enough' })
  await sleep(10) // warnings are emitted on the next tick
  t.false(warnings.includes('MaxListenersExceededWarning'))
})

test('requests with different timeouts each time out on their own, and the short ones do not wait for the long ones', async t => {
  const [a, b] = await startMesh(t, 2, i => memoryOptions({ name: `n${i}` }))
  b.handle('hang', async () => await new Promise(() => {}))
  b.handle('echo', ({ data }) => data)
  const t0 = Date.now()
  const settled = async (timeout: number): Promise<number> => {
    await t.throwsAsync(a.request(b.id, 'hang', null, { timeout }), { instanceOf: RequestTimeoutError })
    return Date.now() - t0
  }
  // Longest first: a later, shorter deadline must still fire first.
  const [long, short, middle] = await Promise.all([settled(900), settled(150), settled(400)])
  t.true(short >= 140 && short < middle && middle < long, `${short} / ${middle} / ${long} ms`)
  t.true(middle >= 390 && long >= 890, `${middle} / ${long} ms`)
  // Answered requests leave nothing behind to time out.
  t.is(await a.request(b.id, 'echo', 'still fine', { timeout: 100 }), 'still fine')
})
