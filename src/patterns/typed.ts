import type { Payload } from '../codec/payload.js'
import { InvalidArgumentError } from '../errors.js'

export interface HandleOptions<T> {
  /**
   * Checks a request's data and returns it typed (a schema library's `parse`, or a function
   * that throws). A request it refuses is answered with a RemoteError starting with
   * "invalid request:" and never reaches the handler.
   */
  validate?: (value: unknown) => T
}

/** The check a service's requests go through before its handler: `validate`, or none. */
export function validator<T> (validate: ((value: unknown) => T) | undefined): (data: Payload) => T {
  if (validate == null) return data => data as T
  if (typeof validate !== 'function') throw new InvalidArgumentError('validate must be a function')
  return data => {
    try {
      return validate(data)
    } catch (err) {
      throw new Error(`invalid request: ${err instanceof Error ? err.message : String(err)}`)
    }
  }
}
