import type { Payload } from '../codec/payload.js'
import { InvalidArgumentError, InvalidMessageError } from '../errors.js'

/** Checks a message's data and returns it typed (a schema library's `parse`, or a function that throws). */
export type Validate<T> = (value: Payload) => T

export interface HandleOptions<T> {
  /**
   * Checks a request's data and returns it typed. A request it refuses is answered with a
   * RemoteError starting with "invalid request:" and never reaches the handler.
   */
  validate?: Validate<T>
}

/**
 * The one check every typed message goes through (requests, jobs, shouts): `validate`, or none.
 * What `validate` throws becomes an InvalidMessageError ("invalid <kind>: <its message>").
 */
export function validator<T> (validate: Validate<T> | undefined, kind: 'request' | 'job' | 'shout'): (data: Payload) => T {
  if (validate == null) return data => data as T
  if (typeof validate !== 'function') throw new InvalidArgumentError('validate must be a function')
  return data => {
    try {
      return validate(data)
    } catch (err) {
      throw new InvalidMessageError(kind, err instanceof Error ? err.message : String(err), { cause: err })
    }
  }
}
