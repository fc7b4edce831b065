import test from 'ava'
import { tcpOptions, start, until } from './helpers.js'

// A burst of whispers leaves in shared Noise frames (src/stack/noise-batch.ts) and without its
// frame joined (whisperFrame): what a user relies on is that every message still arrives, whole,
// once and in order, and that a buffer may be reused as soon as whisper() has resolved.
const SIZES = [1, 100, 1500, 16 * 1024, 70_000, 3]
const COUNT = 2000

test('a burst of whispers of mixed sizes, sending one buffer refilled each time, arrives complete and in order', async t => {
  t.timeout(60_000)
  const a = await start(t, tcpOptions({ name: 'a' }))
  const b = await start(t, tcpOptions({ name: 'b', bootstrap: a.addresses() }))
  await until(() => a.peer(b.id) != null && b.peer(a.id) != null, 10_000, 'peers did not meet')
  const got: Uint8Array[] = []
  b.on('whisper', e => { got.push(e.data as Uint8Array) })
  const fill = (buf: Uint8Array, seq: number): void => { for (let j = 0; j < buf.byteLength; j++) buf[j] = (seq * 7 + j) & 0xff }
  const buffers = SIZES.map(size => new Uint8Array(size))
  for (let i = 0; i < COUNT; i++) {
    const buf = buffers[i % SIZES.length]
    fill(buf, i)
    await a.whisper(b.id, buf)
  }
  await until(() => got.length >= COUNT, 30_000, `whispers missing (${got.length} of ${COUNT})`)
  t.is(got.length, COUNT)
  const expected = new Uint8Array(Math.max(...SIZES))
  let wrong = -1
  for (let i = 0; i < COUNT && wrong < 0; i++) {
    const want = expected.subarray(0, SIZES[i % SIZES.length])
    fill(want, i)
    if (!Buffer.from(got[i]).equals(Buffer.from(want))) wrong = i
  }
  t.is(wrong, -1, `whisper ${wrong} differs from what was sent`)
})
