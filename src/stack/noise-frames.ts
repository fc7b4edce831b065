// Two per-connection fixes to how @libp2p/noise 17 moves its frames, without touching what it
// encrypts or checks. Measured on TCP loopback (sim/bench/patterns.ts, bare libp2p column):
//
// - Noise hands the transport each frame as a list of two buffers, the 2-byte length and the
//   ciphertext, and @libp2p/tcp writes each buffer with its own socket.write: two system calls and,
//   with Nagle off, two segments per frame. Joining them first makes it one.
// - Noise's frame decoder learns that fewer than 2 bytes are buffered by catching a RangeError,
//   which it gets after every frame it reads: a thrown error with a stack trace per frame was ~4%
//   of a request round trip's CPU. Reading the length without throwing gives the same frames.
//
// The second reaches into the encrypted stream's decoder (not public API), so it checks the shape
// it expects and leaves the stream alone otherwise: a Noise upgrade can lose the speed, not break.
import { Uint8ArrayList } from 'uint8arraylist'
import { batchedSends } from './noise-batch.js'
import type { ConnectionEncrypter, MessageStream, SecuredConnection } from '@libp2p/interface'

/** Wraps a connection encrypter factory (e.g. `noise()`) with the fixes above. */
export function framedNoise<F extends (components: any) => ConnectionEncrypter> (factory: F): F {
  return ((components: any) => {
    const inner = factory(components)
    // Everything but the two methods (protocol, capabilities, tags) comes from the real encrypter.
    const outer: ConnectionEncrypter = Object.create(inner)
    outer.secureInbound = async (connection, options) => fixed(await inner.secureInbound(oneWritePerFrame(connection), options))
    outer.secureOutbound = async (connection, options) => fixed(await inner.secureOutbound(oneWritePerFrame(connection), options))
    return outer
  }) as F
}

/** Makes every send on `connection` one buffer, so the transport below writes it at once. */
export function oneWritePerFrame (connection: MessageStream): MessageStream {
  const send = connection.send.bind(connection)
  connection.send = (data: Uint8Array | Uint8ArrayList) =>
    send(data instanceof Uint8ArrayList ? data.subarray() : data) // no copy if it is one buffer already
  return connection
}

function fixed<T extends SecuredConnection> (secured: T): T {
  batchedSends(secured.connection)
  return quietDecoder(secured)
}

interface LengthDecoder { (data: Uint8ArrayList | Uint8Array): number, bytes?: number }

/** Replaces the throwing 2-byte length reader of Noise's frame decoder, if it has the expected shape. */
function quietDecoder<T extends SecuredConnection> (secured: T): T {
  const decoder: { lengthDecoder?: LengthDecoder, encodingLength?: (n: number) => number } | undefined = (secured.connection as any).decoder
  const read = decoder?.lengthDecoder
  if (decoder == null || typeof read !== 'function' || decoder.encodingLength?.(0) !== 2) return secured
  // Too few bytes for a length: claim an empty frame, which needs 2 bytes, so the decoder waits
  // for more exactly as it did on the RangeError.
  decoder.lengthDecoder = (data) => data.byteLength < 2 ? 0 : read(data)
  return secured
}
