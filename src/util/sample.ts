/** Up to `k` distinct elements of `list`, chosen with `random` (uniform in [0, 1)). */
export function sample<T> (list: readonly T[], k: number, random: () => number = Math.random): T[] {
  const pool = [...list]
  const out: T[] = []
  while (out.length < k && pool.length > 0) out.push(pool.splice(Math.floor(random() * pool.length), 1)[0])
  return out
}
