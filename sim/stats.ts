/** Summary of a sample of latencies in ms: nearest-rank percentiles. */
export interface Distribution { count: number, p50: number, p90: number, p99: number, max: number, mean: number }

export function distribution (values: number[]): Distribution {
  const sorted = [...values].sort((a, b) => a - b)
  const at = (p: number): number => sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]
  const mean = sorted.length === 0 ? NaN : sorted.reduce((a, b) => a + b, 0) / sorted.length
  return { count: sorted.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted.length === 0 ? NaN : sorted[sorted.length - 1], mean }
}

/** A duration in ms for a table: two decimals below 10, one below 1000, none above. */
export const ms = (v: number): string => !Number.isFinite(v) ? '-' : v < 10 ? v.toFixed(2) : v < 1000 ? v.toFixed(1) : v.toFixed(0)

export const mb = (bytes: number): string => !Number.isFinite(bytes) ? '-' : (bytes / (1024 * 1024)).toFixed(2)

/** A small seeded PRNG (mulberry32), so a run's choice of senders and pairs can be repeated. */
export function rng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
