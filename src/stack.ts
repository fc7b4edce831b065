// Node-only edge: the transport, connection encrypter and stream muxer every Shoal connection
// goes through, in one place so the benchmarks can measure the bare stack Shoal runs on. Noise
// and Yamux are the stock ones with two fixes to how they move frames (see stack/*): the wire
// format, the encryption and every check are unchanged, so stock libp2p peers interoperate.
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { noiseCrypto } from './noise-crypto.js'
import { framedNoise } from './stack/noise-frames.js'
import { halfWindowUpdates } from './stack/yamux-window.js'
import type { ConnectionEncrypter, StreamMuxerFactory, Transport } from '@libp2p/interface'

export interface Stack {
  transports: Array<(components: any) => Transport>
  connectionEncrypters: Array<(components: any) => ConnectionEncrypter>
  streamMuxers: Array<(components: any) => StreamMuxerFactory>
}

/** Shoal's stack, or with `stock` the same packages as published (without stack/* nor noise-crypto.ts). */
export function stack (stock = false): Stack {
  const encrypter = noise(stock ? {} : { crypto: noiseCrypto })
  const muxer = yamux()
  return {
    transports: [tcp()],
    connectionEncrypters: [stock ? encrypter : framedNoise(encrypter)],
    streamMuxers: [stock ? muxer : halfWindowUpdates(muxer)]
  }
}
