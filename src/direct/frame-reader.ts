import { Uint8ArrayList } from 'uint8arraylist'

// The varint of a length up to Number.MAX_SAFE_INTEGER, as in it-length-prefixed.
const MAX_LENGTH_LENGTH = 8

/**
 * Splits the bytes of a stream into varint-length-prefixed frames as they arrive, synchronously:
 * the same framing and the same checks (and error names) as it-length-prefixed's decode, without
 * an async iterator (a promise turn or two per frame, on a request's round trip) and without
 * learning of a short read by catching a RangeError (a stack trace per frame).
 */
export class FrameReader {
  private readonly buffer = new Uint8ArrayList()

  constructor (private readonly maxDataLength: number) {}

  /** Appends `chunk` and returns the frames it completes; throws if the framing is broken. */
  push (chunk: Uint8Array | Uint8ArrayList): Uint8Array[] {
    this.buffer.append(chunk)
    const frames: Uint8Array[] = []
    while (this.buffer.byteLength > 0) {
      const header = this.length()
      if (header == null) break
      const [length, bytes] = header
      if (this.buffer.byteLength < bytes + length) break
      frames.push(this.buffer.subarray(bytes, bytes + length))
      this.buffer.consume(bytes + length)
    }
    return frames
  }

  /** Bytes of a frame not yet complete (a stream that ends with some was cut short). */
  get pending (): number { return this.buffer.byteLength }

  /** The next frame's length and the size of its prefix, or null if the prefix is not all here. */
  private length (): [number, number] | null {
    let value = 0
    let scale = 1
    const available = Math.min(this.buffer.byteLength, MAX_LENGTH_LENGTH)
    for (let i = 0; i < available; i++) {
      const byte = this.buffer.get(i)
      value += (byte & 0x7f) * scale
      if (byte < 0x80) {
        if (value > this.maxDataLength) throw new InvalidDataLengthError('Message length too long')
        return [value, i + 1]
      }
      scale *= 128
    }
    if (this.buffer.byteLength >= MAX_LENGTH_LENGTH) throw new InvalidDataLengthLengthError('Message length length too long')
    return null
  }
}

/** A frame's length prefix announces more than the reader accepts. */
export class InvalidDataLengthError extends Error {
  override name = 'InvalidDataLengthError'
  code = 'ERR_MSG_DATA_TOO_LONG'
}

/** A frame's length prefix is longer than any valid one. */
export class InvalidDataLengthLengthError extends Error {
  override name = 'InvalidDataLengthLengthError'
  code = 'ERR_MSG_LENGTH_TOO_LONG'
}

/** The stream ended inside a frame. */
export class UnexpectedEOFError extends Error {
  override name = 'UnexpectedEOFError'
  code = 'ERR_UNEXPECTED_EOF'
}
