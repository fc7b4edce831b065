import type { Payload } from './codec/payload.js'

export type { Payload, JsonValue } from './codec/payload.js'

/** What this node knows about a peer. A plain snapshot: mutating it changes nothing. */
export interface PeerInfo {
  id: string
  name: string
  headers: Record<string, string>
  groups: string[]
  addresses: string[]
  /** 'suspect' while the peer missed its probes and has not yet refuted (Zyre's EVASIVE). */
  state: Liveness
}

export type Liveness = 'alive' | 'suspect'

export type ExitReason = 'left' | 'lost'

/** Every event a node emits, discriminated on `type`. */
export type ShoalEvent =
  | { type: 'enter', peer: PeerInfo }
  | { type: 'exit', peer: PeerInfo, reason: ExitReason }
  /** The peer stopped answering probes; it has until its suspicion times out to refute. */
  | { type: 'suspect', peer: PeerInfo, since: number }
  /** A suspect peer proved it is alive. */
  | { type: 'alive', peer: PeerInfo }
  /** A peer changed its headers. */
  | { type: 'update', peer: PeerInfo }
  | { type: 'join', peer: PeerInfo, group: string }
  | { type: 'leave', peer: PeerInfo, group: string }
  /** `headers`: the shout's per-message headers (`{}` if it had none). */
  | { type: 'shout', from: PeerInfo, group: string, data: Payload, headers: Record<string, string> }
  | { type: 'whisper', from: PeerInfo, data: Payload }
  /**
   * A limit dropped a peer's traffic (or refused its connection): `dropped` messages on
   * `channel` (a frame type such as 'shout' or 'whisper', or 'wire', 'connection') since the
   * last report. At most one a second per peer, kind and channel. See Limits in the README.
   */
  | { type: 'limit', peerId: string, kind: LimitKind, channel: string, dropped: number }

/**
 * Which limit: 'rate' (the peer sent faster than maxInboundShouts/Messages/Bytes), 'queue' (more
 * than maxQueuedBytes waited for a peer that is not reading: its shout copies are dropped),
 * 'peers' (a connection past maxPeers), 'size' (a frame past maxMessageSize), 'quarantine' (the
 * peer misbehaved enough, garbage or floods, to be disconnected and refused for a while).
 */
export type LimitKind = 'rate' | 'queue' | 'peers' | 'size' | 'quarantine'

export type ShoalEventType = ShoalEvent['type']
export type EventOf<K extends ShoalEventType> = Extract<ShoalEvent, { type: K }>

export interface SendOptions {
  /** Abandon the call; it rejects with the signal's reason. */
  signal?: AbortSignal
  /** Milliseconds before an unreachable peer is given up on (default: `ttl`, else the node's `sendTimeout`). */
  timeout?: number
  /**
   * Whisper only: resolve once the peer has received the message, resending (across reconnects)
   * until it acknowledges; the peer delivers it once however many copies arrive.
   */
  ack?: boolean
  /** Whisper only: the peer drops the message if it arrives more than this many ms after the call (implies `ack`). */
  ttl?: number
}

export interface RequestOptions {
  /** Abandon the request; it rejects with the signal's reason. */
  signal?: AbortSignal
  /** Milliseconds to wait for the reply (default: the node's `requestTimeout`). */
  timeout?: number
}

/** What a request handler gets; `T` is what the service's `validate` returns (default: any payload). */
export interface IncomingRequest<T = Payload> {
  from: PeerInfo
  data: T
  /** Aborts when the requester leaves or is lost, or this node stops: the reply would go nowhere. */
  signal: AbortSignal
}

/** Answers a request: the return value (or what its promise resolves to) is the reply. */
export type RequestHandler<T = Payload> = (req: IncomingRequest<T>) => Payload | Promise<Payload>

export interface GatherOptions {
  /** Milliseconds each member has to reply (default: the node's `requestTimeout`). */
  timeout?: number
  /** Fewest replies acceptable: with fewer, the call rejects with NotEnoughRepliesError (default 0). */
  min?: number
  /** Stop once this many replies are in; the other requests are abandoned (default: no limit). */
  max?: number
  signal?: AbortSignal
}

/** One member's answer to a scatter-gather. */
export type GatherItem =
  | { type: 'reply', peer: PeerInfo, data: Payload }
  /** The member does not handle the service (it said so at once). */
  | { type: 'no-handler', peer: PeerInfo }
  /** Its handler failed (RemoteError), it timed out (RequestTimeoutError), left or was lost, or could not be reached. */
  | { type: 'failed', peer: PeerInfo, error: Error }

export interface GatherResult {
  replies: Array<{ peer: PeerInfo, data: Payload }>
  noHandler: PeerInfo[]
  /** Members that were asked and did not reply, with why. */
  missing: Array<{ peer: PeerInfo, error: Error }>
}

/** Counters for what the node did and dropped, so silent loss is visible. */
export interface NodeStats {
  shoutsSent: number
  /** Shout copies sent directly because gossipsub did not (yet) cover a member. */
  shoutFallbacks: number
  shoutsReceived: number
  duplicatesDropped: number
  /** Shouts older than their sender's replay window (about 2 minutes): a replayed signed message, or a copy delayed that long. */
  staleDropped: number
  whispersSent: number
  whispersReceived: number
  /** Inbound frames or messages that failed to decode or broke a limit. */
  malformedDropped: number
  /**
   * Messages from a sender not (or no longer) in this node's view that did not introduce itself
   * within a few seconds (held meanwhile, see PendingDeliveries): e.g. a quarantined flooder's
   * shouts still on their way through the mesh when it was removed.
   */
  unknownSenderDropped: number
  /** Whispers with a `ttl` that arrived after it had passed. */
  expiredDropped: number
  /** Shouts dropped because their headers did not pass the filter this node joined the group with. */
  filteredDropped: number
  /** Shouts to an encrypted group sealed with a key this node does not hold (or to a group it joined without a key). */
  unreadableDropped: number
  /** Shouts to an encrypted group that failed authentication (tampered, forged, re-sent under another sender or group) or came unsealed. */
  forgedDropped: number
  /** Shouts refused by the `validate` function this node joined their group with. */
  invalidDropped: number
  /** Messages from peers the allow/deny lists refuse that reached us through a neighbour (gossip). */
  deniedDropped: number
  /** Inbound messages dropped because their sender passed its rate (maxInboundShouts, maxInboundMessages, maxInboundBytes). */
  rateLimited: number
  /** Direct shout copies dropped because maxQueuedBytes already waited for that member (it is not reading). */
  queueDropped: number
  /** Whispers, requests and replies refused locally with QueueFullError (maxQueuedBytes waited for the peer). */
  queueRejected: number
  /** Inbound connections refused because the node already had maxPeers peers. */
  peersRefused: number
  /** Inbound frames larger than maxMessageSize allows (the stream they came on is reset). */
  oversizeDropped: number
  /** Times a peer was quarantined (disconnected and refused for a while) for garbage or floods. */
  quarantined: number
  /** Presence traffic (hello, probes, suspicion gossip, anti-entropy) sent, in frames and bytes. */
  presenceFramesSent: number
  presenceBytesSent: number
  /** Probes that went unanswered, directly and indirectly. */
  probesFailed: number
  /**
   * Lifeguard's local health, 0 (healthy) to 8: how much this node currently stretches its probe
   * timing because its own probes or process look slow. Stays above 0 on an overloaded machine.
   */
  localHealth: number
}
