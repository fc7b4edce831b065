// @libp2p/yamux 8 sends a window update after every data frame it receives, so each message
// costs the peer a second Yamux frame, Noise frame and socket write straight back: half the
// frames of a request/reply exchange were window updates. Like go-yamux and rust-yamux, this
// sends the update once half the receive window is used instead. The sender still has at least
// half a window (128 KiB at first) of credit when the update is held back, so it never stalls
// for want of one, and the stream-opening updates (SYN/ACK flags) go out as before.
//
// Streams are patched one by one, as the muxer makes them: other libp2p instances in the same
// process keep stock Yamux. It reaches into YamuxStream (state, recvWindow*), so it checks the
// shape it expects and leaves a stream alone otherwise.
import { StreamState } from '@libp2p/yamux/stream'
import type { Stream, StreamMuxer, StreamMuxerFactory } from '@libp2p/interface'

/** Wraps a stream muxer factory (e.g. `yamux()`) so its streams send window updates at half window. */
export function halfWindowUpdates<F extends (components: any) => StreamMuxerFactory> (factory: F): F {
  return ((components: any) => {
    const inner = factory(components)
    const outer: StreamMuxerFactory = Object.create(inner)
    outer.createStreamMuxer = (maConn) => patchMuxer(inner.createStreamMuxer(maConn))
    return outer
  }) as F
}

function patchMuxer (muxer: StreamMuxer): StreamMuxer {
  const m = muxer as any
  if (typeof m.onCreateStream !== 'function' || typeof m.onRemoteStream !== 'function') return muxer
  const create = m.onCreateStream.bind(muxer)
  // Outbound streams: the muxer sends their opening update in a microtask, after this returns.
  m.onCreateStream = (options: unknown) => {
    const stream = create(options)
    return typeof stream?.then === 'function' ? stream.then(lazyUpdates) : lazyUpdates(stream)
  }
  const remote = m.onRemoteStream.bind(muxer)
  m.onRemoteStream = (stream: Stream) => { remote(lazyUpdates(stream)) }
  return muxer
}

interface YamuxStreamShape { state: StreamState, recvWindow: number, recvWindowCapacity: number, sendWindowUpdate: () => void }

function lazyUpdates<S> (stream: S): S {
  const s = stream as unknown as YamuxStreamShape
  if (typeof s.sendWindowUpdate !== 'function' || typeof s.recvWindow !== 'number' || typeof s.recvWindowCapacity !== 'number') return stream
  const update = s.sendWindowUpdate.bind(s)
  s.sendWindowUpdate = () => {
    if (s.state === StreamState.Established && s.recvWindowCapacity > s.recvWindow / 2) return
    // Yamux sends a new outbound stream's opening update from a microtask: when the connection
    // closes in between (the peer hung up on us; seen when a quarantined peer opens a stream)
    // the send throws from the microtask, an uncaught exception that ended the process. The
    // stream fails instead, and whoever opened it gets the error.
    try {
      update()
    } catch (err) {
      (stream as unknown as Stream).abort(err as Error)
    }
  }
  return stream
}
