import test from 'ava'
import { multiaddr } from '@multiformats/multiaddr'
import * as lp from 'it-length-prefixed'
import { bareNode, ECHO, frames } from '../sim/bench/bare-libp2p.js'

// Shoal's stack changes how Noise and Yamux move frames (src/stack/*), not what goes on the wire:
// every size of message must arrive intact, in order, between Shoal's stack and stock libp2p in
// either direction, including messages that span many Noise frames (64 KiB each), many TCP reads
// and more than one Yamux window (256 KiB), where the held-back window updates must still come.
const SIZES = [1, 100, 65_535, 65_536 + 7, 300_000, 2 * 1024 * 1024]

for (const [server, client] of [[false, true], [true, false], [false, false]]) {
  const name = (stock: boolean): string => stock ? 'stock libp2p' : 'Shoal\'s stack'
  test(`${name(client)} -> ${name(server)}: messages of every size come back intact and in order`, async t => {
    t.timeout(60_000)
    const a = await bareNode(server)
    const b = await bareNode(client)
    try {
      await a.handle(ECHO, stream => { frames(stream, frame => { stream.send(lp.encode.single(frame)) }) }, { maxInboundStreams: 1 })
      const stream = await b.dialProtocol(multiaddr(a.getMultiaddrs()[0].toString()), ECHO)
      const sent = SIZES.map((size, i) => Uint8Array.from({ length: size }, (_, j) => (i * 31 + j * 7) & 0xff))
      const got: Uint8Array[] = []
      const all = new Promise<void>(resolve => { frames(stream, frame => { got.push(frame.slice()); if (got.length === sent.length) resolve() }) })
      // All at once, so the big ones queue behind each other and exhaust the send window.
      for (const m of sent) stream.send(lp.encode.single(m))
      await all
      t.deepEqual(got.map(m => m.byteLength), SIZES)
      for (let i = 0; i < sent.length; i++) t.true(Buffer.from(got[i]).equals(Buffer.from(sent[i])), `message ${i} (${SIZES[i]} B) differs`)
    } finally {
      await Promise.all([a.stop(), b.stop()])
    }
  })
}

test('a long run of small messages on one stream keeps flowing past many windows', async t => {
  t.timeout(60_000)
  const a = await bareNode(false)
  const b = await bareNode(false)
  try {
    let bytes = 0
    const total = 8 * 1024 * 1024
    const done = new Promise<void>(resolve => {
      void a.handle(ECHO, stream => { frames(stream, frame => { bytes += frame.byteLength; if (bytes === total) resolve() }) })
    })
    const stream = await b.dialProtocol(multiaddr(a.getMultiaddrs()[0].toString()), ECHO)
    const chunk = new Uint8Array(1024).fill(1)
    for (let sent = 0; sent < total; sent += chunk.byteLength) {
      if (!stream.send(lp.encode.single(chunk))) await new Promise(resolve => stream.addEventListener('drain', resolve, { once: true }))
    }
    await done
    t.is(bytes, total)
  } finally {
    await Promise.all([a.stop(), b.stop()])
  }
})
