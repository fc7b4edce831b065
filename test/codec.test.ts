import test from 'ava'
import { encodePayload, decodePayload } from '../src/codec/payload.js'
import { encodeFrame, decodeFrame, decodeShout, encodeShout, stateBody, type PeerState, type Frame, type SignedState } from '../src/codec/frame.js'
import { DecodeError, InvalidArgumentError } from '../src/errors.js'

test('payloads come back as the kind that was sent', t => {
  const bytes = new Uint8Array([0, 1, 255])
  t.deepEqual(decodePayload(encodePayload(bytes)), bytes)
  t.true(decodePayload(encodePayload(bytes)) instanceof Uint8Array)
  t.is(decodePayload(encodePayload('héllo ✓')), 'héllo ✓')
  t.is(decodePayload(encodePayload('')), '')
  t.deepEqual(decodePayload(encodePayload({ a: [1, 'x', null, true] })), { a: [1, 'x', null, true] })
  t.is(decodePayload(encodePayload(42)), 42)
  t.is(decodePayload(encodePayload(null)), null)
})

test('values that are not JSON are rejected before sending', t => {
  const cyclic: any = {}
  cyclic.self = cyclic
  for (const bad of [undefined, () => 1, Symbol('x'), cyclic, 10n]) {
    t.throws(() => encodePayload(bad), { instanceOf: InvalidArgumentError })
  }
})

test('malformed payloads from the wire are DecodeErrors', t => {
  t.throws(() => decodePayload(new Uint8Array(0)), { instanceOf: DecodeError })
  t.throws(() => decodePayload(Uint8Array.of(9, 1, 2)), { instanceOf: DecodeError })
  t.throws(() => decodePayload(Uint8Array.of(1, 0xff, 0xfe)), { instanceOf: DecodeError }) // bad utf-8
  t.throws(() => decodePayload(Uint8Array.of(2, 0x7b)), { instanceOf: DecodeError }) // "{"
})

const state: PeerState = { name: 'alice', headers: { role: 'sensor' }, groups: ['a', 'b'], ver: 7, addrs: ['/ip4/127.0.0.1/tcp/1'] }

const signed: SignedState = { state, body: stateBody(state), sig: new Uint8Array(64).fill(7) }

test('every frame type round-trips', t => {
  t.deepEqual(decodeFrame(encodeFrame({ type: 'state', signed })), { type: 'state', signed })
  const states = [{ id: '12D3KooWabc', signed }, { id: '12D3KooWxyz', signed: { ...signed, sig: Uint8Array.of(1) } }]
  t.deepEqual(decodeFrame(encodeFrame({ type: 'states', states })), { type: 'states', states })
  t.deepEqual(decodeFrame(encodeFrame({ type: 'states', states: [] })), { type: 'states', states: [] })
  t.deepEqual(decodeFrame(encodeFrame({ type: 'view', states })), { type: 'view', states })
  t.deepEqual(decodeFrame(encodeFrame({ type: 'ack', ver: 2 ** 40 })), { type: 'ack', ver: 2 ** 40 })
  t.deepEqual(decodeFrame(encodeFrame({ type: 'bye', ver: 7 })), { type: 'bye', ver: 7 })
  const payload = encodePayload('x')
  t.deepEqual(decodeFrame(encodeFrame({ type: 'whisper', payload })), { type: 'whisper', payload })
  const shout = { seq: Date.now() * 1000, group: 'lobby', payload }
  t.deepEqual(decodeFrame(encodeFrame({ type: 'shout', shout })), { type: 'shout', shout })
  t.deepEqual(decodeShout(encodeShout(shout)), shout)
  const presence: Frame[] = [
    { type: 'ping', seq: 0 }, { type: 'pong', seq: 2 ** 50 }, { type: 'nack', seq: 9 },
    { type: 'ping-req', seq: 5, target: '12D3KooWxyz' },
    { type: 'suspect', peer: '12D3KooWxyz', ver: Date.now() }, { type: 'dead', peer: 'Qm1', ver: 1 }, { type: 'left', peer: 'Qm2', ver: 7 }, { type: 'prune' },
    { type: 'digest', count: 100, hash: Number.MAX_SAFE_INTEGER },
    { type: 'versions', entries: [] }, { type: 'versions', entries: [[Number.MAX_SAFE_INTEGER, 0], [0, 2 ** 40], [127, 128]] }
  ]
  for (const f of presence) t.deepEqual(decodeFrame(encodeFrame(f)), f)
})

test('request frames round-trip; malformed ones are DecodeErrors; long error messages are cut on a character boundary', t => {
  const payload = encodePayload({ q: 1 })
  const frames: Frame[] = [
    { type: 'request', id: 1, service: 'files/has', payload },
    { type: 'request', id: 2 ** 40, service: 'ü', payload: encodePayload('') },
    { type: 'reply', id: 3, payload },
    { type: 'reply-error', id: 4, code: 'no-handler', message: '' },
    { type: 'reply-error', id: 5, code: 'failed', message: 'disk on fire' }
  ]
  for (const f of frames) t.deepEqual(decodeFrame(encodeFrame(f)), f)
  const long = decodeFrame(encodeFrame({ type: 'reply-error', id: 6, code: 'failed', message: 'é'.repeat(2000) }))
  t.is(long.type === 'reply-error' ? long.message : '', 'é'.repeat(512))
  const bad = [
    Uint8Array.of(20), // request without id
    Uint8Array.of(20, 1, 0), // empty service name
    Uint8Array.of(20, 1, 9, 97), // service longer than the frame
    Uint8Array.of(20, 1, 2, 0xff, 0xfe), // service not UTF-8
    Uint8Array.of(22, 1, 7), // unknown reply error code
    Uint8Array.of(21) // reply without id
  ]
  for (const b of bad) t.throws(() => decodeFrame(b), { instanceOf: DecodeError })
})

test('presence frames with a missing or oversized peer id, or a malformed list of states or versions, are DecodeErrors', t => {
  const entry = encodeFrame({ type: 'states', states: [{ id: 'p', signed }] }).subarray(2) // one entry, without type and count
  const bad = [
    Uint8Array.of(9, 1), // ping-req without target
    Uint8Array.of(11, 1), // suspect without peer
    Uint8Array.of(12, 1, ...new Uint8Array(200).fill(65)), // dead with a 200-byte id
    Uint8Array.of(13, 1), // digest without hash
    Uint8Array.of(7), // ping without seq
    Uint8Array.of(15, 2, ...entry), // says two states, holds one
    Uint8Array.of(15, 1, ...entry, 0), // trailing byte
    Uint8Array.of(15, 1, ...entry.subarray(0, entry.length - 3)), // truncated
    Uint8Array.of(15, 1, 0, ...entry.subarray(2)), // empty peer id
    Uint8Array.of(15, 0xff, 0xff, 0x7f), // more states than any view holds
    Uint8Array.of(19, 2, 1, 1), // says two versions, holds one
    Uint8Array.of(19, 1, 1), // a hash without its version
    Uint8Array.of(19, 1, 1, 1, 0), // trailing byte
    Uint8Array.of(19, 0xff, 0xff, 0x7f) // more versions than any view holds
  ]
  for (const b of bad) t.throws(() => decodeFrame(b), { name: 'DecodeError' })
})

test('hostile or malformed frames are rejected with DecodeError, never anything else', t => {
  const json = (body: unknown): Uint8Array => new TextEncoder().encode(typeof body === 'string' ? body : JSON.stringify(body))
  // A state frame: a (fake, one-byte) signature, then the JSON body; others: the JSON after the type.
  const enc = (type: number, body: unknown): Uint8Array => Uint8Array.from(type === 1 ? [1, 1, 0xaa, ...json(body)] : [type, ...json(body)])
  const bad: Uint8Array[] = [
    new Uint8Array(0),
    Uint8Array.of(99),
    enc(1, 'not json'),
    enc(1, [1, 2]),
    enc(1, { ...state, ver: -1 }),
    enc(1, { ...state, ver: 1.5 }),
    enc(1, { ...state, name: 5 }),
    enc(1, { ...state, name: 'x'.repeat(300) }),
    enc(1, { ...state, headers: { a: 1 } }),
    enc(1, { ...state, headers: { a: 'x'.repeat(5000) } }),
    enc(1, { ...state, groups: 'lobby' }),
    enc(1, { ...state, groups: [''] }),
    enc(1, { ...state, groups: Array.from({ length: 2000 }, (_, i) => `g${i}`) }),
    enc(1, { ...state, addrs: [7] }),
    Uint8Array.of(1, 0, ...json(state)), // no signature
    Uint8Array.of(1, 0x80, 0x08, ...json(state)), // a 1 KiB signature
    Uint8Array.of(1, 64, 1, 2, 3), // signature longer than the frame
    Uint8Array.of(2),
    Uint8Array.of(2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
    Uint8Array.of(5, 1, 200, 0x61),
    Uint8Array.of(5, 1, 0, 1, 0x41),
    Uint8Array.of(5, 1, 1, 0x61),
    enc(6, [{ id: 'x', addrs: [] }]) // peer exchange, no longer spoken
  ]
  for (const frame of bad) {
    t.throws(() => decodeFrame(frame), { instanceOf: DecodeError }, `frame ${Buffer.from(frame).toString('hex').slice(0, 40)}`)
  }
})

test('random bytes never escape as anything but DecodeError', t => {
  let seed = 12345
  const rand = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed }
  for (let i = 0; i < 20_000; i++) {
    const buf = new Uint8Array(rand() % 64)
    for (let j = 0; j < buf.length; j++) buf[j] = rand() & 0xff
    if (buf.length > 0) buf[0] = (buf[0] % 16)
    try {
      const frame = decodeFrame(buf)
      if (frame.type === 'whisper') decodePayload(frame.payload)
    } catch (err) {
      if (!(err instanceof DecodeError)) t.fail(`${(err as Error).name} for ${Buffer.from(buf).toString('hex')}`)
    }
  }
  t.pass()
})
