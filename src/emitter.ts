import type { ShoalEvent, ShoalEventType, EventOf } from './types.js'

type Listener<K extends ShoalEventType> = (event: EventOf<K>) => void

export interface EventsOptions {
  signal?: AbortSignal
  /** Events buffered for a slow consumer before the oldest are dropped (default 10 000). */
  highWaterMark?: number
}

/**
 * Callbacks (`on`) and async iteration (`events()`) over the same events. A listener that throws
 * is reported to `onListenerError` and does not stop the others, nor the node.
 */
export class EventHub {
  private readonly listeners = new Map<ShoalEventType, Set<Listener<any>>>()
  private readonly queues = new Set<EventQueue>()
  private closed = false

  constructor (private readonly onListenerError: (err: unknown, type: ShoalEventType) => void) {}

  on<K extends ShoalEventType>(type: K, listener: Listener<K>): void {
    let set = this.listeners.get(type)
    if (set == null) { set = new Set(); this.listeners.set(type, set) }
    set.add(listener)
  }

  off<K extends ShoalEventType>(type: K, listener: Listener<K>): void {
    this.listeners.get(type)?.delete(listener)
  }

  emit (event: ShoalEvent): void {
    if (this.closed) return
    for (const listener of this.listeners.get(event.type) ?? []) {
      try {
        listener(event as never)
      } catch (err) {
        this.onListenerError(err, event.type)
      }
    }
    for (const q of this.queues) q.push(event)
  }

  iterate (options: EventsOptions = {}): AsyncIterableIterator<ShoalEvent> {
    const q = new EventQueue(options.highWaterMark ?? 10_000, () => this.queues.delete(q))
    if (this.closed) q.end()
    else this.queues.add(q)
    if (options.signal != null) {
      const signal = options.signal
      if (signal.aborted) q.end()
      else {
        const onAbort = (): void => q.end()
        signal.addEventListener('abort', onAbort, { once: true })
        q.onEnd(() => signal.removeEventListener('abort', onAbort))
      }
    }
    return q
  }

  /** Ends every iterator and drops every listener: called once, on stop. */
  close (): void {
    this.closed = true
    for (const q of this.queues) q.end()
    this.listeners.clear()
  }
}

class EventQueue implements AsyncIterableIterator<ShoalEvent> {
  private readonly buffer: ShoalEvent[] = []
  private waiting: ((r: IteratorResult<ShoalEvent>) => void) | undefined
  private done = false
  private readonly endHooks: Array<() => void> = []
  dropped = 0

  constructor (private readonly highWaterMark: number, onEnd: () => void) {
    this.endHooks.push(onEnd)
  }

  push (event: ShoalEvent): void {
    if (this.done) return
    if (this.waiting != null) {
      const w = this.waiting
      this.waiting = undefined
      w({ value: event, done: false })
      return
    }
    this.buffer.push(event)
    // A consumer that stopped reading must not grow memory without bound: drop the oldest.
    if (this.buffer.length > this.highWaterMark) { this.buffer.shift(); this.dropped++ }
  }

  onEnd (hook: () => void): void { this.endHooks.push(hook) }

  end (): void {
    if (this.done) return
    this.done = true
    for (const hook of this.endHooks) hook()
    if (this.waiting != null) { this.waiting({ value: undefined, done: true }); this.waiting = undefined }
  }

  async next (): Promise<IteratorResult<ShoalEvent>> {
    const event = this.buffer.shift()
    if (event != null) return { value: event, done: false }
    if (this.done) return { value: undefined, done: true }
    return await new Promise(resolve => { this.waiting = resolve })
  }

  async return (): Promise<IteratorResult<ShoalEvent>> {
    this.end()
    this.buffer.length = 0
    return { value: undefined, done: true }
  }

  [Symbol.asyncIterator] (): AsyncIterableIterator<ShoalEvent> { return this }
}
