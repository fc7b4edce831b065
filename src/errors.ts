/**
 * Every error Shoal throws or rejects with is a ShoalError with a stable `name` and `code`, so
 * callers can branch on `err instanceof PeerNotFoundError` or on `err.code` across realms.
 */
export class ShoalError extends Error {
  readonly code: string
  constructor (message: string, code: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

/** The peer id is not (or no longer) in this node's view of the mesh. */
export class PeerNotFoundError extends ShoalError {
  constructor (readonly peerId: string) {
    super(`peer ${peerId} is not known to this node`, 'ERR_PEER_NOT_FOUND')
  }
}

/** The peer is known but could not be reached (dial failed, stream refused, timed out). */
export class PeerUnreachableError extends ShoalError {
  constructor (readonly peerId: string, reason: string, options?: { cause?: unknown }) {
    super(`peer ${peerId} is unreachable: ${reason}`, 'ERR_PEER_UNREACHABLE', options)
  }
}

/** An outbound message (after encoding) is larger than `maxMessageSize`. */
export class MessageTooLargeError extends ShoalError {
  constructor (readonly size: number, readonly limit: number) {
    super(`message of ${size} bytes exceeds the limit of ${limit} bytes`, 'ERR_MESSAGE_TOO_LARGE')
  }
}

/** An argument has the wrong type or shape (a group name that is not a string, a cyclic value...). */
export class InvalidArgumentError extends ShoalError {
  constructor (message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_INVALID_ARGUMENT', options)
  }
}

/** Bytes from the wire that do not decode. Never thrown to users: the frame is dropped and logged. */
export class DecodeError extends ShoalError {
  constructor (message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_DECODE', options)
  }
}

/** The node was stopped, or is stopping, so it cannot do this. */
export class NodeStoppedError extends ShoalError {
  constructor () {
    super('the node is stopped', 'ERR_NODE_STOPPED')
  }
}

/** A configuration file or option that cannot be used. */
export class ConfigError extends ShoalError {
  constructor (message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_CONFIG', options)
  }
}

/** A request got no reply within its timeout. */
export class RequestTimeoutError extends ShoalError {
  constructor (readonly peerId: string, readonly service: string, readonly timeoutMs: number) {
    super(`request to ${peerId} for "${service}" got no reply within ${timeoutMs} ms`, 'ERR_REQUEST_TIMEOUT')
  }
}

/** The peer left or was lost while a request to it was waiting for its reply. */
export class PeerLostError extends ShoalError {
  constructor (readonly peerId: string, readonly service: string) {
    super(`peer ${peerId} went away before replying to "${service}"`, 'ERR_PEER_LOST')
  }
}

/** The peer has no handler for the service. Comes back at once, not as a timeout. */
export class NoHandlerError extends ShoalError {
  constructor (readonly peerId: string, readonly service: string) {
    super(`peer ${peerId} does not handle "${service}"`, 'ERR_NO_HANDLER')
  }
}

/** The peer's handler failed (threw, or returned something that cannot be sent); `message` is its error's message. */
export class RemoteError extends ShoalError {
  constructor (readonly peerId: string, readonly service: string, readonly remoteMessage: string) {
    super(`"${service}" failed at ${peerId}: ${remoteMessage}`, 'ERR_REMOTE')
  }
}

/** A scatter-gather got fewer replies than its `min`; `result` holds what it did get. */
export class NotEnoughRepliesError extends ShoalError {
  constructor (readonly result: { replies: unknown[], noHandler: unknown[], missing: unknown[] }, readonly min: number) {
    super(`gathered ${result.replies.length} replies, fewer than the ${min} required`, 'ERR_NOT_ENOUGH_REPLIES')
  }
}

/**
 * A message refused by a `validate` function: a request or job (the requester gets it as a
 * RemoteError with this message), a shout received (dropped, counted in `stats().invalidDropped`)
 * or a shout sent to a group this node joined with `validate` (thrown to the caller).
 */
export class InvalidMessageError extends ShoalError {
  constructor (readonly kind: 'request' | 'job' | 'shout', reason: string, options?: { cause?: unknown }) {
    super(`invalid ${kind}: ${reason}`, 'ERR_INVALID_MESSAGE', options)
  }
}

/** A job reached its `maxDeliveries` without being acknowledged by a consumer. */
export class JobFailedError extends ShoalError {
  constructor (readonly jobId: string, readonly deliveries: number, options?: { cause?: unknown }) {
    super(`job ${jobId} was not acknowledged after ${deliveries} deliveries`, 'ERR_JOB_FAILED', options)
  }
}

/**
 * More than `maxQueuedBytes` already wait to go out to this peer (it reads slower than we send,
 * or not at all): the send is refused at once rather than buffered without bound.
 */
export class QueueFullError extends ShoalError {
  constructor (readonly peerId: string, readonly queuedBytes: number, readonly limit: number) {
    super(`${queuedBytes} bytes already wait for peer ${peerId} (limit ${limit})`, 'ERR_QUEUE_FULL')
  }
}

/**
 * A shout that would have to wait longer than `sendTimeout` for its turn: shouts are paced below
 * `maxInboundShouts`, the rate peers accept from one sender, and more are already waiting than
 * can go out in time. Refused at once, before anything is sent.
 */
export class RateLimitedError extends ShoalError {
  constructor (readonly rate: number, readonly waitMs: number, readonly timeoutMs: number) {
    super(`shouts are paced below ${rate} a second (maxInboundShouts): this one would wait ${Math.ceil(waitMs)} ms, longer than ${timeoutMs} ms`, 'ERR_RATE_LIMITED')
  }
}
