import test from 'ava'
import { encodePayload } from '../src/codec/payload.js'
import { encodeFrame, decodeFrame, type Frame } from '../src/codec/frame.js'
import { DecodeError } from '../src/errors.js'
import { splitHeaders, withHeaders } from '../src/patterns/filter.js'

test('acknowledged-whisper frames round-trip; truncated ones are DecodeErrors', t => {
  const frames: Frame[] = [
    { type: 'whisper-sure', id: Date.now() * 1000, expires: 0, payload: encodePayload('x') },
    { type: 'whisper-sure', id: 1, expires: Date.now() + 500, payload: encodePayload({ a: 1 }) },
    { type: 'whisper-ack', id: 2 ** 52 }
  ]
  for (const f of frames) t.deepEqual(decodeFrame(encodeFrame(f)), f)
  for (const bad of [Uint8Array.of(23), Uint8Array.of(23, 1), Uint8Array.of(24), Uint8Array.of(24, 0xff)]) {
    t.throws(() => decodeFrame(bad), { instanceOf: DecodeError })
  }
})

test('shout headers ride in front of the payload; malformed ones are DecodeErrors', t => {
  const payload = encodePayload({ celsius: 74 })
  t.deepEqual(splitHeaders(withHeaders({ type: 'alert' }, payload)), { headers: { type: 'alert' }, payload })
  t.deepEqual(splitHeaders(payload), { headers: {}, payload })
  const good = withHeaders({ type: 'alert' }, payload)
  for (const bad of [Uint8Array.of(3), Uint8Array.of(3, 9, 0x7b), good.subarray(0, 5), withHeaders({ n: 1 } as any, payload)]) {
    t.throws(() => splitHeaders(bad), { instanceOf: DecodeError })
  }
})
