/** Summary of a sample of latencies in ms: nearest-rank percentiles. */
export interface Distribution { count: number, p50: number, p90: number, p99: number, max: number }

export function distribution (values: number[]): Distribution {
  const sorted = [...values].sort((a, b) => a - b)
  const at = (p: number): number => sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]
  return { count: sorted.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted.length === 0 ? NaN : sorted[sorted.length - 1] }
}

export const ms = (v: number): string => Number.isNaN(v) ? '-' : v < 10 ? v.toFixed(2) : v.toFixed(1)
