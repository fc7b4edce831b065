// @libp2p/noise 17 encrypts every send of the muxer above it as Noise frames of its own: a Yamux
// frame per whisper became a Noise frame, a cipher set-up, a socket write and, at the other end,
// a read, a cipher set-up and a frame to decode, every 16 KiB. Measured on a 16 KiB whisper flood
// (sim/bench/compare.ts), that per-frame work was about a sixth of the CPU. Here the bytes sent in
// one turn of the event loop are encrypted together, in frames as full as Noise allows (64 KiB):
// the same frames a peer would send for one larger write, so stock peers read them as ever.
//
// The first send of a turn leaves at once; what follows it in the same turn waits at most until
// the turn ends (process.nextTick): a lone message leaves as it would have, many in a row share
// frames. At most one frame's worth waits: a full one goes at once, so the back-pressure of the
// socket below still reaches the sender.
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

/**
 * The flushes of every batched connection holding bytes. Before a connection sends, the others
 * send what they hold: bytes leave in the order they were sent, across connections too. Held
 * back, a shout (several sends) was overtaken by a whisper another node sent after it, in the
 * same turn, on another connection (the quick start printed them the other way round).
 */
const holding = new Set<() => void>()
const sendHeld = (except: () => void): void => {
  for (const flush of holding) if (flush !== except) flush()
}

/** Makes `connection` (Noise's encrypted stream) encrypt what is sent in one turn together. */
export function batchedSends<C extends MessageStream> (connection: C): C {
  const c = connection as unknown as EncryptedShape
  if (typeof c.sendData !== 'function' || typeof c.encrypt !== 'function' || typeof c.close !== 'function' ||
    typeof c.stream?.send !== 'function') return connection
  const below = c.stream
  const pending = new Uint8ArrayList()
  // Something was sent in this turn of the event loop: what follows is gathered until it ends.
  let inTurn = false

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
    holding.delete(flush)
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

  const endTurn = (): void => {
    inTurn = false
    flush()
  }
  c.sendData = (data) => {
    if (holding.size > 0) sendHeld(flush)
    if (!inTurn) {
      // The first send of a turn leaves at once, as with stock Noise: a lone message is not
      // held back at all, nor reordered against traffic the peer handles more slowly (a shout
      // then a whisper kept their order in the quick start).
      inTurn = true
      process.nextTick(endTurn)
      return { sentBytes: data.byteLength, canSendMore: below.send(c.encrypt(data)) }
    }
    pending.append(data)
    let canSendMore = !below.writableNeedsDrain
    const full = pending.byteLength - pending.byteLength % NOISE_MAX_PLAINTEXT
    if (full > 0) canSendMore = send(full)
    if (pending.byteLength > 0) holding.add(flush)
    return { sentBytes: data.byteLength, canSendMore }
  }
  const close = c.close.bind(c)
  c.close = async (options) => {
    flush()
    await close(options)
  }
  return connection
}
