/**
 * Refuses a sender's shouts once their sequence number is older than what de-duplication still
 * remembers. A signed gossip message stays valid forever, so without this a member that kept
 * one could re-inject it (a raw gossipsub publish, as the provenance test does) after the seen
 * caches forgot it, two minutes on, and every member would deliver it again as its sender's.
 *
 * A sender's sequence numbers only grow, so a number not above the highest one seen at least
 * `horizonMs` ago can only be a replay (or a copy delayed longer than any path delays one: a
 * direct copy gives up after 30 s). Per sender it keeps a few checkpoints of the highest number
 * seen, one per `stepMs`; whatever the seen cache forgets after `horizonMs + stepMs` is below
 * the floor by then. The caller's seen cache must remember at least that long.
 */
export class ReplayWindow {
  // sender -> checkpoints, oldest first: the highest seq seen, when it was seen, when the checkpoint was opened
  private readonly senders = new Map<string, Array<{ max: number, at: number, opened: number }>>()

  constructor (private readonly horizonMs: number, private readonly stepMs: number, private readonly maxSenders: number) {}

  /** Whether `seq` from `sender` may be new; records it if so. */
  admit (sender: string, seq: number, now = Date.now()): boolean {
    let marks = this.senders.get(sender)
    if (marks == null) {
      marks = []
      this.senders.set(sender, marks)
      // Forgetting the oldest sender reopens its window: the cost of a bound under churn.
      if (this.senders.size > this.maxSenders) this.senders.delete(this.senders.keys().next().value as string)
    }
    const past = now - this.horizonMs
    // Of the checkpoints past the horizon only the newest matters: it is the floor.
    while (marks.length > 1 && marks[1].at <= past) marks.shift()
    if (marks.length > 0 && marks[0].at <= past && seq <= marks[0].max) return false
    const last = marks[marks.length - 1]
    if (last == null || now - last.opened >= this.stepMs) {
      marks.push({ max: Math.max(seq, last?.max ?? seq), at: now, opened: now })
    } else if (seq > last.max) {
      last.max = seq
      last.at = now
    }
    return true
  }
}
