import type { Logger } from '@libp2p/interface'
import type { Frame } from '../codec/frame.js'
import type { PresenceTuning } from './profile.js'
import { watchLag, worstLagSince } from './lag.js'
import { sample } from '../util/sample.js'

type ProbeFrame = Extract<Frame, { type: 'ping' | 'pong' | 'ping-req' | 'nack' }>

export interface ProberInit {
  tuning: PresenceTuning
  /** Peers that may be probed (those in the view). */
  members: () => string[]
  /** Sends a probe frame; best effort, must not throw. */
  send: (to: string, frame: ProbeFrame) => void
  /** `target` answered neither a direct nor any indirect probe this period. */
  onFailed: (target: string) => void
  log: Logger
  random?: () => number
}

interface Waiter { resolve: (acked: boolean) => void, nacks: number }

/** Local health (Lifeguard) is capped here: at most this many times slower than tuned. */
const MAX_HEALTH = 8
/** A helper that cannot reach the target says so at this fraction of its timeout. */
const NACK_AT = 0.8
/** The learnt round-trip allowance never exceeds this many tuned probe timeouts. */
const MAX_RTT_STRETCH = 4

/**
 * SWIM's failure detector, one probe per period. Targets are visited in a shuffled round robin,
 * so every peer is probed at least once every n periods. A target that does not answer a direct
 * ping within the timeout is pinged indirectly through k other peers; only if nobody hears from
 * it by the end of the period is it reported.
 *
 * Lifeguard's local health guards against a slow prober blaming others: `health` rises when
 * this node's own probes go unanswered (including by the helpers' nacks), and every timeout
 * and period is stretched by (1 + health). A probe whose timer fired late because this node's
 * event loop was blocked proves nothing about the target and is not reported at all.
 *
 * The direct probe's timeout also follows the round trips this node measures, as TCP's
 * retransmission timer does (smoothed RTT + 4 deviations, at least the tuned timeout, at most
 * four times it): when the whole machine or network slows down, as while a hundred nodes
 * handshake on two cores, answers that are late for everyone are not taken for failures.
 */
export class Prober {
  health = 0
  private seq = Math.floor(Math.random() * 1e9)
  private order: string[] = []
  private timer: ReturnType<typeof setTimeout> | undefined
  private readonly timers = new Set<ReturnType<typeof setTimeout>>()
  private readonly waiters = new Map<number, Waiter>()
  // Probes run on another peer's behalf: our seq -> (requester, its seq).
  private readonly relays = new Map<number, { requester: string, seq: number }>()
  private readonly random: () => number
  private running = false
  private releaseLagWatch: (() => void) | undefined
  private srtt: number | undefined
  private rttvar = 0
  // Direct pings in flight: seq -> when sent, to measure round trips.
  private readonly sentAt = new Map<number, number>()
  // Targets with a probe under way.
  private readonly probing = new Set<string>()

  constructor (private readonly init: ProberInit) {
    this.random = init.random ?? Math.random
  }

  start (): void {
    this.running = true
    this.schedule()
    this.releaseLagWatch = watchLag()
  }

  stop (): void {
    this.running = false
    clearTimeout(this.timer)
    this.releaseLagWatch?.()
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    for (const w of this.waiters.values()) w.resolve(false)
    this.waiters.clear()
    this.relays.clear()
    this.sentAt.clear()
  }

  /** Handles a probe frame from `from`. */
  receive (from: string, frame: ProbeFrame): void {
    if (!this.running) return
    switch (frame.type) {
      case 'ping': this.init.send(from, { type: 'pong', seq: frame.seq }); break
      case 'pong': this.onPong(frame.seq); break
      case 'nack': { const w = this.waiters.get(frame.seq); if (w != null) w.nacks++; break }
      case 'ping-req': this.probeFor(from, frame.seq, frame.target); break
    }
  }

  /**
   * Probes `target` now, out of turn, unless a probe of it is already under way. A peer that
   * hears of a suspicion may check it itself: its verdict, either way, is an independent one.
   */
  probeNow (target: string): void {
    if (!this.running || this.probing.has(target) || !this.init.members().includes(target)) return
    this.probe(target).catch(err => { this.init.log.error('probe failed: %s', err.message) })
  }

  /**
   * One direct ping out of turn, within the direct probe's timeout. Not a probe (no helpers,
   * nothing reported): for checking what others say about a peer we reach. `unknown` if our own
   * event loop stalled for more than half the wait, as for a probe: silence then proves nothing.
   */
  async ping (target: string): Promise<'answered' | 'silent' | 'unknown'> {
    if (!this.running) return 'unknown'
    const seq = this.nextSeq()
    const started = Date.now()
    const timeout = this.directTimeout()
    const answered = this.await(seq, timeout)
    this.init.send(target, { type: 'ping', seq })
    if (await answered) return 'answered'
    return this.running && worstLagSince(started) <= timeout / 2 ? 'silent' : 'unknown'
  }

  private scale (ms: number): number { return ms * (1 + this.health) }

  /** The direct probe's timeout: the tuned one, or what measured round trips call for, if longer. */
  private directTimeout (): number {
    const { probeTimeout } = this.init.tuning
    const learnt = this.srtt == null ? 0 : this.srtt + 4 * this.rttvar
    return this.scale(Math.min(MAX_RTT_STRETCH * probeTimeout, Math.max(probeTimeout, learnt)))
  }

  private sample (rtt: number): void {
    if (this.srtt == null) {
      this.srtt = rtt
      this.rttvar = rtt / 2
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - rtt)
      this.srtt = 0.875 * this.srtt + 0.125 * rtt
    }
  }

  private schedule (): void {
    if (!this.running) return
    this.timer = setTimeout(() => {
      const target = this.nextTarget()
      const probing = target != null ? this.probe(target) : Promise.resolve()
      probing.catch(err => { this.init.log.error('probe failed: %s', err.message) })
      this.schedule()
    }, this.scale(this.init.tuning.probeInterval))
  }

  private nextTarget (): string | undefined {
    const members = new Set(this.init.members())
    while (this.order.length > 0) {
      const next = this.order.pop() as string
      if (members.has(next)) return next
    }
    this.order = [...members]
    for (let i = this.order.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [this.order[i], this.order[j]] = [this.order[j], this.order[i]]
    }
    return this.order.pop()
  }

  private async probe (target: string): Promise<void> {
    this.probing.add(target)
    try {
      await this.probeOnce(target)
    } finally {
      this.probing.delete(target)
    }
  }

  private async probeOnce (target: string): Promise<void> {
    const { probeInterval, indirectProbes } = this.init.tuning
    const seq = this.nextSeq()
    const started = Date.now()
    const timeout = this.directTimeout()
    const direct = this.await(seq, timeout)
    this.sentAt.set(seq, started)
    this.init.send(target, { type: 'ping', seq })
    if (await direct) { this.sentAt.delete(seq); this.better(); return }
    if (!this.running) return

    const helpers = this.pick(indirectProbes, target)
    const rest = Math.max(timeout, this.scale(probeInterval) - timeout)
    const indirect = this.await(seq, rest)
    const waiter = this.waiters.get(seq)
    for (const h of helpers) this.init.send(h, { type: 'ping-req', seq, target })
    // The target may still answer the direct ping late; that counts too.
    this.init.send(target, { type: 'ping', seq })
    const acked = await indirect
    // A late answer to the direct ping was sampled too: the slow round trips are the ones to learn from.
    this.sentAt.delete(seq)
    if (acked) { this.better(); return }
    if (!this.running) return

    const elapsed = Date.now() - started
    const lag = worstLagSince(started)
    // Relative to the time the target had, which local health stretches: against a fixed share of
    // probeTimeout, a machine whose loop always ran a few hundred ms late (500 simulated peers on
    // 2 cores) found every probe inconclusive, for ever, and a frozen peer went unseen.
    if (elapsed > 2 * (timeout + rest) + 50 || lag > (timeout + rest) / 2) {
      // Our own event loop stalled for much of the probe: the pings may have left late and the
      // answers sat unread. That says nothing about the target.
      this.worse()
      this.init.log('probe of %s inconclusive: event loop stalled (%d ms late)', target, lag)
      return
    }
    // Helpers that could not reach the target either say so; missing nacks mean our own
    // links or process are the likelier culprit (Lifeguard).
    if ((waiter?.nacks ?? 0) < helpers.length) this.worse()
    this.init.onFailed(target)
  }

  /** Probes `target` for `requester` and answers with the requester's seq: pong, or nack on timeout. */
  private probeFor (requester: string, reqSeq: number, target: string): void {
    if (!this.init.members().includes(target)) {
      this.init.send(requester, { type: 'nack', seq: reqSeq })
      return
    }
    const seq = this.nextSeq()
    this.relays.set(seq, { requester, seq: reqSeq })
    // The nack must reach the requester before its own wait ends, or the requester blames
    // itself (missing nacks raise its local health): so it goes at 80% of the wait, as in
    // Lifeguard, while a late pong is still relayed until the full timeout.
    const timeout = this.directTimeout()
    const nack = setTimeout(() => {
      this.timers.delete(nack)
      if (this.relays.has(seq) && this.running) this.init.send(requester, { type: 'nack', seq: reqSeq })
    }, NACK_AT * timeout)
    this.timers.add(nack)
    void this.await(seq, timeout).then(() => {
      this.relays.delete(seq)
      clearTimeout(nack)
      this.timers.delete(nack)
    })
    this.init.send(target, { type: 'ping', seq })
  }

  private onPong (seq: number): void {
    const sent = this.sentAt.get(seq)
    if (sent != null) this.sample(Date.now() - sent)
    const relay = this.relays.get(seq)
    if (relay != null) {
      this.relays.delete(seq)
      this.init.send(relay.requester, { type: 'pong', seq: relay.seq })
    }
    this.waiters.get(seq)?.resolve(true)
  }

  /**
   * Resolves true when a pong with `seq` arrives, false after `ms`. The timeout defers its verdict
   * by one more turn of the event loop so that an answer already read from the socket is seen.
   */
  private async await (seq: number, ms: number): Promise<boolean> {
    return await new Promise(resolve => {
      const prior = this.waiters.get(seq)
      const w: Waiter = {
        nacks: prior?.nacks ?? 0,
        resolve: (acked) => {
          clearTimeout(timer)
          this.timers.delete(timer)
          if (this.waiters.get(seq) === w) this.waiters.delete(seq)
          resolve(acked)
        }
      }
      const timer = setTimeout(() => {
        this.timers.delete(timer)
        const late = setTimeout(() => { this.timers.delete(late); w.resolve(false) }, 0)
        this.timers.add(late)
      }, ms)
      this.timers.add(timer)
      this.waiters.set(seq, w)
    })
  }

  private pick (k: number, exclude: string): string[] {
    return sample(this.init.members().filter(id => id !== exclude), k, this.random)
  }

  private nextSeq (): number {
    this.seq = (this.seq + 1) % Number.MAX_SAFE_INTEGER
    return this.seq
  }

  private better (): void { this.health = Math.max(0, this.health - 1) }

  /** Our own trouble (a refuted suspicion of us, a stall, missing nacks): slow down. */
  worse (): void { this.health = Math.min(MAX_HEALTH, this.health + 1) }
}
