// Property-based fuzzing (fast-check) of every decoder of wire data: whatever bytes a peer sends,
// a decoder returns a value or throws DecodeError, and never anything else. The decoders are
// synchronous and bounded by the input's length, so "never hangs" means each call returns.
import test from 'ava'
import fc from 'fast-check'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { decodeFrame, decodeShout, encodeFrame, encodeReply, encodeRequest, parseState, stateBody, type Frame, type PeerState } from '../src/codec/frame.js'
import { decodePayload, encodePayload, partsOf, payloadParts } from '../src/codec/payload.js'
import { signState, verifyState } from '../src/presence/signed-state.js'
import { DecodeError } from '../src/errors.js'

const RUNS = 3000
const utf8 = new TextEncoder()

/** Runs `decode`; passes when it returns or throws a DecodeError, fails on any other throw. */
function rejectsTyped<T> (decode: () => T): boolean {
  try {
    decode()
    return true
  } catch (err) {
    if (err instanceof DecodeError) return true
    throw err
  }
}

const peerId = fc.stringMatching(/^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/)
const text = (max: number): fc.Arbitrary<string> => fc.string({ unit: 'grapheme', minLength: 1, maxLength: max })
const peerState: fc.Arbitrary<PeerState> = fc.record({
  name: fc.string({ maxLength: 40 }),
  headers: fc.dictionary(text(10), fc.string({ maxLength: 20 }), { maxKeys: 5 }),
  groups: fc.uniqueArray(text(20), { maxLength: 5 }),
  ver: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  addrs: fc.array(fc.constant('/ip4/10.0.0.1/tcp/4001'), { maxLength: 3 })
})
const signedState = peerState.chain(state => fc.uint8Array({ minLength: 1, maxLength: 80 }).map(sig => ({ state, body: stateBody(state), sig })))
const frame = fc.oneof(
  signedState.map(signed => ({ type: 'state' as const, signed })),
  fc.constantFrom('states' as const, 'view' as const).chain(type => fc.array(fc.record({ id: peerId, signed: signedState }), { maxLength: 4 }).map(states => ({ type, states }))),
  fc.nat().map(ver => ({ type: 'ack' as const, ver })),
  fc.nat().map(ver => ({ type: 'bye' as const, ver })),
  fc.uint8Array({ minLength: 1, maxLength: 200 }).map(payload => ({ type: 'whisper' as const, payload })),
  fc.record({ seq: fc.nat(), group: text(30), payload: fc.uint8Array({ minLength: 1, maxLength: 200 }) }).map(shout => ({ type: 'shout' as const, shout })),
  fc.constantFrom('ping' as const, 'pong' as const, 'nack' as const).chain(type => fc.nat().map(seq => ({ type, seq }))),
  fc.record({ seq: fc.nat(), target: peerId }).map(f => ({ type: 'ping-req' as const, ...f })),
  fc.constantFrom('suspect' as const, 'dead' as const, 'left' as const).chain(type => fc.record({ peer: peerId, ver: fc.nat() }).map(f => ({ type, ...f }))),
  fc.record({ count: fc.nat(), hash: fc.nat() }).map(f => ({ type: 'digest' as const, ...f })),
  fc.array(fc.tuple(fc.nat({ max: Number.MAX_SAFE_INTEGER }), fc.nat({ max: Number.MAX_SAFE_INTEGER })), { maxLength: 8 }).map(entries => ({ type: 'versions' as const, entries })),
  fc.constant({ type: 'prune' as const }),
  // Request and reply frames are encoded by hand (numbers in place, ASCII names copied as they are).
  fc.record({ id: fc.nat({ max: Number.MAX_SAFE_INTEGER }), service: text(40).filter(s => utf8.encode(s).byteLength <= 255), payload: fc.uint8Array({ maxLength: 300 }) })
    .map(f => ({ type: 'request' as const, ...f })),
  fc.record({ id: fc.nat({ max: Number.MAX_SAFE_INTEGER }), payload: fc.uint8Array({ maxLength: 300 }) }).map(f => ({ type: 'reply' as const, ...f })),
  fc.record({ id: fc.nat(), code: fc.constantFrom('no-handler' as const, 'failed' as const), message: fc.string({ maxLength: 100 }) }).map(f => ({ type: 'reply-error' as const, ...f }))
) as fc.Arbitrary<Frame>

/** A valid encoding damaged the ways a buggy or hostile peer damages it. */
const mutated = fc.tuple(frame.map(encodeFrame), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('flip', 'truncate', 'insert', 'append', 'retype'))
  .map(([bytes, at, value, how]) => {
    const i = bytes.byteLength === 0 ? 0 : at % bytes.byteLength
    switch (how) {
      case 'flip': { const b = new Uint8Array(bytes); b[i] ^= value === 0 ? 1 : value; return b }
      case 'truncate': return bytes.subarray(0, i)
      case 'insert': return new Uint8Array([...bytes.subarray(0, i), value, ...bytes.subarray(i)])
      case 'append': return new Uint8Array([...bytes, value, value])
      default: { const b = new Uint8Array(bytes); b[0] = value; return b }
    }
  })

test('frames: random bytes decode or reject with DecodeError', t => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 1024 }), bytes => rejectsTyped(() => decodeFrame(bytes))), { numRuns: RUNS })
  // Past the type byte, where random bytes rarely get: a known type with a random body.
  fc.assert(fc.property(fc.integer({ min: 0, max: 20 }), fc.uint8Array({ maxLength: 512 }),
    (type, body) => rejectsTyped(() => decodeFrame(new Uint8Array([type, ...body])))), { numRuns: RUNS })
  t.pass()
})

test('frames: every valid frame round-trips; damaged ones decode or reject with DecodeError', t => {
  fc.assert(fc.property(frame, f => { t.deepEqual(decodeFrame(encodeFrame(f)), f) }), { numRuns: 500 })
  fc.assert(fc.property(mutated, bytes => rejectsTyped(() => decodeFrame(bytes))), { numRuns: RUNS })
})

test('requests and replies written straight from a payload\'s parts are the bytes of the frame with the payload joined', t => {
  const data = fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.string({ unit: 'grapheme', maxLength: 50 }), fc.jsonValue({ maxDepth: 2 }))
  fc.assert(fc.property(fc.nat({ max: Number.MAX_SAFE_INTEGER }), text(40).filter(s => utf8.encode(s).byteLength <= 255), data, (id, service, value) => {
    const payload = encodePayload(value)
    t.deepEqual(encodeRequest(id, service, payloadParts(value)), encodeFrame({ type: 'request', id, service, payload }))
    t.deepEqual(encodeReply(id, payloadParts(value)), encodeFrame({ type: 'reply', id, payload }))
    const parts = payloadParts(value)
    t.deepEqual(partsOf(payload), { tag: parts.tag, body: new Uint8Array(parts.body) })
  }), { numRuns: 500 })
})

test('hello/presence states: any JSON value parses to a bounded state or rejects with DecodeError', t => {
  fc.assert(fc.property(fc.jsonValue({ maxDepth: 4 }), v => rejectsTyped(() => parseState(v))), { numRuns: RUNS })
  fc.assert(fc.property(fc.record({ name: fc.jsonValue(), headers: fc.jsonValue(), groups: fc.jsonValue(), ver: fc.jsonValue(), addrs: fc.jsonValue() }, { requiredKeys: [] }),
    v => rejectsTyped(() => parseState(v))), { numRuns: RUNS })
  // Nesting deep enough to overflow a recursive parser.
  const deep = new TextEncoder().encode('['.repeat(100_000))
  t.throws(() => decodeFrame(new Uint8Array([1, 1, 7, ...deep])), { instanceOf: DecodeError })
})

test('shouts and payloads (direct messages): random bytes decode or reject with DecodeError', t => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), bytes => rejectsTyped(() => decodeShout(bytes))), { numRuns: RUNS })
  fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), bytes => rejectsTyped(() => decodePayload(bytes))), { numRuns: RUNS })
  fc.assert(fc.property(fc.integer({ min: 0, max: 3 }), fc.string(), (tag, s) => rejectsTyped(() => decodePayload(new Uint8Array([tag, ...new TextEncoder().encode(s)])))), { numRuns: RUNS })
  fc.assert(fc.property(fc.jsonValue(), v => { t.deepEqual(decodePayload(encodePayload(v)), JSON.parse(JSON.stringify(v))) }), { numRuns: 300 })
})

test('signed states: a damaged signature, body or id is refused (false), never thrown', async t => {
  const key = await generateKeyPair('Ed25519')
  const id = peerIdFromPrivateKey(key).toString()
  const good = await signState(key, { name: 'a', headers: {}, groups: ['g'], ver: 1, addrs: [] })
  await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 600 }), fc.uint8Array({ maxLength: 200 }), fc.oneof(fc.constant(id), fc.string({ maxLength: 60 })),
    async (sig, body, who) => {
      const ok = await verifyState(who, { state: good.state, body: body.byteLength > 0 ? body : good.body, sig })
      return ok === false
    }), { numRuns: 500 })
  t.true(await verifyState(id, good))
})
