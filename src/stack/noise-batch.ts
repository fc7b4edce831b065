// @libp2p/noise 17 encrypts every send of the muxer above it as Noise frames of its own: a Yamux
// frame per whisper became a Noise frame, a cipher set-up, a socket write and, at the other end,
// a read, a cipher set-up and a frame to decode, every 16 KiB. Measured on a 16 KiB whisper flood
// (sim/bench/compare.ts), that per-frame work was about a sixth of the CPU. Here the bytes sent in
// one turn of the event loop are encrypted together, in frames as full as Noise allows (64 KiB):
// the same frames a peer would send for one larger write, so stock peers read them as ever.
//
// Bytes wait at most until the current turn ends (process.nextTick): a lone message leaves as
// soon as it would have, many in a row share frames. At most one frame's worth waits: a full one
// goes at once, so the back-pressure of the socket below still reaches the sender.
//
// It reaches into Noise's encrypted stream (sendData, encrypt, stream, close; not public API), so
// it checks the shape it expects and leaves the stream alone otherwise.
import { Uint8ArrayList } from 'uint8arraylist'
import type { MessageStream } from '@libp2p/interface'

/** Plaintext bytes of the largest Noise frame (65535 less the 16-byte tag). */
export const NOISE_MAX_PLAINTEXT = 65535 - 16

interface EncryptedShape {
  stream: MessageStream
  encrypt: (chunk: Uint8Array | Uint8ArrayList) => Uint8ArrayList
  sendData: (data: Uint8ArrayList) => { sentBytes: number, canSendMore: boolean }
  close: (options?: unknown) => Promise<void>
  abort: (err: Error) => void
}

/** Makes `connection` (Noise's encrypted stream) encrypt what is sent in one turn together. */
export function batchedSends<C extends MessageStream> (connection: C): C {
  const c = connection as unknown as EncryptedShape
  if (typeof c.sendData !== 'function' || typeof c.encrypt !== 'function' || typeof c.close !== 'function' ||
    typeof c.stream?.send !== 'function') return connection
  const below = c.stream
  const pending = new Uint8ArrayList()
  let scheduled = false

  /** Encrypts and sends the first `bytes` pending bytes; says whether the transport takes more. */
  const send = (bytes: number): boolean => {
    // As a list, not joined: Noise's Node cipher then updates buffer by buffer and hands back the
    // pieces and the tag as they are, where a single buffer was copied twice more (joined here,
    // ciphertext and tag joined there); the transport joins each write once anyway.
    const plaintext = pending.sublist(0, bytes)
    pending.consume(bytes)
    return below.send(c.encrypt(plaintext))
  }
  const flush = (): void => {
    scheduled = false
    if (pending.byteLength === 0) return
    if (below.status !== 'open') {
      // Closed under us: what waited is lost, as it would have been in the transport's buffer.
      pending.consume(pending.byteLength)
      return
    }
    try {
      send(pending.byteLength)
    } catch (err: any) {
      // Outside the caller's stack: a throw here would be uncaught. Fail the stream instead,
      // as Noise does when a send throws.
      c.abort(err)
    }
  }

  c.sendData = (data) => {
    pending.append(data)
    let canSendMore = !below.writableNeedsDrain
    const full = pending.byteLength - pending.byteLength % NOISE_MAX_PLAINTEXT
    if (full > 0) canSendMore = send(full)
    if (pending.byteLength > 0 && !scheduled) {
      scheduled = true
      process.nextTick(flush)
    }
    return { sentBytes: data.byteLength, canSendMore }
  }
  const close = c.close.bind(c)
  c.close = async (options) => {
    flush()
    await close(options)
  }
  return connection
}
