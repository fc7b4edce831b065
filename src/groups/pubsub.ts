// The only module that imports gossipsub: switching back to @chainsafe/libp2p-gossipsub once it
// supports libp2p 3 is a change here and nowhere else.
import { gossipsub, TopicValidatorResult, type GossipSub } from '@libp2p/gossipsub'
import { toString as u8ToString } from 'uint8arrays/to-string'

export { TopicValidatorResult }
export type { GossipSub }

export interface PubsubInit {
  /** Largest shout envelope accepted from the wire, in bytes. */
  maxDataLength: number
  /** Bytes that may wait for one peer that is not reading (maxQueuedBytes). */
  maxQueuedBytes: number
  /** A peer's misbehaviour points (see Penalties): gossipsub graylists it past 80. */
  penalty: (peer: string) => number
}

// Gossipsub's default thresholds, stated here because the penalty weight below is chosen from
// them: at 80 points (8 malformed messages, or 80 past the rate) a peer's gossip is no longer
// even parsed, until its points decay (half-life 30 s). Shoal also quarantines it then (Penalties).
const THRESHOLDS = { gossipThreshold: -10, publishThreshold: -50, graylistThreshold: -80, acceptPXThreshold: 10, opportunisticGraftThreshold: 20 }

export function pubsubService (init: PubsubInit): ReturnType<typeof gossipsub> {
  return gossipsub({
    // Shoal decides who must get a shout from its own membership view and fills gaps by direct
    // delivery, so publishing before gossipsub has seen any subscriber is normal, not an error.
    allowPublishToZeroTopicPeers: true,
    emitSelf: false,
    // Send every publish straight to all known subscribers, not just the mesh: on a LAN-sized
    // mesh this is the lowest-latency path and the recipients list tells us who was covered.
    floodPublish: true,
    globalSignaturePolicy: 'StrictSign',
    // from + seqno identifies a signed message; computing it before decoding the whole message
    // lets duplicates be dropped without verifying their signature again (~40% less CPU).
    fastMsgIdFn: (msg) => (msg.from != null && msg.seqno != null)
      ? u8ToString(msg.from, 'base64') + u8ToString(msg.seqno, 'base64')
      : u8ToString(msg.data ?? new Uint8Array(0), 'base64').slice(0, 64),
    maxInboundDataLength: init.maxDataLength + 64 * 1024,
    // Without a cap gossipsub queues without bound for a peer that stopped reading. Past it the
    // stream to that peer is reset, it drops out of `recipients`, and shouts to it take the
    // direct path, which holds at most as much again for it (see Limits) and drops the rest.
    maxOutboundBufferSize: init.maxQueuedBytes,
    scoreThresholds: THRESHOLDS,
    scoreParams: {
      // P5: Shoal's own view of a peer (garbage on any protocol, floods), as a negative score.
      appSpecificScore: (peer) => -init.penalty(peer),
      appSpecificWeight: 1,
      // Many peers behind one address is the normal case on a LAN with NAT, a dev machine running
      // several nodes, and the simulator; the default penalty scores them out of the mesh.
      IPColocationFactorWeight: 0
    }
  })
}
