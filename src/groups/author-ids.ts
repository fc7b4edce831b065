import { toString as u8ToString } from 'uint8arrays/to-string'
import { binary } from '../util/binary.js'

/**
 * Peer ids (base58, as PeerId.toString spells them) of recent gossip authors, by the multihash
 * bytes a message carries. Every gossip message comes with a fresh PeerId, and spelling one out in
 * base58 (~9 µs) was nearly a third of the topic validator's time. Bounded: emptied when full and
 * refilled as used, since authors come from the network.
 */
export class AuthorIds {
  private readonly ids = new Map<string, string>()

  constructor (private readonly max = 4096) {}

  of (multihash: Uint8Array): string {
    const key = binary(multihash)
    let id = this.ids.get(key)
    if (id == null) {
      if (this.ids.size >= this.max) this.ids.clear()
      id = u8ToString(multihash, 'base58btc')
      this.ids.set(key, id)
    }
    return id
  }
}
