import test from 'ava'
import { createLibp2p } from 'libp2p'
import { memory } from '@libp2p/memory'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import * as lp from 'it-length-prefixed'
import {
  InvalidArgumentError, MessageTooLargeError, NodeStoppedError, PeerNotFoundError, PeerUnreachableError, ShoalError, createNode
} from '../src/index.js'
import { memoryOptions, tcpOptions, start, startMesh, until, next, record, sleep } from './helpers.js'
import { startChild } from './child.js'

test('whisper to an unknown peer rejects at once with PeerNotFoundError', async t => {
  const a = await start(t, memoryOptions())
  const err = await t.throwsAsync(a.whisper('12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf', 'x'), { instanceOf: PeerNotFoundError })
  t.is(err?.code, 'ERR_PEER_NOT_FOUND')
  t.true(err instanceof ShoalError)
  await t.throwsAsync(a.whisper('not a peer id', 'x'), { instanceOf: PeerNotFoundError })
})

test('messages over the size limit reject with MessageTooLargeError; at the limit they go through', async t => {
  const [a, b] = await startMesh(t, 2, i => memoryOptions({ name: `n${i}`, groups: ['g'], maxMessageSize: 1000 }))
  await t.throwsAsync(a.shout('g', new Uint8Array(1001)), { instanceOf: MessageTooLargeError })
  await t.throwsAsync(a.whisper(b.id, 'x'.repeat(1001)), { instanceOf: MessageTooLargeError })
  const got = next(b, 'whisper')
  await a.whisper(b.id, new Uint8Array(1000))
  t.is(((await got).data as Uint8Array).byteLength, 1000)
})

test('arguments of the wrong type reject with InvalidArgumentError', async t => {
  const [a, b] = await startMesh(t, 2, i => memoryOptions({ name: `n${i}` }))
  await t.throwsAsync(a.shout(123 as any, 'x'), { instanceOf: InvalidArgumentError })
  await t.throwsAsync(a.shout('', 'x'), { instanceOf: InvalidArgumentError })
  await t.throwsAsync(a.join('x'.repeat(300)), { instanceOf: InvalidArgumentError })
  await t.throwsAsync(a.whisper(b.id, undefined as any), { instanceOf: InvalidArgumentError })
  await t.throwsAsync(a.whisper(b.id, (() => 1) as any), { instanceOf: InvalidArgumentError })
  await t.throwsAsync(a.whisper(42 as any, 'x'), { instanceOf: InvalidArgumentError })
})

test('a stopped node rejects calls with NodeStoppedError, and stop() can be called twice', async t => {
  const a = await createNode(memoryOptions())
  await a.stop()
  await a.stop()
  await t.throwsAsync(a.shout('g', 'x'), { instanceOf: NodeStoppedError })
  await t.throwsAsync(a.join('g'), { instanceOf: NodeStoppedError })
  await t.throwsAsync(a.whisper(a.id, 'x'), { instanceOf: NodeStoppedError })
})

test('an aborted signal rejects whisper with the signal reason', async t => {
  const [a, b] = await startMesh(t, 2, i => memoryOptions({ name: `n${i}` }))
  const controller = new AbortController()
  controller.abort(new Error('user gave up'))
  await t.throwsAsync(a.whisper(b.id, 'x', { signal: controller.signal }), { message: 'user gave up' })
})

test('a crashed process (kill -9) is reported lost', async t => {
  const a = await start(t, tcpOptions({ name: 'a' }))
  const child = await startChild(t, tcpOptions({ name: 'child', bootstrap: a.addresses() }))
  await until(() => a.peer(child.id) != null, 10_000, 'child did not enter')
  const exit = next(a, 'exit', e => e.peer.id === child.id)
  const t0 = Date.now()
  child.proc.kill('SIGKILL')
  t.is((await exit).reason, 'lost')
  t.log(`lost reported ${Date.now() - t0} ms after kill -9`)
})

test('a peer that never reads: whisper rejects with PeerUnreachableError in bounded time, others are unaffected', async t => {
  t.timeout(40_000)
  const a = await start(t, tcpOptions({ name: 'a', maxMessageSize: 4 * 1024 * 1024 }))
  const c = await start(t, tcpOptions({ name: 'c', bootstrap: a.addresses() }))
  const frozen = await startChild(t, tcpOptions({ name: 'frozen', bootstrap: a.addresses(), maxMessageSize: 4 * 1024 * 1024 }))
  await until(() => a.peer(frozen.id) != null && a.peer(c.id) != null, 10_000, 'peers did not enter')
  // Traffic first: it grows the stream's flow-control window, which is when a sender that trusts
  // libp2p's onDrain() stops seeing backpressure at all.
  const chunk = new Uint8Array(1024 * 1024)
  for (let i = 0; i < 16; i++) await a.whisper(frozen.id, chunk)
  await until(() => frozen.lines.length >= 17, 10_000, 'warm-up whispers not received')
  frozen.proc.kill('SIGSTOP')
  const rss0 = process.memoryUsage().rss
  const t0 = Date.now()
  let sent = 0
  const err = await (async () => {
    for (;;) {
      try {
        await a.whisper(frozen.id, chunk, { timeout: 1000 })
        sent++
      } catch (err) { return err }
      if (sent > 64) return new Error(`never blocked: ${sent} MiB queued for a peer that does not read`)
    }
  })()
  t.true(err instanceof PeerUnreachableError, String(err))
  t.log(`blocked after ${sent} MiB queued, rejected ${Date.now() - t0} ms after the first send, rss +${(process.memoryUsage().rss - rss0) >> 20} MiB`)
  const got = next(c, 'whisper')
  await a.whisper(c.id, 'still here')
  t.is((await got).data, 'still here')
})

test('an oversized inbound frame is dropped, the sender can carry on, and other peers are unaffected', async t => {
  const a = await start(t, memoryOptions({ name: 'a', maxMessageSize: 64 * 1024 }))
  const big = await start(t, memoryOptions({ name: 'big', maxMessageSize: 1024 * 1024, bootstrap: a.addresses() }))
  const c = await start(t, memoryOptions({ name: 'c', bootstrap: a.addresses() }))
  await until(() => a.peers().length === 2 && big.peer(a.id) != null && c.peer(a.id) != null, 10_000)
  const log = record(a)
  await big.whisper(a.id, new Uint8Array(512 * 1024))
  await until(() => a.stats().malformedDropped === 1, 5000, 'oversized frame not rejected')
  t.is(a.stats().oversizeDropped, 1)
  await until(() => log.some(e => e.type === 'limit' && e.kind === 'size' && e.peerId === big.id && e.dropped === 1), 3000, 'no limit event for the oversized frame')
  await c.whisper(a.id, 'from c')
  // The sender notices its stream was reset and opens a new one; its later messages arrive.
  for (let i = 0; i < 50 && !log.some(e => e.type === 'whisper' && e.data === 'small'); i++) {
    await big.whisper(a.id, 'small').catch(() => {})
    await sleep(100)
  }
  t.true(log.some(e => e.type === 'whisper' && e.data === 'small'), 'sender never got through again')
  t.true(log.some(e => e.type === 'whisper' && e.data === 'from c'))
  t.false(log.some(e => e.type === 'whisper' && (e.data as any) instanceof Uint8Array && (e.data as Uint8Array).byteLength > 64 * 1024))
  t.is(a.peers().length, 2)
})

test('garbage on the wire protocol is dropped and counted; the node keeps serving honest peers', async t => {
  const [a, b] = await startMesh(t, 2, i => memoryOptions({ name: `n${i}`, groups: ['g'] }))
  const rogue = await createLibp2p({ addresses: { listen: [`/memory/rogue-${process.pid}`] }, transports: [memory()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
  t.teardown(async () => { await rogue.stop() })
  // It speaks the protocol (so the node does not hang up on it as a stranger), but badly.
  await rogue.handle('/shoal/wire/1.0.0', (s) => { void (async () => { for await (const _ of s) {} })() })
  const { multiaddr } = await import('@multiformats/multiaddr')
  const stream = await rogue.dialProtocol(multiaddr(a.addresses()[0]), '/shoal/wire/1.0.0')
  const garbage = [
    Uint8Array.of(99, 1, 2, 3), // unknown frame type
    Uint8Array.of(1, 0x7b, 0x7b), // state with broken JSON
    new TextEncoder().encode('\u0001{"name":5,"headers":{},"groups":[],"ver":1,"addrs":[]}'),
    Uint8Array.of(5, 0xff), // shout with a truncated varint
    Uint8Array.of(4, 9, 9) // whisper with an unknown payload tag
  ]
  for (const g of garbage) stream.send(lp.encode.single(g))
  await until(() => a.stats().malformedDropped === garbage.length, 5000, 'garbage not all counted')
  t.false(a.peers().some(p => p.id === rogue.peerId.toString()))
  const got = next(a, 'shout')
  await b.shout('g', 'honest')
  t.is((await got).data, 'honest')
})
