// setTimeout's limit: a longer delay fires at once (with a warning), so longer waits go in steps.
const MAX_DELAY_MS = 2 ** 31 - 1

/**
 * One timer for many deadlines. The owner keeps the deadlines (e.g. on the entries of a map);
 * this keeps a single timer armed for the earliest, and when it fires `sweep` expires what is
 * due and returns the next deadline left (Infinity for none). A deadline that ends early needs
 * no call at all: its entry just goes, and the sweep no longer finds it.
 *
 * Why: a setTimeout and a clearTimeout per request showed in request round trips, and with the
 * same timeout on every request a new deadline is never the earliest, so most requests arm nothing.
 */
export class Deadlines {
  private timer?: ReturnType<typeof setTimeout>
  private armedFor = Infinity

  constructor (private readonly sweep: (now: number) => number) {}

  /** Milliseconds on the clock deadlines are measured on (monotonic: wall-clock jumps do not fire them). */
  now (): number { return performance.now() }

  /** A deadline `at` was added: the timer is armed for it if it is the earliest. */
  added (at: number): void {
    if (at < this.armedFor) this.arm(at)
  }

  /** Releases the timer (deadlines added later arm it again). */
  stop (): void {
    clearTimeout(this.timer)
    this.timer = undefined
    this.armedFor = Infinity
  }

  private arm (at: number): void {
    clearTimeout(this.timer)
    this.armedFor = at
    this.timer = at === Infinity ? undefined : setTimeout(this.fire, Math.min(MAX_DELAY_MS, Math.max(0, at - this.now())))
  }

  private readonly fire = (): void => {
    this.timer = undefined
    this.armedFor = Infinity
    // The timer may fire a little before `at` by this clock (timers start from the event loop's
    // cached time): the sweep then finds nothing due and the timer is armed again for the rest.
    const next = this.sweep(this.now())
    if (next < this.armedFor) this.arm(next)
  }
}
