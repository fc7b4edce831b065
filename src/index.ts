import './polyfill.js'

export { createNode } from './create.js'
export type { ShoalNode } from './node.js'
export type { NodeOptions, MdnsOptions } from './options.js'
export type { PresenceProfile, PresenceTuning } from './presence/profile.js'
export type { EventsOptions } from './emitter.js'
export type { Job, ConsumeOptions, EnqueueOptions } from './patterns/work-queue.js'
export type { ShoutFilter } from './patterns/filter.js'
export type { HandleOptions, Validate } from './patterns/typed.js'
export type { JoinOptions, Shout } from './groups/group-settings.js'
export type { PeerInfo, Liveness, ShoalEvent, ShoalEventType, EventOf, ExitReason, SendOptions, NodeStats, Payload, JsonValue, RequestOptions, RequestHandler, IncomingRequest, GatherOptions, GatherItem, GatherResult, LimitKind } from './types.js'
export {
  ShoalError, PeerNotFoundError, PeerUnreachableError, MessageTooLargeError, InvalidArgumentError,
  NodeStoppedError, ConfigError, DecodeError, RequestTimeoutError, PeerLostError, NoHandlerError, RemoteError, NotEnoughRepliesError, JobFailedError,
  InvalidMessageError, QueueFullError, RateLimitedError
} from './errors.js'
export { generateMeshKey, type MeshKey } from './trust/mesh-key.js'
export { generateGroupKey, type GroupKey } from './groups/group-crypto.js'
