import { DecodeError, InvalidArgumentError } from '../errors.js'

/** What users send and receive: raw bytes, text, or any JSON-serialisable value. */
export type Payload = Uint8Array | string | JsonValue
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue }

// A one-byte tag tells the receiver which kind the sender passed, so it gets back the same kind.
const BYTES = 0
const TEXT = 1
const JSON_VALUE = 2

const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder('utf-8', { fatal: true })

/**
 * A payload not yet put together: its kind tag and its bytes (for bytes, the caller's own, not
 * copied). A request or reply is written straight into its frame from these: a payload of its
 * own first would be one more allocation per message, which showed in round trips.
 */
export interface PayloadParts {
  tag: number
  body: Uint8Array
}

export function encodePayload (data: unknown): Uint8Array {
  return joinParts(payloadParts(data))
}

/** A payload's parts put together: its tag byte, then its body. */
export function joinParts ({ tag, body }: PayloadParts): Uint8Array {
  const out = new Uint8Array(body.byteLength + 1)
  out[0] = tag
  out.set(body, 1)
  return out
}

/** The parts of a payload encoded already (views, no copy). */
export function partsOf (payload: Uint8Array): PayloadParts {
  return { tag: payload[0], body: payload.subarray(1) }
}

export function payloadParts (data: unknown): PayloadParts {
  if (data instanceof Uint8Array) return { tag: BYTES, body: data }
  if (typeof data === 'string') return { tag: TEXT, body: textEncoder.encode(data) }
  let json: string | undefined
  try {
    json = JSON.stringify(data)
  } catch (err) {
    throw new InvalidArgumentError('data is not JSON-serialisable', { cause: err })
  }
  // JSON.stringify returns undefined for undefined, functions and symbols
  if (json === undefined) throw new InvalidArgumentError(`data of type ${typeof data} is not JSON-serialisable`)
  return { tag: JSON_VALUE, body: textEncoder.encode(json) }
}

export function decodePayload (buf: Uint8Array): Payload {
  if (buf.byteLength === 0) throw new DecodeError('empty payload')
  const body = buf.subarray(1)
  try {
    switch (buf[0]) {
      case BYTES: return new Uint8Array(body) // a plain copy: not a Buffer, not a view of the frame
      case TEXT: return textDecoder.decode(body)
      case JSON_VALUE: return JSON.parse(textDecoder.decode(body)) as JsonValue
    }
  } catch (err) {
    throw new DecodeError('malformed payload', { cause: err })
  }
  throw new DecodeError(`unknown payload tag ${buf[0]}`)
}
