import test from 'ava'
import fc from 'fast-check'
import * as lp from 'it-length-prefixed'
import { Uint8ArrayList } from 'uint8arraylist'
import { FrameReader } from '../src/direct/frame-reader.js'

const bytes = (frames: Uint8Array[]): Uint8Array => new Uint8ArrayList(...frames.map(f => lp.encode.single(f))).subarray()

test('frames come out whole and in order however the bytes are split', t => {
  fc.assert(fc.property(
    fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 20 }),
    fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 50 }),
    (frames, cuts) => {
      const wire = bytes(frames)
      const reader = new FrameReader(1024)
      const out: Uint8Array[] = []
      let at = 0
      for (let i = 0; at < wire.byteLength; i++) {
        const end = Math.min(wire.byteLength, at + cuts[i % cuts.length])
        out.push(...reader.push(wire.subarray(at, end)).map(f => f.slice()))
        at = end
      }
      t.deepEqual(out.map(f => [...f]), frames.map(f => [...f]))
      t.is(reader.pending, 0)
    }
  ))
})

test('a length past the limit, or a length prefix longer than any valid one, breaks the framing with it-length-prefixed\'s errors', t => {
  const reader = new FrameReader(100)
  t.deepEqual(reader.push(bytes([new Uint8Array(100)])).map(f => f.byteLength), [100])
  t.throws(() => reader.push(lp.encode.single(new Uint8Array(101)).subarray()), { name: 'InvalidDataLengthError' })
  t.throws(() => new FrameReader(100).push(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x7f)), { name: 'InvalidDataLengthError' })
  t.throws(() => new FrameReader(100).push(new Uint8Array(8).fill(0x80)), { name: 'InvalidDataLengthLengthError' })
  // A prefix cut short is not an error yet: the rest may come.
  const partial = new FrameReader(1000)
  t.deepEqual(partial.push(Uint8Array.of(0x80 | 44)), [])
  t.is(partial.pending, 1)
  t.deepEqual(partial.push(Uint8Array.of(2, ...new Uint8Array(300))).map(f => f.byteLength), [300])
})
