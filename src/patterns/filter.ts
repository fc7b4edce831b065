import * as varint from 'uint8-varint'
import { DecodeError, InvalidArgumentError } from '../errors.js'
import { headersProblem } from '../codec/frame.js'

/**
 * Per-message headers on a shout, and the filters members subscribe with. Headers ride inside
 * the shout's payload, behind a payload tag of their own, so the shout envelope (the same bytes
 * on gossipsub and on the direct path) and its de-duplication are untouched.
 */

/** What a member accepts: every listed header must have exactly this value, or pass the predicate. */
export type ShoutFilter = Record<string, string> | ((headers: Record<string, string>) => boolean)

// Follows the payload tags of codec/payload.ts (0-2).
const WITH_HEADERS = 3
const enc = new TextEncoder()
const dec = new TextDecoder('utf-8', { fatal: true })

export function checkMessageHeaders (headers: unknown): asserts headers is Record<string, string> {
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) throw new InvalidArgumentError('headers must be an object of strings')
  const problem = headersProblem(headers as Record<string, unknown>)
  if (problem != null) throw new InvalidArgumentError(problem)
}

export function checkFilter (filter: unknown): asserts filter is ShoutFilter {
  if (typeof filter === 'function') return
  checkMessageHeaders(filter)
}

/** A payload with headers in front: tag, varint(length), JSON headers, the payload as encoded. */
export function withHeaders (headers: Record<string, string>, payload: Uint8Array): Uint8Array {
  const json = enc.encode(JSON.stringify(headers))
  const len = varint.encode(json.byteLength)
  const out = new Uint8Array(1 + len.byteLength + json.byteLength + payload.byteLength)
  out[0] = WITH_HEADERS
  out.set(len, 1)
  out.set(json, 1 + len.byteLength)
  out.set(payload, 1 + len.byteLength + json.byteLength)
  return out
}

/** Splits headers (empty if none were sent) from the payload. */
export function splitHeaders (buf: Uint8Array): { headers: Record<string, string>, payload: Uint8Array } {
  if (buf[0] !== WITH_HEADERS) return { headers: {}, payload: buf }
  try {
    const len = varint.decode(buf, 1)
    const start = 1 + varint.encodingLength(len)
    if (start + len > buf.byteLength) throw new Error('truncated headers')
    const headers = JSON.parse(dec.decode(buf.subarray(start, start + len)))
    checkMessageHeaders(headers)
    return { headers, payload: buf.subarray(start + len) }
  } catch (err) {
    throw new DecodeError('malformed shout headers', { cause: err })
  }
}

export function accepts (filter: ShoutFilter | undefined, headers: Record<string, string>): boolean {
  if (filter == null) return true
  if (typeof filter === 'function') return filter(headers)
  for (const [k, v] of Object.entries(filter)) if (headers[k] !== v) return false
  return true
}
