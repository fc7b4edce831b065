import test from 'ava'
import { startMesh, tcpOptions, sleep } from './helpers.js'

// The connection closes between the opening of a stream and Yamux's opening window update, sent
// from a microtask: the stream fails, the process does not.
test('a stream opened as its connection is cut fails with an error instead of an uncaught exception', async t => {
  const [a, b] = await startMesh(t, 2, i => tcpOptions({ name: `n${i}` }))
  const uncaught: unknown[] = []
  const onUncaught = (err: unknown): void => { uncaught.push(err) }
  process.on('uncaughtException', onUncaught)
  t.teardown(() => { process.off('uncaughtException', onUncaught) })
  for (let i = 0; i < 5; i++) {
    const [conn] = a.libp2p.getConnections(b.libp2p.peerId)
    // newStream runs synchronously as far as the muxer's createStream, which queues the update.
    const opening = conn.newStream('/shoal/wire/1.0.0')
    conn.abort(new Error('cut'))
    await t.throwsAsync(opening)
    await sleep(50)
    await a.libp2p.dial(b.libp2p.peerId)
  }
  t.deepEqual(uncaught.map(String), [])
})
