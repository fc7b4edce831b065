// The floor the mandated stack sets for a request/reply round trip: two plain libp2p nodes with
// the transport, connection encrypter and muxer Shoal uses (src/stack.ts; with `stock`, the same
// packages without Shoal's fixes to them), one long-lived stream, a length-prefixed echo. Nothing
// of Shoal's own (frames, limits, presence, handlers) is on the path.
import '../../src/polyfill.js'
import { createLibp2p, type Libp2p } from 'libp2p'
import { multiaddr } from '@multiformats/multiaddr'
import * as lp from 'it-length-prefixed'
import type { Stream } from '@libp2p/interface'
import { stack } from '../../src/stack.js'
import { FrameReader } from '../../src/direct/frame-reader.js'

export const ECHO = '/shoal-bench/echo/1.0.0'

export async function bareNode (stock: boolean): Promise<Libp2p> {
  return await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    ...stack(stock),
    connectionManager: { allow: ['/ip4/127.0.0.0/ipcidr/8'] }
  })
}

/** Calls `onFrame` with each length-prefixed frame arriving on `stream`, read as Shoal reads them. */
export function frames (stream: Stream, onFrame: (frame: Uint8Array) => void): void {
  const reader = new FrameReader(16 * 1024 * 1024)
  stream.addEventListener('message', evt => {
    for (const frame of reader.push(evt.data)) onFrame(frame)
  })
}

/** A node that echoes every frame on every stream opened to it; resolves with its address. */
export async function bareServer (stock: boolean): Promise<{ address: string, stop: () => Promise<void> }> {
  const node = await bareNode(stock)
  await node.handle(ECHO, stream => {
    frames(stream, frame => { stream.send(lp.encode.single(frame)) })
  })
  return { address: node.getMultiaddrs()[0].toString(), stop: async () => { await node.stop() } }
}

/** A client on one stream that matches echoes to requests in order (FIFO, like the raw one). */
export async function bareClient (address: string, stock: boolean): Promise<{ ask: (payload: Uint8Array) => Promise<void>, close: () => Promise<void> }> {
  const node = await bareNode(stock)
  const stream = await node.dialProtocol(multiaddr(address), ECHO)
  const waiting: Array<() => void> = []
  frames(stream, () => { waiting.shift()?.() })
  const ask = async (payload: Uint8Array): Promise<void> => {
    await new Promise<void>(resolve => { waiting.push(resolve); stream.send(lp.encode.single(payload)) })
  }
  return { ask, close: async () => { await node.stop() } }
}
