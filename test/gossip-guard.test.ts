// The guard Shoal puts in front of gossipsub's signature check (src/groups/pubsub.ts), on real
// libp2p nodes in a line D - A - B - C: a peer past its rate has its own messages dropped at the
// first hop unverified, while what it forwards for others still flows; what others pass on for an
// author whose rate is used up is dropped unverified too.
import test, { type ExecutionContext } from 'ava'
import { createLibp2p, type Libp2p } from 'libp2p'
import { memory } from '@libp2p/memory'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { identify } from '@libp2p/identify'
import { pubsubService, signedMsgId, TopicValidatorResult, type GossipSub } from '../src/groups/pubsub.js'
import { until } from './helpers.js'

const TOPIC = 'guard-test'

async function peer (name: string, guard: { overRate?: (author: string) => boolean, spent?: (author: string) => boolean, quarantined?: (peer: string) => boolean } = {}): Promise<Libp2p<{ pubsub: GossipSub }>> {
  return await createLibp2p({
    addresses: { listen: [`/memory/guard-${name}-${process.pid}`] },
    transports: [memory()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      pubsub: pubsubService({
        maxDataLength: 64 * 1024,
        maxQueuedBytes: 1024 * 1024,
        penalty: () => 0,
        quarantined: guard.quarantined ?? (() => false),
        overRate: guard.overRate ?? (() => false),
        spent: guard.spent ?? (() => false),
        fullMesh: true
      })
    }
  })
}

/** Whether `y` is in `x`'s gossipsub mesh for the topic (so `x` forwards to it), both ways. */
function meshed (x: Libp2p<{ pubsub: GossipSub }>, y: Libp2p<{ pubsub: GossipSub }>): boolean {
  const mesh = (n: Libp2p<{ pubsub: GossipSub }>): string[] => (n.services.pubsub as unknown as { getMeshPeers: (topic: string) => string[] }).getMeshPeers(TOPIC)
  return mesh(x).includes(y.peerId.toString()) && mesh(y).includes(x.peerId.toString())
}

/** Authors of the messages `node` delivered, and of those its topic validator was asked about. */
function watch (node: Libp2p<{ pubsub: GossipSub }>): { delivered: string[], validated: string[] } {
  const seen = { delivered: [] as string[], validated: [] as string[] }
  node.services.pubsub.topicValidators.set(TOPIC, (_source, msg: any) => {
    seen.validated.push(msg.from.toString())
    return TopicValidatorResult.Accept
  })
  node.services.pubsub.addEventListener('message', (e: any) => { seen.delivered.push(e.detail.from.toString()) })
  node.services.pubsub.subscribe(TOPIC)
  return seen
}

/** `author`'s messages stopped at `at`'s guard: never verified nor delivered there, nor passed on to `next`. */
function stoppedAt (t: ExecutionContext, at: ReturnType<typeof watch>, next: ReturnType<typeof watch>, author: string): void {
  t.is(at.validated.filter(id => id === author).length, 0)
  t.is(at.delivered.filter(id => id === author).length, 0)
  t.is(next.delivered.filter(id => id === author).length, 0)
}

test('a peer past its rate: its own gossip is dropped at the first hop before verification, what it forwards for others still arrives', async t => {
  const d = await peer('d')
  const a = await peer('a')
  let asked = 0
  // B holds A past its rate for the whole test: every message A authors is over.
  const b = await peer('b', { overRate: author => { asked++; return author === a.peerId.toString() } })
  const c = await peer('c')
  const nodes = [d, a, b, c]
  t.teardown(async () => { await Promise.all(nodes.map(async n => { await n.stop() })) })
  const [atD, atA, atB, atC] = nodes.map(watch)
  await d.dial(a.getMultiaddrs()[0])
  await a.dial(b.getMultiaddrs()[0])
  await b.dial(c.getMultiaddrs()[0])
  // Each hop's mesh for the topic is formed (grafts are sent when the subscription is heard).
  await until(() => [[d, a], [a, b], [b, c]].every(([x, y]) => meshed(x, y)), 10_000, 'mesh not formed')

  for (let i = 0; i < 20; i++) await a.services.pubsub.publish(TOPIC, Uint8Array.of(i))
  for (let i = 0; i < 5; i++) await d.services.pubsub.publish(TOPIC, Uint8Array.of(100 + i))

  const dId = d.peerId.toString()
  const aId = a.peerId.toString()
  await until(() => atC.delivered.filter(id => id === dId).length === 5, 10_000, `D's messages did not cross A and B (${atC.delivered.length} at C)`)
  // A's own messages reached B (A's neighbour D got all 20, so A did send them) ...
  t.is(atD.delivered.filter(id => id === aId).length, 20)
  t.true(asked >= 20, `B's guard was asked ${asked} times`)
  // ... but B neither verified them (its validator never saw one), nor delivered, nor forwarded them.
  stoppedAt(t, atB, atC, aId)
  // What A forwarded for D is not A's to spend: it went through B's full path and on to C.
  t.is(atB.delivered.filter(id => id === dId).length, 5)
  t.is(atB.validated.filter(id => id === dId).length, 5)
  t.is(atA.delivered.filter(id => id === dId).length, 5)
})

test('a quarantined peer: its gossip is dropped unread, including what it forwards', async t => {
  const d = await peer('qd')
  const a = await peer('qa')
  let quarantineA = false
  const b = await peer('qb', { quarantined: p => quarantineA && p === a.peerId.toString() })
  const nodes = [d, a, b]
  t.teardown(async () => { await Promise.all(nodes.map(async n => { await n.stop() })) })
  const [, atA, atB] = nodes.map(watch)
  await d.dial(a.getMultiaddrs()[0])
  await a.dial(b.getMultiaddrs()[0])
  await until(() => [[d, a], [a, b]].every(([x, y]) => meshed(x, y)), 10_000, 'mesh not formed')
  const dId = d.peerId.toString()
  // Before the quarantine D's message crosses A to B; after it, nothing that comes through A does.
  await d.services.pubsub.publish(TOPIC, Uint8Array.of(1))
  await until(() => atB.delivered.includes(dId), 10_000, 'D\'s first message did not reach B')
  quarantineA = true
  for (let i = 0; i < 5; i++) await d.services.pubsub.publish(TOPIC, Uint8Array.of(2 + i))
  for (let i = 0; i < 5; i++) await a.services.pubsub.publish(TOPIC, Uint8Array.of(20 + i))
  // A got D's messages and sent them and its own on to B (its mesh peer); B's reader gets them
  // within moments, as it got the first one.
  await until(() => atA.delivered.filter(id => id === dId).length === 6, 10_000, 'D\'s messages did not reach A')
  await new Promise(resolve => setTimeout(resolve, 1000))
  t.is(atB.delivered.length, 1)
  t.is(atB.validated.length, 1)
})

test('an author whose rate is used up: what others pass on for it is dropped before verification, other authors\' messages still flow', async t => {
  const d = await peer('sd')
  const a = await peer('sa')
  let askedAbout: string[] = []
  // B holds D's rate as used up for the whole test.
  const b = await peer('sb', { spent: author => { askedAbout.push(author); return author === d.peerId.toString() } })
  const c = await peer('sc')
  const nodes = [d, a, b, c]
  t.teardown(async () => { await Promise.all(nodes.map(async n => { await n.stop() })) })
  const [, atA, atB, atC] = nodes.map(watch)
  await d.dial(a.getMultiaddrs()[0])
  await a.dial(b.getMultiaddrs()[0])
  await b.dial(c.getMultiaddrs()[0])
  await until(() => [[d, a], [a, b], [b, c]].every(([x, y]) => meshed(x, y)), 10_000, 'mesh not formed')
  askedAbout = []

  for (let i = 0; i < 10; i++) await d.services.pubsub.publish(TOPIC, Uint8Array.of(i))
  for (let i = 0; i < 5; i++) await a.services.pubsub.publish(TOPIC, Uint8Array.of(100 + i))

  const dId = d.peerId.toString()
  const aId = a.peerId.toString()
  await until(() => atC.delivered.filter(id => id === aId).length === 5, 10_000, `A's messages did not cross B (${atC.delivered.length} at C)`)
  await until(() => atA.delivered.filter(id => id === dId).length === 10, 10_000, 'D\'s messages did not reach A')
  await new Promise(resolve => setTimeout(resolve, 500))
  // A passed D's messages on to B, whose guard asked about their author (spelt as a peer id) ...
  t.true(askedAbout.filter(id => id === dId).length >= 10, `B's guard asked about D ${askedAbout.filter(id => id === dId).length} times`)
  // ... and dropped them unverified: B's validator never saw one, and nothing went on to C.
  stoppedAt(t, atB, atC, dId)
  // A's own messages are not "passed on": they are charged by the own-rate rule, and arrive.
  t.is(atB.delivered.filter(id => id === aId).length, 5)
})

test('the guard spells a signed message\'s id as gossipsub does, so answers to its own IWANTs are recognised', async t => {
  const x = await peer('ix')
  const y = await peer('iy')
  t.teardown(async () => { await Promise.all([x, y].map(async n => { await n.stop() })) })
  const ids: Array<{ msgId: string, ours: string | undefined }> = []
  y.services.pubsub.addEventListener('gossipsub:message', (e: any) => {
    const { msg, msgId } = e.detail
    const seqno = new Uint8Array(8)
    new DataView(seqno.buffer).setBigUint64(0, msg.sequenceNumber)
    ids.push({ msgId, ours: signedMsgId(msg.from.toMultihash().bytes, seqno) })
  })
  watch(x)
  watch(y)
  await x.dial(y.getMultiaddrs()[0])
  await until(() => meshed(x, y), 10_000, 'mesh not formed')
  for (let i = 0; i < 5; i++) await x.services.pubsub.publish(TOPIC, Uint8Array.of(i))
  await until(() => ids.length === 5, 10_000, `${ids.length} of 5 messages arrived`)
  for (const { msgId, ours } of ids) t.is(ours, msgId)
  t.is(signedMsgId(Uint8Array.of(0x12, 0x20, 1), new Uint8Array(8)), undefined)
})
