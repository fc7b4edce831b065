import { decodePayload, type Payload } from '../codec/payload.js'
import { accepts, checkFilter, splitHeaders, type ShoutFilter } from '../patterns/filter.js'
import { validator, type Validate } from '../patterns/typed.js'
import { GroupKeys, type GroupKey } from './group-crypto.js'
import type { EventOf, ShoalEvent } from '../types.js'

/** What a node joins a group with; joining again replaces all of it. */
export interface JoinOptions<T = Payload> {
  signal?: AbortSignal
  /** Keep only shouts whose headers match (see patterns/filter.ts). */
  filter?: ShoutFilter
  /**
   * End-to-end encryption: shouts to the group are sealed with the first key, and those sealed
   * with any listed key are read (so a key can be rotated without a gap). Shouts that are not
   * sealed with one of them are dropped.
   */
  key?: GroupKey | GroupKey[]
  /** Checks each shout's data and returns what the `shout` event carries; refused ones are dropped. */
  validate?: Validate<T>
}

/** A shout as the application gets it, or why it was dropped (each reason has a counter in NodeStats). */
export type Received =
  | { data: unknown, headers: Record<string, string> }
  | { drop: 'unreadable' | 'forged' | 'malformed' | 'filtered' | 'invalid', reason: string }
  /** The application's own filter threw: its bug, reported to it rather than counted. */
  | { drop: 'filter-threw', reason: string, error: unknown }

interface Settings { filter?: ShoutFilter, check?: (data: Payload) => unknown }

/**
 * Per-group options of this node, applied to every shout it sends to or receives from the group:
 * sealing and opening (group-crypto.ts), header filters, and validation. Receiving runs them in
 * that order, so nothing unauthenticated reaches a filter or a validator.
 */
export class GroupSettings {
  private readonly settings = new Map<string, Settings>()
  private readonly keys = new GroupKeys()

  /** Checks `options` (throws InvalidArgumentError) and returns the step that applies them. */
  prepare (group: string, options: JoinOptions<unknown>): () => void {
    if (options.filter != null) checkFilter(options.filter)
    const check = options.validate != null ? validator(options.validate, 'shout') : undefined
    const ring = options.key != null ? GroupKeys.derive(group, options.key) : undefined
    return () => {
      this.settings.set(group, { filter: options.filter, check })
      this.keys.set(group, ring)
    }
  }

  clear (group: string): void {
    this.settings.delete(group)
    this.keys.set(group, undefined)
  }

  /**
   * Checks own data (an encoded payload) as members will check it, throwing InvalidMessageError
   * if refused, and returns what an echoed `shout` event carries (decoded only when asked).
   */
  checkOwn (group: string, payload: Uint8Array): () => unknown {
    const check = this.settings.get(group)?.check
    if (check == null) return () => decodePayload(payload)
    const value = check(decodePayload(payload))
    return () => value
  }

  accepts (group: string, headers: Record<string, string>): boolean { return accepts(this.settings.get(group)?.filter, headers) }

  seal (group: string, sender: string, body: Uint8Array): Uint8Array { return this.keys.seal(group, sender, body) }

  /** Opens, filters, decodes (with `decode`, which throws on bad input) and validates a shout. */
  receive (group: string, from: string, payload: Uint8Array, decode: (payload: Uint8Array) => Payload): Received {
    const opened = this.keys.open(group, from, payload)
    if ('drop' in opened) return opened
    const settings = this.settings.get(group)
    let split
    try {
      split = splitHeaders(opened.plain)
    } catch (err: any) {
      return { drop: 'malformed', reason: err.message }
    }
    const { headers } = split
    try {
      if (!accepts(settings?.filter, headers)) return { drop: 'filtered', reason: 'headers did not pass the filter' }
    } catch (error) {
      return { drop: 'filter-threw', reason: 'the filter threw', error }
    }
    let data: Payload
    try {
      data = decode(split.payload)
    } catch (err: any) {
      return { drop: 'malformed', reason: err.message }
    }
    if (settings?.check == null) return { data, headers }
    try {
      return { data: settings.check(data), headers }
    } catch (err: any) {
      return { drop: 'invalid', reason: err.message }
    }
  }
}

/** A `shout` event whose `data` is what its group's `validate` returned. */
export type Shout<T = Payload> = Omit<EventOf<'shout'>, 'data'> & { data: T }

/** The shouts to `group` among `events`. */
export async function * shoutsOf<T> (events: AsyncIterable<ShoalEvent>, group: string): AsyncGenerator<Shout<T>> {
  for await (const e of events) if (e.type === 'shout' && e.group === group) yield e as Shout<any>
}
