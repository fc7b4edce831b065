import * as varint from 'uint8-varint'
import { Uint8ArrayList } from 'uint8arraylist'
import { allocUnsafe } from 'uint8arrays/alloc'
import { DecodeError } from '../errors.js'
import type { PayloadParts } from './payload.js'

/**
 * Frames on a peer's wire stream. Each is length-prefixed by the stream layer; this module
 * only turns one frame's bytes into a value and back. The first byte is the frame type.
 */

/** What a node tells its peers about itself. `ver` grows with every change; stale copies lose. */
export interface PeerState {
  name: string
  headers: Record<string, string>
  groups: string[]
  ver: number
  addrs: string[]
}

/** A shout: the same bytes travel as gossipsub data and as a direct fallback frame. */
export interface ShoutEnvelope {
  seq: number
  group: string
  payload: Uint8Array
}

/**
 * A state as its owner signed it (`body` is the JSON of `state`). Any node may pass it on and
 * nobody can alter it, so a newcomer's state can reach everyone in one hop, and a view can be
 * handed over whole, without each peer having to hear it from the owner.
 */
export interface SignedState { state: PeerState, body: Uint8Array, sig: Uint8Array }

/** A peer's signed state, relayed by another node. */
export interface RelayedState { id: string, signed: SignedState }

export type Frame =
  | { type: 'state', signed: SignedState }
  | { type: 'ack', ver: number }
  | { type: 'bye', ver: number }
  | { type: 'whisper', payload: Uint8Array }
  | { type: 'shout', shout: ShoutEnvelope }
  // Failure detection (SWIM): probes, probes on another's behalf, and what they concluded.
  | { type: 'ping', seq: number }
  | { type: 'pong', seq: number }
  | { type: 'ping-req', seq: number, target: string }
  | { type: 'nack', seq: number }
  | { type: 'suspect', peer: string, ver: number }
  | { type: 'dead', peer: string, ver: number }
  // A peer said goodbye at version `ver`; passed on in a partial mesh, where not all heard the bye.
  | { type: 'left', peer: string, ver: number }
  // The sender is about to close our connection on purpose (partial mesh rotation): not a failure.
  | { type: 'prune' }
  // Anti-entropy: a digest of the sender's view; a mismatch is answered with a 'versions' frame.
  | { type: 'digest', count: number, hash: number }
  // Anti-entropy: the sender's view as [hash of peer id, version] pairs (see presence/digest.ts);
  // the receiver answers with a 'view' of the states the sender lacks or holds older.
  | { type: 'versions', entries: Array<[idHash: number, ver: number]> }
  // Other peers' signed states, as news: a newcomer or a change, passed on.
  | { type: 'states', states: RelayedState[] }
  // States from the sender's view: all of it, handed to a newcomer, or those a peer's 'versions'
  // showed it lacks. What is new in it is new to the receiver, not (as a rule) to the mesh.
  | { type: 'view', states: RelayedState[] }
  // Request/reply: `id` is the requester's correlation id, unique among its requests in flight.
  | { type: 'request', id: number, service: string, payload: Uint8Array }
  | { type: 'reply', id: number, payload: Uint8Array }
  | { type: 'reply-error', id: number, code: ReplyErrorCode, message: string }
  // Whisper with delivery guarantee: `expires` is the sender's clock in ms (0: never), acked by id.
  | { type: 'whisper-sure', id: number, expires: number, payload: Uint8Array }
  | { type: 'whisper-ack', id: number }

const STATE = 1
const ACK = 2
const BYE = 3
const WHISPER = 4
const SHOUT = 5
// 6 and 14 were peer exchange and state requests, replaced by 'states'.
const PING = 7
const PONG = 8
const PING_REQ = 9
const NACK = 10
const SUSPECT = 11
const DEAD = 12
const DIGEST = 13
const STATES = 15
const LEFT = 16
const PRUNE = 17
const VIEW = 18
const VERSIONS = 19
const REQUEST = 20
const REPLY = 21
const REPLY_ERROR = 22
const WHISPER_SURE = 23
const WHISPER_ACK = 24

/** Why a request got no reply: the service has no handler there, or the handler failed. */
export type ReplyErrorCode = 'no-handler' | 'failed'
const REPLY_ERROR_CODES: ReplyErrorCode[] = ['no-handler', 'failed']

// Bounds on what a peer may claim about itself; generous for real use, tight enough that a
// hostile hello cannot make every node hold megabytes.
export const LIMITS = {
  nameBytes: 256,
  groupBytes: 255,
  groups: 1024,
  headers: 64,
  headerBytes: 4096,
  addrs: 64,
  peers: 4096,
  peerIdBytes: 128,
  serviceBytes: 255,
  errorMessageBytes: 1024,
  // RSA-4096 signatures are 512 bytes; Ed25519 ones 64.
  sigBytes: 512
}

const enc = new TextEncoder()
const dec = new TextDecoder('utf-8', { fatal: true })

export function encodeFrame (frame: Frame): Uint8Array {
  switch (frame.type) {
    case 'state': return withType(STATE, encodeSigned(frame.signed))
    case 'ack': return withType(ACK, varint.encode(frame.ver))
    case 'bye': return withType(BYE, varint.encode(frame.ver))
    case 'whisper': return withType(WHISPER, frame.payload)
    case 'shout': return withType(SHOUT, encodeShout(frame.shout))
    case 'ping': return withType(PING, varint.encode(frame.seq))
    case 'pong': return withType(PONG, varint.encode(frame.seq))
    case 'nack': return withType(NACK, varint.encode(frame.seq))
    case 'ping-req': return withType(PING_REQ, concat(varint.encode(frame.seq), enc.encode(frame.target)))
    case 'suspect': return withType(SUSPECT, concat(varint.encode(frame.ver), enc.encode(frame.peer)))
    case 'dead': return withType(DEAD, concat(varint.encode(frame.ver), enc.encode(frame.peer)))
    case 'left': return withType(LEFT, concat(varint.encode(frame.ver), enc.encode(frame.peer)))
    case 'prune': return Uint8Array.of(PRUNE)
    case 'digest': return withType(DIGEST, concat(varint.encode(frame.count), varint.encode(frame.hash)))
    case 'states': return withType(STATES, encodeStates(frame.states))
    case 'view': return withType(VIEW, encodeStates(frame.states))
    case 'versions': return encodeVersions(frame.entries)
    case 'request': return requestFrame(frame.id, frame.service, NO_TAG, frame.payload)
    case 'reply': return replyFrame(frame.id, NO_TAG, frame.payload)
    case 'whisper-sure': return withType(WHISPER_SURE, concat(concat(varint.encode(frame.id), varint.encode(frame.expires)), frame.payload))
    case 'whisper-ack': return withType(WHISPER_ACK, varint.encode(frame.id))
    case 'reply-error': {
      const code = varint.encode(REPLY_ERROR_CODES.indexOf(frame.code))
      return withType(REPLY_ERROR, concat(concat(varint.encode(frame.id), code), enc.encode(truncate(frame.message, LIMITS.errorMessageBytes))))
    }
  }
}

/**
 * A whisper's frame as its type byte and the payload, not joined: what encodeFrame returns, less
 * a copy of every byte on a large whisper's path (the transport copies as it encrypts anyway).
 */
export function whisperFrame (payload: Uint8Array): Uint8ArrayList {
  return new Uint8ArrayList(Uint8Array.of(WHISPER), payload)
}

export function decodeFrame (buf: Uint8Array): Frame {
  if (buf.byteLength === 0) throw new DecodeError('empty frame')
  const body = buf.subarray(1)
  switch (buf[0]) {
    case STATE: return { type: 'state', signed: readSigned(body, 0).signed }
    case ACK: return { type: 'ack', ver: readVarint(body, 0).value }
    case BYE: return { type: 'bye', ver: readVarint(body, 0).value }
    case WHISPER: return { type: 'whisper', payload: body }
    case SHOUT: return { type: 'shout', shout: decodeShout(body) }
    case PING: return { type: 'ping', seq: readVarint(body, 0).value }
    case PONG: return { type: 'pong', seq: readVarint(body, 0).value }
    case NACK: return { type: 'nack', seq: readVarint(body, 0).value }
    case PING_REQ: {
      const seq = readVarint(body, 0)
      return { type: 'ping-req', seq: seq.value, target: readPeerId(body.subarray(seq.next)) }
    }
    case SUSPECT:
    case DEAD:
    case LEFT: {
      const ver = readVarint(body, 0)
      const type = buf[0] === SUSPECT ? 'suspect' : buf[0] === DEAD ? 'dead' : 'left'
      return { type, ver: ver.value, peer: readPeerId(body.subarray(ver.next)) }
    }
    case PRUNE: return { type: 'prune' }
    case DIGEST: {
      const count = readVarint(body, 0)
      return { type: 'digest', count: count.value, hash: readVarint(body, count.next).value }
    }
    case STATES: return { type: 'states', states: decodeStates(body) }
    case VIEW: return { type: 'view', states: decodeStates(body) }
    case VERSIONS: return { type: 'versions', entries: decodeVersions(body) }
    case REQUEST: {
      const id = readVarint(body, 0)
      const len = readVarint(body, id.next)
      const end = len.next + len.value
      if (len.value === 0 || len.value > LIMITS.serviceBytes || end > body.byteLength) throw new DecodeError('bad service name in request')
      return { type: 'request', id: id.value, service: decodeText(body.subarray(len.next, end)), payload: body.subarray(end) }
    }
    case REPLY: {
      const id = readVarint(body, 0)
      return { type: 'reply', id: id.value, payload: body.subarray(id.next) }
    }
    case WHISPER_SURE: {
      const id = readVarint(body, 0)
      const expires = readVarint(body, id.next)
      return { type: 'whisper-sure', id: id.value, expires: expires.value, payload: body.subarray(expires.next) }
    }
    case WHISPER_ACK: return { type: 'whisper-ack', id: readVarint(body, 0).value }
    case REPLY_ERROR: {
      const id = readVarint(body, 0)
      const code = readVarint(body, id.next)
      const message = body.subarray(code.next)
      if (code.value >= REPLY_ERROR_CODES.length) throw new DecodeError(`unknown reply error code ${code.value}`)
      if (message.byteLength > LIMITS.errorMessageBytes) throw new DecodeError('reply error message too long')
      return { type: 'reply-error', id: id.value, code: REPLY_ERROR_CODES[code.value], message: decodeText(message) }
    }
    default: throw new DecodeError(`unknown frame type ${buf[0]}`)
  }
}

export function encodeShout (shout: ShoutEnvelope): Uint8Array {
  const group = enc.encode(shout.group)
  const seq = varint.encode(shout.seq)
  const glen = varint.encode(group.byteLength)
  const out = new Uint8Array(seq.byteLength + glen.byteLength + group.byteLength + shout.payload.byteLength)
  let o = 0
  for (const part of [seq, glen, group, shout.payload]) { out.set(part, o); o += part.byteLength }
  return out
}

export function decodeShout (buf: Uint8Array): ShoutEnvelope {
  const seq = readVarint(buf, 0)
  const glen = readVarint(buf, seq.next)
  const start = glen.next
  if (glen.value > LIMITS.groupBytes || start + glen.value > buf.byteLength) throw new DecodeError('bad group length in shout')
  const group = decodeText(buf.subarray(start, start + glen.value))
  const payload = buf.subarray(start + glen.value)
  if (group.length === 0 || payload.byteLength === 0) throw new DecodeError('shout without group or payload')
  return { seq: seq.value, group, payload }
}

function withType (type: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.byteLength + 1)
  out[0] = type
  out.set(body, 1)
  return out
}

/** `text` cut to at most `maxBytes` of UTF-8, on a character boundary. */
function truncate (text: string, maxBytes: number): string {
  if (enc.encode(text).byteLength <= maxBytes) return text
  let out = text.slice(0, maxBytes)
  while (enc.encode(out).byteLength > maxBytes) out = out.slice(0, -1)
  return out
}

/**
 * A request frame, payload included, in one allocation with its numbers written in place:
 * request and reply are on every round trip, and each Uint8Array of more than 64 bytes, or
 * TextEncoder.encode of even a short name, costs more than the rest of the encoding. A name of
 * ASCII is copied as it is. The same bytes as encodeFrame of a request with the joined payload.
 */
export function encodeRequest (id: number, service: string, payload: PayloadParts): Uint8Array {
  return requestFrame(id, service, payload.tag, payload.body)
}

/** A reply frame, payload included, in one allocation (see encodeRequest). */
export function encodeReply (id: number, payload: PayloadParts): Uint8Array {
  return replyFrame(id, payload.tag, payload.body)
}

// For a frame whose payload is given whole: no tag byte in front of it.
const NO_TAG = -1

// A Uint8Array of more than 64 bytes gets memory of its own outside V8's heap, zeroed: 0.8-0.9 µs
// at 1 KiB here, and more work for every garbage collection. A slice of Node's buffer pool costs
// half that. Every byte of a request or reply frame is written before it leaves, and the frame
// never reaches a user (the receiver copies payloads out of what it reads), so nothing of the
// pool shows. Small frames stay in V8's heap, where they cost ~50 ns.
const frameBytes = (size: number): Uint8Array => size > 64 ? allocUnsafe(size) : new Uint8Array(size)

function requestFrame (id: number, service: string, tag: number, body: Uint8Array): Uint8Array {
  const name = isAscii(service) ? undefined : enc.encode(service)
  const nameBytes = name?.byteLength ?? service.length
  const head = 1 + varint.encodingLength(id) + varint.encodingLength(nameBytes)
  const out = frameBytes(head + nameBytes + body.byteLength + (tag === NO_TAG ? 0 : 1))
  out[0] = REQUEST
  varint.encode(id, out, 1)
  varint.encode(nameBytes, out, 1 + varint.encodingLength(id))
  if (name != null) out.set(name, head)
  else for (let i = 0; i < nameBytes; i++) out[head + i] = service.charCodeAt(i)
  withTag(out, head + nameBytes, tag, body)
  return out
}

function replyFrame (id: number, tag: number, body: Uint8Array): Uint8Array {
  const head = 1 + varint.encodingLength(id)
  const out = frameBytes(head + body.byteLength + (tag === NO_TAG ? 0 : 1))
  out[0] = REPLY
  varint.encode(id, out, 1)
  withTag(out, head, tag, body)
  return out
}

/** Writes a payload's tag (unless NO_TAG) and body into `out` at `at`. */
function withTag (out: Uint8Array, at: number, tag: number, body: Uint8Array): void {
  if (tag !== NO_TAG) out[at++] = tag
  out.set(body, at)
}

function isAscii (text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false
  return true
}

function concat (a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength)
  out.set(a, 0)
  out.set(b, a.byteLength)
  return out
}

function readPeerId (buf: Uint8Array): string {
  if (buf.byteLength === 0 || buf.byteLength > LIMITS.peerIdBytes) throw new DecodeError('bad peer id')
  return decodeText(buf)
}

function encodeVersions (entries: Array<[number, number]>): Uint8Array {
  let size = 1 + varint.encodingLength(entries.length)
  for (const [h, v] of entries) size += varint.encodingLength(h) + varint.encodingLength(v)
  const out = new Uint8Array(size)
  out[0] = VERSIONS
  let at = 1
  for (const n of [entries.length, ...entries.flat()]) {
    varint.encode(n, out, at)
    at += varint.encodingLength(n)
  }
  return out
}

function decodeVersions (body: Uint8Array): Array<[number, number]> {
  const count = readVarint(body, 0)
  if (count.value > LIMITS.peers) throw new DecodeError(`more than ${LIMITS.peers} versions`)
  const entries: Array<[number, number]> = []
  let at = count.next
  for (let i = 0; i < count.value; i++) {
    const h = readVarint(body, at)
    const v = readVarint(body, h.next)
    entries.push([h.value, v.value])
    at = v.next
  }
  if (at !== body.byteLength) throw new DecodeError('trailing bytes after versions')
  return entries
}

function readVarint (buf: Uint8Array, offset: number): { value: number, next: number } {
  try {
    const value = varint.decode(buf, offset)
    if (!Number.isSafeInteger(value)) throw new Error('varint out of range')
    return { value, next: offset + varint.encodingLength(value) }
  } catch (err) {
    throw new DecodeError('malformed varint', { cause: err })
  }
}

function decodeText (buf: Uint8Array): string {
  // A short name of ASCII (a service, a peer id) is read here, not in a call to the decoder.
  if (buf.byteLength <= 16) {
    let text = ''
    for (let i = 0; i < buf.byteLength && buf[i] <= 0x7f; i++) text += String.fromCharCode(buf[i])
    if (text.length === buf.byteLength) return text
  }
  try {
    return dec.decode(buf)
  } catch (err) {
    throw new DecodeError('invalid utf-8', { cause: err })
  }
}

function parseJson (buf: Uint8Array): unknown {
  try {
    return JSON.parse(decodeText(buf))
  } catch (err) {
    throw err instanceof DecodeError ? err : new DecodeError('malformed JSON', { cause: err })
  }
}

function isRecord (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function stringList (v: unknown, max: number, maxBytes: number, what: string): string[] {
  if (!Array.isArray(v) || v.length > max) throw new DecodeError(`${what} must be an array of at most ${max} strings`)
  for (const s of v) {
    if (typeof s !== 'string' || s.length === 0 || enc.encode(s).byteLength > maxBytes) throw new DecodeError(`bad entry in ${what}`)
  }
  return v as string[]
}

/**
 * What is wrong with a header map, if anything: the one rule for headers a node sends (options,
 * setHeader) and accepts (a peer's hello), so a node can never announce headers its peers drop.
 */
export function headersProblem (headers: Record<string, unknown>): string | undefined {
  const entries = Object.entries(headers)
  if (entries.length > LIMITS.headers) return `at most ${LIMITS.headers} headers`
  let bytes = 0
  for (const [k, v] of entries) {
    if (typeof v !== 'string') return `header "${k}" must be a string`
    bytes += k.length + v.length
  }
  if (bytes > LIMITS.headerBytes) return `headers are limited to ${LIMITS.headerBytes} bytes in all`
  return undefined
}

export function parseState (v: unknown): PeerState {
  if (!isRecord(v)) throw new DecodeError('state must be an object')
  const { name, headers, groups, ver, addrs } = v
  if (typeof name !== 'string' || enc.encode(name).byteLength > LIMITS.nameBytes) throw new DecodeError('bad name')
  if (!Number.isSafeInteger(ver) || (ver as number) < 0) throw new DecodeError('bad ver')
  if (!isRecord(headers)) throw new DecodeError('bad headers')
  const problem = headersProblem(headers)
  if (problem != null) throw new DecodeError(problem)
  return {
    name,
    headers: headers as Record<string, string>,
    groups: [...new Set(stringList(groups, LIMITS.groups, LIMITS.groupBytes, 'groups'))],
    ver: ver as number,
    addrs: stringList(addrs, LIMITS.addrs, 1024, 'addrs')
  }
}

/** JSON of a state: what its owner signs. */
export function stateBody (state: PeerState): Uint8Array { return enc.encode(JSON.stringify(state)) }

// A signed state: varint(sig length), sig, body. The body runs to the end of what is given.
function encodeSigned (s: SignedState): Uint8Array {
  return concat(concat(varint.encode(s.sig.byteLength), s.sig), s.body)
}

function readSigned (buf: Uint8Array, offset: number, end = buf.byteLength): { signed: SignedState, next: number } {
  const len = readVarint(buf, offset)
  if (len.value === 0 || len.value > LIMITS.sigBytes || len.next + len.value > end) throw new DecodeError('bad signature length')
  const sig = buf.subarray(len.next, len.next + len.value)
  const body = buf.subarray(len.next + len.value, end)
  return { signed: { state: parseState(parseJson(body)), body, sig }, next: end }
}

// states: varint(count), then per entry: varint(id length), id, varint(entry length), signed state.
function encodeStates (states: RelayedState[]): Uint8Array {
  const parts: Uint8Array[] = [varint.encode(states.length)]
  for (const { id, signed } of states) {
    const idBytes = enc.encode(id)
    const entry = encodeSigned(signed)
    parts.push(varint.encode(idBytes.byteLength), idBytes, varint.encode(entry.byteLength), entry)
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.byteLength }
  return out
}

function decodeStates (buf: Uint8Array): RelayedState[] {
  const count = readVarint(buf, 0)
  if (count.value > LIMITS.peers) throw new DecodeError('too many states')
  const out: RelayedState[] = []
  let o = count.next
  for (let i = 0; i < count.value; i++) {
    const idLen = readVarint(buf, o)
    const id = readPeerId(sliceOf(buf, idLen.next, idLen.value))
    const entryLen = readVarint(buf, idLen.next + idLen.value)
    const end = entryLen.next + entryLen.value
    if (end > buf.byteLength) throw new DecodeError('truncated state entry')
    out.push({ id, signed: readSigned(buf, entryLen.next, end).signed })
    o = end
  }
  if (o !== buf.byteLength) throw new DecodeError('trailing bytes after states')
  return out
}

function sliceOf (buf: Uint8Array, start: number, length: number): Uint8Array {
  if (start + length > buf.byteLength) throw new DecodeError('truncated frame')
  return buf.subarray(start, start + length)
}
