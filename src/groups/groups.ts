import type { Logger } from '@libp2p/interface'
import { decodeShout, encodeFrame, encodeShout } from '../codec/frame.js'
import type { ShoutEnvelope } from '../codec/frame.js'
import { SeenCache } from '../util/seen-cache.js'
import { AuthorIds } from './author-ids.js'
import { ReplayWindow } from './replay-window.js'
import { scoreTopic, TopicValidatorResult, type GossipSub } from './pubsub.js'
import type { PeerId } from '@libp2p/interface'
import type { NodeStats } from '../types.js'

export interface GroupsInit {
  pubsub: GossipSub
  log: Logger
  stats: NodeStats
  /**
   * Sends a frame straight to a peer over its wire stream. Resolves once queued on an open
   * stream (`queued`); `sent` settles when the frame went out or was given up on.
   */
  sendDirect: (peer: string, frame: Uint8Array) => { queued: Promise<void>, sent: Promise<void> }
  /**
   * The peers for whom gossipsub's word that it sent to them can be kept: gossipsub counts a
   * message as sent once queued on its stream, and the streams of a connection that was only just
   * made (or is about to be pruned as a duplicate) can close with the message still queued. Asked
   * once per shout: one pass over the connections, not a peer id parsed per member.
   */
  settled: () => Set<string>
  /** A shout that passed decoding and de-duplication, from an authenticated sender. */
  onShout: (from: string, shout: ShoutEnvelope) => void
  /** Whether a new shout of `bytes` from `author` is within its rate (see Limits.admit); if not, it is dropped. */
  admit: (author: string, bytes: number) => boolean
  /** `peer` handed us a shout that does not decode: it loses standing (see Limits.malformed). */
  malformed: (peer: string) => void
}

export const TOPIC_PREFIX = 'shoal/1/group/'

/**
 * Group traffic: shouts go out on gossipsub, and every member that the membership view knows
 * of but gossipsub did not send to (its mesh still forming, its subscription not yet heard), or
 * sent to over a connection too new to trust, gets the same envelope directly. Receivers drop the second copy by (sender, seq), so each
 * member sees each shout exactly once.
 */
export class Groups {
  private readonly seen = new SeenCache(120_000, 200_000)
  // Refuses what `seen` has forgotten: 100 s + 10 s steps, within its 120 s.
  private readonly window = new ReplayWindow(100_000, 10_000, 10_000)
  // Seeded from the clock so a restarted node that kept its key is not mistaken for a replay.
  private seq = Date.now() * 1000
  // Shouts the topic validator decoded, with their author, so the delivery does not decode again.
  private readonly decoded = new WeakMap<object, { shout: ShoutEnvelope, author: string }>()
  private readonly authors = new AuthorIds()
  // Shouts whose gossip copy the validator charged to their author but gossipsub has not handed
  // over yet (it does a few microtasks later). A direct copy read in between (over TCP both can
  // come in one read) is delivered as usual but not charged again: charged twice, a sender that
  // paces itself to the limit would be over it. Entries expire on their own.
  private readonly charged = new SeenCache(10_000, 10_000)

  constructor (private readonly init: GroupsInit) {}

  start (): void { this.init.pubsub.addEventListener('message', this.onGossip) }

  stop (): void { this.init.pubsub.removeEventListener('message', this.onGossip) }

  subscribe (group: string): void {
    this.init.pubsub.topicValidators.set(TOPIC_PREFIX + group, this.validate)
    scoreTopic(this.init.pubsub, TOPIC_PREFIX + group)
    this.init.pubsub.subscribe(TOPIC_PREFIX + group)
  }

  unsubscribe (group: string): void {
    this.init.pubsub.unsubscribe(TOPIC_PREFIX + group)
    this.init.pubsub.topicValidators.delete(TOPIC_PREFIX + group)
  }

  /** Publishes to `group` and fills gaps directly; `members` are the peer ids our view holds. */
  async publish (group: string, payload: Uint8Array, members: string[]): Promise<void> {
    const envelope = { seq: ++this.seq, group, payload }
    const bytes = encodeShout(envelope)
    const { recipients } = await this.init.pubsub.publish(TOPIC_PREFIX + group, bytes)
    this.init.stats.shoutsSent++
    const covered = new Set(recipients.map(p => p.toString()))
    const settled = this.init.settled()
    const missing = members.filter(id => !covered.has(id) || !settled.has(id))
    if (missing.length === 0) return
    const frame = encodeFrame({ type: 'shout', shout: envelope })
    this.init.stats.shoutFallbacks += missing.length
    // Resolves once every copy is queued on an open stream; a member still being connected to
    // (it entered through a relay a moment ago) gets its copy once the connection is up.
    await Promise.all(missing.map(async id => {
      const { queued, sent } = this.init.sendDirect(id, frame)
      sent.catch((err: Error) => {
        // The member is going away; presence will report it. Nothing else to deliver to.
        this.init.log('direct shout to %s failed: %s', id, err.message)
      })
      await queued.catch(() => {})
    }))
  }

  /** A shout that arrived directly (already decoded) from `from`. */
  receiveDirect (from: string, shout: ShoutEnvelope, bytes: number): void {
    const key = `${from}/${shout.seq}`
    if (this.seen.has(key)) { this.init.stats.duplicatesDropped++; return }
    if (!this.charged.has(key) && !this.init.admit(from, bytes)) return
    this.accept(from, shout)
  }

  /**
   * Gossipsub's check of each new message on our topics, before it delivers or forwards it:
   * garbage is rejected (gossipsub then penalises whoever passed it on), and shouts past their
   * author's rate are ignored, so a flood stops here instead of spreading through the mesh.
   */
  private readonly validate = (source: PeerId, msg: any): TopicValidatorResult => {
    if (msg.type !== 'signed') return TopicValidatorResult.Reject
    const shout = this.decode(msg)
    if (shout == null) {
      this.init.malformed(source.toString())
      return TopicValidatorResult.Reject
    }
    const author = this.authors.of(msg.from.toMultihash().bytes)
    const key = `${author}/${shout.seq}`
    if (this.seen.has(key)) return TopicValidatorResult.Accept // counted as a duplicate on delivery
    if (!this.init.admit(author, msg.data.byteLength)) return TopicValidatorResult.Ignore
    this.charged.add(key)
    this.decoded.set(msg, { shout, author })
    return TopicValidatorResult.Accept
  }

  private readonly onGossip = (evt: CustomEvent<unknown>): void => {
    const msg = evt.detail as any
    if (typeof msg.topic !== 'string' || !msg.topic.startsWith(TOPIC_PREFIX) || msg.type !== 'signed') return
    const done = this.decoded.get(msg)
    if (done != null) { this.accept(done.author, done.shout); return }
    const shout = this.decode(msg)
    if (shout != null) this.accept(this.authors.of(msg.from.toMultihash().bytes), shout)
  }

  /** The shout a gossip message carries, or undefined (counted, logged) if it is malformed. */
  private decode (msg: any): ShoutEnvelope | undefined {
    let shout: ShoutEnvelope
    try {
      shout = decodeShout(msg.data)
    } catch (err: any) {
      this.init.stats.malformedDropped++
      this.init.log.error('malformed shout from %p: %s', msg.from, err.message)
      return undefined
    }
    if (TOPIC_PREFIX + shout.group !== msg.topic) {
      this.init.stats.malformedDropped++
      this.init.log.error('shout from %p names group %s on topic %s', msg.from, shout.group, msg.topic)
      return undefined
    }
    return shout
  }

  private accept (from: string, shout: ShoutEnvelope): void {
    if (!this.window.admit(from, shout.seq)) {
      this.init.stats.staleDropped++
      this.init.log.error('dropping shout %d from %s: older than its sender\'s replay window', shout.seq, from)
      return
    }
    if (!this.seen.add(`${from}/${shout.seq}`)) {
      this.init.stats.duplicatesDropped++
      return
    }
    this.init.onShout(from, shout)
  }
}
