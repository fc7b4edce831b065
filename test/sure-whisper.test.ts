import test from 'ava'
import { InvalidArgumentError, PeerUnreachableError } from '../src/index.js'
import { memoryOptions, tcpOptions, start, startMesh, until, record, sleep } from './helpers.js'
import { startChild } from './child.js'

test('whisper with ack resolves once the peer has it, delivered once', async t => {
  const [a, b] = await startMesh(t, 2, i => memoryOptions({ name: `n${i}` }))
  const log = record(b)
  await a.whisper(b.id, { n: 1 }, { ack: true })
  // No waiting: the ack means the peer already emitted it.
  t.deepEqual(log.filter(e => e.type === 'whisper').map(e => (e as any).data), [{ n: 1 }])
  await t.throwsAsync(a.whisper(b.id, 'x', { ttl: -5 }), { instanceOf: InvalidArgumentError })
})

test('a peer frozen for a while gets the message exactly once after it wakes: resent, copies dropped', async t => {
  const a = await start(t, tcpOptions({ name: 'a' }))
  const child = await startChild(t, tcpOptions({ name: 'sleepy', bootstrap: a.addresses() }))
  await until(() => a.peer(child.id) != null, 10_000, 'child did not enter')
  child.proc.kill('SIGSTOP')
  const sent = a.whisper(child.id, 'wake up', { ack: true, timeout: 10_000 })
  await sleep(1500) // several resends queue up meanwhile
  child.proc.kill('SIGCONT')
  await sent
  await sleep(300)
  const got = child.lines.filter((l: any) => l.whisper === 'wake up')
  t.is(got.length, 1)
})

test('an acked whisper sent just as the connection drops is delivered once, over a new connection', async t => {
  const [a, b] = await startMesh(t, 2, i => memoryOptions({ name: `n${i}` }))
  const log = record(b)
  const cut = a.libp2p.hangUp(b.libp2p.peerId)
  const sent = a.whisper(b.id, 'across the gap', { ack: true, timeout: 10_000 })
  await cut
  await sent
  await sleep(300)
  t.deepEqual(log.filter(e => e.type === 'whisper').map(e => (e as any).data), ['across the gap'])
  t.true(a.libp2p.getConnections(b.libp2p.peerId).length > 0)
})

test('a whisper whose ttl passes before the peer can take it is never delivered late', async t => {
  const a = await start(t, tcpOptions({ name: 'a' }))
  const child = await startChild(t, tcpOptions({ name: 'sleepy', bootstrap: a.addresses() }))
  await until(() => a.peer(child.id) != null, 10_000, 'child did not enter')
  child.proc.kill('SIGSTOP')
  await t.throwsAsync(a.whisper(child.id, 'stale', { ttl: 400 }), { instanceOf: PeerUnreachableError })
  await sleep(200)
  child.proc.kill('SIGCONT')
  await a.whisper(child.id, 'fresh', { ack: true, timeout: 5000 })
  await sleep(200)
  t.deepEqual(child.lines.filter((l: any) => l.whisper != null).map((l: any) => l.whisper), ['fresh'])
})
