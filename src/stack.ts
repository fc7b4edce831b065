// Node-only edge: the transport, connection encrypter and stream muxer every Shoal connection
// goes through, in one place so the benchmarks can measure the bare stack Shoal runs on.
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { noiseCrypto } from './noise-crypto.js'
import type { ConnectionEncrypter, StreamMuxerFactory, Transport } from '@libp2p/interface'

export interface Stack {
  transports: Array<(components: any) => Transport>
  connectionEncrypters: Array<(components: any) => ConnectionEncrypter>
  streamMuxers: Array<(components: any) => StreamMuxerFactory>
}

export function stack (): Stack {
  return {
    transports: [tcp()],
    connectionEncrypters: [noise({ crypto: noiseCrypto })],
    streamMuxers: [yamux()]
  }
}
