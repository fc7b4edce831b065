// Node-only: V8's flags and a fresh context, for the simulator's and benchmarks' memory figures.
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

/** A global gc() for honest memory figures, without requiring --expose-gc on the command line. */
export function exposeGc (): (() => void) | undefined {
  const g = (globalThis as any).gc
  if (typeof g === 'function') return g
  try {
    setFlagsFromString('--expose-gc')
    const fn = runInNewContext('gc')
    return typeof fn === 'function' ? fn : undefined
  } catch {
    return undefined
  }
}
