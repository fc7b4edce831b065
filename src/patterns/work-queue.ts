import * as varint from 'uint8-varint'
import type { Logger } from '@libp2p/interface'
import { decodePayload, encodePayload, type Payload } from '../codec/payload.js'
import { DecodeError, InvalidArgumentError, JobFailedError, NoHandlerError, NodeStoppedError, RemoteError } from '../errors.js'
import { LIMITS } from '../codec/frame.js'
import type { PeerInfo } from '../types.js'
import { validator, type Validate } from './typed.js'

/** What a consumer's handler receives; `T` is what the consumer's `validate` returns (default: any payload). */
export interface Job<T = Payload> {
  /** Unique per job and stable across redeliveries: what a sink dedupes on. */
  id: string
  /** 1 on first delivery; more when an earlier consumer crashed or timed out before acknowledging. */
  deliveries: number
  queue: string
  data: T
  /** The producer (who enqueued it). */
  from: PeerInfo
}

export interface ConsumeOptions<T = Payload> {
  /** Jobs this consumer runs at once; more are not sent to it until it acknowledges (default 1). */
  prefetch?: number
  /**
   * Checks each job's data and returns what the handler gets. A job it refuses never reaches the
   * handler: the enqueue rejects with a RemoteError starting with "invalid job:" (not retried).
   */
  validate?: Validate<T>
}

export interface EnqueueOptions {
  /** Milliseconds a consumer may hold the job before it is given to another (default 30 000). */
  timeout?: number
  /** Deliveries after which the job is given up (default 10): rejects with JobFailedError. */
  maxDeliveries?: number
  signal?: AbortSignal
}

export interface WorkQueuesInit {
  log: Logger
  selfId: string
  /** Live consumers of `queue` (from their headers) and their prefetch. */
  consumers: (queue: string) => Array<{ id: string, prefetch: number }>
  /** A request/reply round trip (see direct/requests.ts): the reply is the acknowledgement. */
  request: (peer: string, service: string, payload: Uint8Array, options: { timeout: number, signal: AbortSignal }) => Promise<Payload>
  handle: (service: string, handler: (req: { from: PeerInfo, data: Payload }) => unknown) => () => void
  /** Announces (prefetch) or withdraws (undefined) this node as a consumer of `queue`. */
  advertise: (queue: string, prefetch: number | undefined) => Promise<void>
}

interface Pending {
  id: string
  queue: string
  payload: Uint8Array
  deliveries: number
  timeout: number
  maxDeliveries: number
  /** Consumers that answered NoHandler for this job (they just stopped consuming). */
  refused: Set<string>
  resolve: (value: Payload) => void
  reject: (err: unknown) => void
  abort: AbortController
}

/** Header a consumer of `queue` announces, with its prefetch as value. */
export const consumerHeader = (queue: string): string => `shoal.queue.${queue}`
const serviceOf = (queue: string): string => `shoal.queue/${queue}`
const DEFAULT_TIMEOUT = 30_000
const DEFAULT_MAX_DELIVERIES = 10

/**
 * Work queues without a broker: the producer keeps each job until a consumer acknowledges it.
 * A delivery is a request to one consumer (chosen by fewest jobs in flight, within its
 * prefetch); the consumer's reply, sent when its handler finishes, is the acknowledgement. A
 * consumer that is lost, leaves or times out before replying gets its jobs taken back and
 * given to another, with `deliveries` one higher: at-least-once, deduplicated by job id.
 */
export class WorkQueues {
  private readonly waiting: Pending[] = []
  private readonly inFlight = new Map<string, number>() // `${queue}\n${consumer}` -> jobs
  private seq = Date.now() * 1000
  private stopped = false
  private readonly consuming = new Map<string, () => void>()

  constructor (private readonly init: WorkQueuesInit) {}

  async enqueue (queue: string, payload: Uint8Array, options: EnqueueOptions = {}): Promise<Payload> {
    checkQueue(queue)
    const timeout = options.timeout ?? DEFAULT_TIMEOUT
    const maxDeliveries = options.maxDeliveries ?? DEFAULT_MAX_DELIVERIES
    if (!(timeout > 0) || !(maxDeliveries >= 1)) throw new InvalidArgumentError('timeout and maxDeliveries must be positive')
    options.signal?.throwIfAborted()
    const abort = new AbortController()
    const onAbort = (): void => { abort.abort(options.signal?.reason) }
    options.signal?.addEventListener('abort', onAbort)
    try {
      return await new Promise<Payload>((resolve, reject) => {
        const job: Pending = { id: `${this.init.selfId}/${++this.seq}`, queue, payload, deliveries: 0, timeout, maxDeliveries, refused: new Set(), resolve, reject, abort }
        abort.signal.addEventListener('abort', () => {
          const i = this.waiting.indexOf(job)
          if (i >= 0) this.waiting.splice(i, 1)
          reject(abort.signal.reason)
        })
        this.waiting.push(job)
        this.dispatch()
      })
    } finally {
      options.signal?.removeEventListener('abort', onAbort)
    }
  }

  /** Serves `queue` with `handler`, at most `prefetch` jobs at a time. Resolves to a function that stops consuming. */
  async consume<T = Payload> (queue: string, handler: (job: Job<T>) => unknown, options: ConsumeOptions<T> = {}): Promise<() => Promise<void>> {
    checkQueue(queue)
    const service = serviceOf(queue)
    const prefetch = options.prefetch ?? 1
    if (!Number.isInteger(prefetch) || prefetch < 1) throw new InvalidArgumentError('prefetch must be a positive integer')
    if (this.consuming.has(queue)) throw new InvalidArgumentError(`already consuming "${queue}"`)
    const check = validator(options.validate, 'job')
    const slots = new Slots(prefetch)
    const off = this.init.handle(service, async req => {
      const { id, deliveries, payload } = decodeJob(req.data)
      // Refused before it takes a slot: an invalid job must not wait behind valid ones.
      const data = check(decodePayload(payload))
      await slots.take()
      try {
        const result = await handler({ id, deliveries, queue, data, from: req.from })
        return result === undefined ? null : result // a handler with nothing to say still acknowledges
      } finally {
        slots.release()
      }
    })
    this.consuming.set(queue, off)
    await this.init.advertise(queue, prefetch)
    return async () => {
      if (this.consuming.get(queue) !== off) return
      this.consuming.delete(queue)
      // Withdraw first, so producers stop choosing us, then refuse what still arrives.
      await this.init.advertise(queue, undefined).catch(() => {})
      off()
    }
  }

  /** Consumers may have appeared (a join, a header change): try to hand out waiting jobs. */
  dispatch (): void {
    if (this.stopped || this.waiting.length === 0) return
    const consumers = new Map<string, Array<{ id: string, prefetch: number }>>()
    // A queue whose consumers are all at their prefetch takes no more in this pass: with
    // thousands of jobs waiting, each acknowledgement must not rescan them all.
    const full = new Set<string>()
    for (let i = 0; i < this.waiting.length;) {
      const job = this.waiting[i]
      if (full.has(job.queue)) { i++; continue }
      let list = consumers.get(job.queue)
      if (list == null) { list = this.init.consumers(job.queue); consumers.set(job.queue, list) }
      const to = this.pick(job, list)
      if (to == null) {
        if (job.refused.size === 0) full.add(job.queue)
        i++
        continue
      }
      this.waiting.splice(i, 1)
      this.deliver(job, to)
    }
  }

  stop (): void {
    this.stopped = true
    for (const off of this.consuming.values()) off()
    this.consuming.clear()
    for (const job of this.waiting.splice(0)) job.reject(new NodeStoppedError())
  }

  /** The consumer with the fewest of this queue's jobs in flight, below its prefetch. */
  private pick (job: Pending, consumers: Array<{ id: string, prefetch: number }>): string | undefined {
    let best: string | undefined
    let bestLoad = Infinity
    // Start at a random consumer so ties do not always go to the same one.
    const start = Math.floor(Math.random() * consumers.length)
    for (let k = 0; k < consumers.length; k++) {
      const c = consumers[(start + k) % consumers.length]
      if (job.refused.has(c.id)) continue
      const load = this.inFlight.get(`${job.queue}\n${c.id}`) ?? 0
      if (load < c.prefetch && load < bestLoad) { best = c.id; bestLoad = load }
    }
    return best
  }

  private deliver (job: Pending, consumer: string): void {
    const key = `${job.queue}\n${consumer}`
    this.inFlight.set(key, (this.inFlight.get(key) ?? 0) + 1)
    job.deliveries++
    const body = encodeJob(job.id, job.deliveries, job.payload)
    this.init.request(consumer, serviceOf(job.queue), body, { timeout: job.timeout, signal: job.abort.signal }).then(value => {
      job.resolve(value)
    }, err => {
      if (job.abort.signal.aborted) return // the producer gave up; enqueue already rejected
      if (err instanceof RemoteError || err instanceof DecodeError) { job.reject(err); return } // the handler ran and failed: not lost
      if (err instanceof NoHandlerError) { job.refused.add(consumer); job.deliveries-- } else {
        this.init.log('job %s: delivery %d to %s failed (%s); redelivering', job.id, job.deliveries, consumer, err?.name)
      }
      if (this.stopped) { job.reject(new NodeStoppedError()); return }
      if (job.deliveries >= job.maxDeliveries) { job.reject(new JobFailedError(job.id, job.deliveries, { cause: err })); return }
      this.waiting.unshift(job)
    }).finally(() => {
      const n = (this.inFlight.get(key) ?? 1) - 1
      if (n === 0) this.inFlight.delete(key)
      else this.inFlight.set(key, n)
      this.dispatch()
    })
  }
}

/** A counting semaphore: the consumer side of prefetch, which also holds with several producers. */
class Slots {
  private readonly queue: Array<() => void> = []
  constructor (private free: number) {}
  async take (): Promise<void> {
    if (this.free > 0) { this.free--; return }
    await new Promise<void>(resolve => { this.queue.push(resolve) })
  }

  release (): void {
    const next = this.queue.shift()
    if (next != null) next()
    else this.free++
  }
}

// A job travels as a request whose payload is bytes: varint(deliveries), varint(id length), id, payload.
function encodeJob (id: string, deliveries: number, payload: Uint8Array): Uint8Array {
  const idBytes = new TextEncoder().encode(id)
  const head = [varint.encode(deliveries), varint.encode(idBytes.byteLength), idBytes]
  return encodePayload(concat([...head, payload]))
}

function decodeJob (data: Payload): { id: string, deliveries: number, payload: Uint8Array } {
  if (!(data instanceof Uint8Array)) throw new DecodeError('job envelope must be bytes')
  try {
    const deliveries = varint.decode(data, 0)
    let o = varint.encodingLength(deliveries)
    const len = varint.decode(data, o)
    o += varint.encodingLength(len)
    if (o + len > data.byteLength) throw new Error('truncated')
    return { deliveries, id: new TextDecoder('utf-8', { fatal: true }).decode(data.subarray(o, o + len)), payload: data.subarray(o + len) }
  } catch (err) {
    throw new DecodeError('malformed job envelope', { cause: err })
  }
}

function concat (parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.byteLength }
  return out
}

function checkQueue (queue: unknown): void {
  if (typeof queue !== 'string' || queue.length === 0 || new TextEncoder().encode(serviceOf(queue)).byteLength > LIMITS.serviceBytes) {
    throw new InvalidArgumentError(`queue must be a non-empty string of at most ${LIMITS.serviceBytes - serviceOf('').length} bytes`)
  }
}
