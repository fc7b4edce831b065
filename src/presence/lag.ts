/**
 * How late this process's timers run: one shared watch for every node in the process (the
 * simulator hosts hundreds), started by the first user and stopped with the last. Timers are the
 * only clock a JavaScript runtime offers: when they run late, so did the reading of everything
 * that arrived meanwhile, the answers to our probes included.
 */
const SAMPLE_MS = 20
const KEEP_MS = 10_000

let users = 0
let timer: ReturnType<typeof setTimeout> | undefined
// Lateness samples worth remembering (over one sample period), newest last.
const stalls: Array<{ at: number, late: number }> = []
// When the next sample is due.
let due = 0

function sample (): void {
  due = Date.now() + SAMPLE_MS
  timer = setTimeout(() => {
    const now = Date.now()
    const late = now - due
    if (late > SAMPLE_MS) stalls.push({ at: now, late })
    while (stalls.length > 0 && stalls[0].at < now - KEEP_MS) stalls.shift()
    if (users > 0) sample()
  }, SAMPLE_MS)
}

export function watchLag (): () => void {
  if (users++ === 0) sample()
  let released = false
  return () => {
    if (released) return
    released = true
    if (--users === 0) { clearTimeout(timer); timer = undefined; stalls.length = 0 }
  }
}

/**
 * The worst timer lateness seen since `since` (ms since the epoch), in milliseconds, the stall
 * this process may be in right now included: a stall is recorded only once the sample after it
 * runs, which may be after the frames that waited through it are read.
 */
export function worstLagSince (since: number): number {
  const overdue = timer != null ? Date.now() - due : 0
  let worst = overdue > SAMPLE_MS ? overdue : 0
  for (let i = stalls.length - 1; i >= 0 && stalls[i].at >= since; i--) worst = Math.max(worst, stalls[i].late)
  return worst
}
