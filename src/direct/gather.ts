import { NoHandlerError, ShoalError } from '../errors.js'
import type { GatherItem, GatherResult, PeerInfo, Payload } from '../types.js'

/** One request to one peer, rejecting with a ShoalError (or the signal's reason) on failure. */
type Ask = (peer: PeerInfo, signal: AbortSignal) => Promise<Payload>

/**
 * Asks every peer in `targets` at once and yields each outcome as it comes: scatter-gather.
 * Stops asking once `max` replies are in (the other requests are abandoned) or `signal` aborts;
 * each request's own timeout bounds the whole. Peers that do not handle the service say so at
 * once and are reported apart, so a group where only some members serve works as expected.
 */
export async function * scatter (targets: PeerInfo[], ask: Ask, max: number, signal?: AbortSignal): AsyncGenerator<GatherItem> {
  const controller = new AbortController()
  const stop = (): void => { controller.abort(signal?.reason) }
  signal?.addEventListener('abort', stop, { once: true })
  const queue: GatherItem[] = []
  let wake: (() => void) | undefined
  let open = targets.length
  const settle = (item: GatherItem): void => { open--; queue.push(item); wake?.() }
  for (const peer of targets) {
    ask(peer, controller.signal).then(
      data => { settle({ type: 'reply', peer, data }) },
      (error: Error) => { settle(error instanceof NoHandlerError ? { type: 'no-handler', peer } : { type: 'failed', peer, error }) }
    )
  }
  let replies = 0
  try {
    while (replies < max && (open > 0 || queue.length > 0)) {
      if (queue.length === 0) await new Promise<void>(resolve => { wake = resolve })
      wake = undefined
      while (queue.length > 0 && replies < max) {
        const item = queue.shift() as GatherItem
        // An abort of our own (max reached, the caller gave up) is not the peer's failure.
        if (item.type === 'failed' && controller.signal.aborted && !(item.error instanceof ShoalError)) continue
        if (item.type === 'reply') replies++
        yield item
      }
      if (signal?.aborted === true) break
    }
  } finally {
    stop()
    signal?.removeEventListener('abort', stop)
  }
}

/** Collects `scatter` into a result: who replied, who does not handle the service, and who failed or timed out. */
export async function gather (targets: PeerInfo[], ask: Ask, max: number, signal?: AbortSignal): Promise<GatherResult> {
  const result: GatherResult = { replies: [], noHandler: [], missing: [] }
  for await (const item of scatter(targets, ask, max, signal)) {
    if (item.type === 'reply') result.replies.push({ peer: item.peer, data: item.data })
    else if (item.type === 'no-handler') result.noHandler.push(item.peer)
    else result.missing.push({ peer: item.peer, error: item.error })
  }
  signal?.throwIfAborted()
  return result
}
