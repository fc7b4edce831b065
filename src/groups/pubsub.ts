// The only module that imports gossipsub: switching back to @chainsafe/libp2p-gossipsub once it
// supports libp2p 3 is a change here and nowhere else.
import { gossipsub, TopicValidatorResult, type GossipSub } from '@libp2p/gossipsub'
import { equals as u8Equals } from 'uint8arrays/equals'
import { binary } from '../util/binary.js'
import { AuthorIds } from './author-ids.js'
import type { PeerId } from '@libp2p/interface'

export { TopicValidatorResult }
export type { GossipSub }

export interface PubsubInit {
  /** Largest shout envelope accepted from the wire, in bytes. */
  maxDataLength: number
  /** Bytes that may wait for one peer that is not reading (maxQueuedBytes). */
  maxQueuedBytes: number
  /** A peer's misbehaviour points (see Penalties): gossipsub graylists it past 80. */
  penalty: (peer: string) => number
  /** Whether `peer` is quarantined (see Penalties): its gossip is dropped unread from then on. */
  quarantined: (peer: string) => boolean
  /**
   * Whether `author`, sending its own message (the `count`th of its own in one RPC), is past its
   * shout rate (see Limits.overShoutRate): asked before the signature is verified; if so the
   * message is dropped unverified.
   */
  overRate: (author: string, count: number) => boolean
  /**
   * Whether `author`'s shout rate here is used up already, charging and penalising nothing (see
   * Limits.spent): asked for a message another peer passes on, whose author is not verified yet;
   * if so the message is dropped unverified, as the topic validator would ignore it once verified.
   */
  spent: (author: string) => boolean
  /** Every member is connected to every other (no `degree`): the mesh is a backup path only. */
  fullMesh: boolean
}

// Gossipsub's default thresholds, stated here because the penalty weight below is chosen from
// them: at 80 points (8 malformed messages, or 80 past the rate) a peer's gossip is no longer
// even parsed, until its points decay (half-life 30 s). Shoal also quarantines it then (Penalties).
const THRESHOLDS = { gossipThreshold: -10, publishThreshold: -50, graylistThreshold: -80, acceptPXThreshold: 10, opportunisticGraftThreshold: 20 }

// Per-topic score (P1-P4) of a group's topic. Only invalid messages count (P4): a peer that
// passes on messages with a bad signature, or that Shoal rejects as malformed, is graylisted after
// three (-10 x count squared), and the count halves every 30 s like Shoal's own points. Bad
// signatures never reach Shoal's validator, so without this they would cost the sender nothing.
// Time in mesh and first deliveries (P1, P2) earn nothing, so an honest peer's score stays 0 and
// graylisting tracks misbehaviour alone; mesh delivery rates (P3) are off: a group is quiet when
// nobody talks, and a quiet mesh peer is not a faulty one.
const TOPIC_SCORE = {
  topicWeight: 1,
  timeInMeshWeight: 0,
  timeInMeshQuantum: 1000,
  timeInMeshCap: 1,
  firstMessageDeliveriesWeight: 0,
  firstMessageDeliveriesDecay: 0.5,
  firstMessageDeliveriesCap: 1,
  meshMessageDeliveriesWeight: 0,
  meshMessageDeliveriesDecay: 0.5,
  meshMessageDeliveriesCap: 1,
  meshMessageDeliveriesThreshold: 1,
  meshMessageDeliveriesWindow: 10,
  meshMessageDeliveriesActivation: 5000,
  meshFailurePenaltyWeight: 0,
  meshFailurePenaltyDecay: 0.5,
  invalidMessageDeliveriesWeight: -10,
  invalidMessageDeliveriesDecay: 0.5 ** (1 / 30)
}

/**
 * Scores `topic` with the parameters above. Gossipsub takes per-topic parameters only at
 * construction, and group topics come and go, so they are added to its live table
 * (`score.params.topics`, @libp2p/gossipsub 17), which it reads on every score.
 */
export function scoreTopic (pubsub: GossipSub, topic: string): void {
  const topics = (pubsub as unknown as { score?: { params?: { topics?: Record<string, typeof TOPIC_SCORE> } } }).score?.params?.topics
  if (topics == null) throw new Error('gossipsub has no score.params.topics: per-topic scoring needs updating')
  topics[topic] ??= { ...TOPIC_SCORE }
}

// In a full mesh every member gets each shout from its author (floodPublish, and Shoal's direct
// copy to any member gossipsub has not yet seen subscribe), so gossipsub's mesh only backs that
// up. Its default degree (6, up to 12) had every member pass every shout on to 6-12 others who
// all had it already: with two mesh peers each (up to 4), a 20-node group shouting used about a
// fifth less CPU, and a burst a quarter less per delivery (sim/bench/abuse.ts and compare.ts;
// README). Every member still has a second path, and IHAVE gossip a third. Gossipsub wants
// Dout < Dlo and Dout <= D/2. A partial mesh (`degree`) keeps gossipsub's defaults: there the
// mesh is how a shout reaches members its author is not connected to.
const FULL_MESH = { D: 2, Dlo: 2, Dhi: 4, Dscore: 1, Dout: 1 }

export function pubsubService (init: PubsubInit): ReturnType<typeof gossipsub> {
  const create = gossipsub({
    ...(init.fullMesh ? FULL_MESH : {}),
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
      ? 's' + binary(msg.from) + binary(msg.seqno)
      : 'u' + binary((msg.data ?? new Uint8Array(0)).subarray(0, 48)),
    // Message ids are map keys and never leave the node (the wire carries the bytes): one char per
    // byte costs a third of the default base64, paid for every message and gossip id.
    msgIdToStrFn: binary,
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
  return (components) => guard(create(components), init)
}

// The RPC as gossipsub decodes it, as far as the guard reads it.
interface Rpc { messages: Array<{ from?: Uint8Array, seqno?: Uint8Array }> }

/**
 * Puts Shoal's limits in front of gossipsub's signature check. Gossipsub verifies every new
 * message's signature (and passes it on to its mesh) before its topic validator runs, where the
 * per-author rate is charged, and its graylist reads a score cached for a heartbeat: a flooder's
 * messages cost every node a verification each until then, and those within the rate a forward.
 * Here, per RPC, before any of that: a quarantined peer's RPCs are dropped unread, and a message
 * whose author is the peer that sent it (the connection authenticates that peer, so no one can
 * spend another's rate) is dropped unverified once that author is past its rate. A message passed
 * on by another peer is dropped unverified if its author's rate here is used up already: the
 * validator would ignore it after verifying it. Its author is only claimed, so that charges and
 * penalises no one (a forger can only have dropped what would have been dropped anyway), and an
 * answer to our own IWANT is let through (see `promised`). `handleReceivedRpc` is the method
 * gossipsub's stream reader calls for each RPC (@libp2p/gossipsub 17); test/gossip-guard.test.ts
 * shows messages dropped here.
 */
function guard (pubsub: GossipSub, init: PubsubInit): GossipSub {
  const target = pubsub as unknown as { handleReceivedRpc?: (from: PeerId, rpc: Rpc) => Promise<void> }
  if (typeof target.handleReceivedRpc !== 'function') throw new Error('gossipsub has no handleReceivedRpc: the guard needs updating')
  const promised = promises(pubsub)
  const authors = new AuthorIds()
  const handle = target.handleReceivedRpc.bind(pubsub)
  target.handleReceivedRpc = async (from, rpc) => {
    const id = from.toString()
    if (init.quarantined(id)) return
    if (rpc.messages.length > 0) {
      const self = from.toMultihash().bytes
      // The rate is charged only after verification, so one RPC's own messages are counted
      // here against what the bucket holds: a batch cannot slip past a bucket with one token.
      let own = 0
      rpc.messages = rpc.messages.filter(m => {
        if (m.from == null) return true
        if (u8Equals(m.from, self)) return !init.overRate(id, ++own)
        return !init.spent(authors.of(m.from)) || promised(m)
      })
    }
    await handle(from, rpc)
  }
  return pubsub
}

/**
 * Whether gossipsub awaits a message because it asked for it (IWANT): it holds the peer that
 * offered it to that promise, and a dropped answer would count against that (honest) peer as a
 * broken one. The id is gossipsub's for a signed message (msgIdFnStrictSign: the author's
 * protobuf key, which an Ed25519 peer id's identity multihash holds after its 2-byte header, then
 * the 8-byte seqno) as `msgIdToStrFn` above spells it; for other shapes, true (not dropped).
 */
function promises (pubsub: GossipSub): (m: { from?: Uint8Array, seqno?: Uint8Array }) => boolean {
  const awaited = (pubsub as unknown as { gossipTracer?: { promises?: unknown } }).gossipTracer?.promises
  if (!(awaited instanceof Map)) throw new Error('gossipsub has no gossipTracer.promises: the guard needs updating')
  return ({ from, seqno }) => {
    const id = signedMsgId(from, seqno)
    return id == null || awaited.has(id)
  }
}

/** Gossipsub's id of a signed message from an Ed25519 author, as described above; undefined for other shapes. */
export function signedMsgId (from?: Uint8Array, seqno?: Uint8Array): string | undefined {
  if (from == null || seqno?.length !== 8 || from[0] !== 0 || from[1] !== from.length - 2) return undefined
  return binary(from.subarray(2)) + binary(seqno)
}
