import test from 'ava'
import { generateKeyPair, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { RPC } from '@libp2p/gossipsub/message'
import type { PrivateKey } from '@libp2p/interface'
import * as lp from 'it-length-prefixed'
import { decodeShout, encodeFrame, encodeShout } from '../src/codec/frame.js'
import { encodePayload } from '../src/codec/payload.js'
import type { ShoalEvent } from '../src/index.js'
import { ReplayWindow } from '../src/groups/replay-window.js'
import { SeenCache } from '../src/util/seen-cache.js'
import { memoryOptions, start, startMesh, until, record, sleep, sendRawFrames } from './helpers.js'

// A received shout or whisper names its sender as the transport proved it: the gossipsub signer
// (strict signing, checked against the peer id) or the Noise-authenticated remote of the
// connection. These tests play a peer that writes the protocols by hand to claim otherwise.

const SIGN_PREFIX = new TextEncoder().encode('libp2p-pubsub:')
const TOPIC = 'shoal/1/group/g'

/** A gossipsub message claiming to be `from`, signed (or not) with `signer`'s key. */
async function gossip (from: string, signer: PrivateKey | undefined, text: string, withKey = false): Promise<RPC.Message> {
  const body = { from: peerIdFromString(from).toMultihash().bytes, data: encodeShout({ seq: Math.floor(Math.random() * 1e9), group: 'g', payload: encodePayload(text) }), seqno: crypto.getRandomValues(new Uint8Array(8)), topic: TOPIC }
  if (signer == null) return body
  const toSign = new Uint8Array([...SIGN_PREFIX, ...RPC.Message.encode(body)])
  return { ...body, signature: await signer.sign(toSign), key: withKey ? publicKeyToProtobuf(signer.publicKey) : undefined }
}

const shoutsOf = (log: ShoalEvent[]): Array<{ from: string, data: unknown }> =>
  log.flatMap(e => e.type === 'shout' ? [{ from: e.from.id, data: e.data }] : [])

test('a raw gossipsub message claiming another peer\'s id is rejected by strict signing; one in its own name arrives', async t => {
  const [a, b] = await startMesh(t, 2, i => memoryOptions({ name: `n${i}`, groups: ['g'] }))
  const key = await generateKeyPair('Ed25519')
  const mallory = await start(t, memoryOptions({ name: 'mallory', privateKey: key, groups: ['g'], bootstrap: a.addresses() }))
  await until(() => a.peer(mallory.id) != null, 10_000, 'mallory not seen')
  const log = record(a)
  const stream = await mallory.libp2p.dialProtocol(peerIdFromString(a.id), '/meshsub/1.1.0')
  const send = async (messages: RPC.Message[]): Promise<void> => { stream.send(lp.encode.single(RPC.encode({ subscriptions: [], messages }))) }
  await send([
    await gossip(b.id, key, 'forged: b\'s id, mallory\'s signature and key', true),
    await gossip(b.id, key, 'forged: b\'s id, mallory\'s signature'),
    await gossip(b.id, undefined, 'forged: b\'s id, no signature')
  ])
  // The same hand-made path, honestly signed: proves the forgeries were refused, not lost.
  await sleep(200)
  await send([await gossip(mallory.id, key, 'signed by mallory')])
  await until(() => shoutsOf(log).length > 0, 5000, 'the honestly signed raw message did not arrive')
  await sleep(300)
  t.deepEqual(shoutsOf(log), [{ from: mallory.id, data: 'signed by mallory' }])
  // b itself still gets through.
  await b.shout('g', 'really b')
  await until(() => shoutsOf(log).length === 2, 5000, 'b\'s shout lost')
  t.deepEqual(shoutsOf(log)[1], { from: b.id, data: 'really b' })
})

test('a validly signed shout from a sender that never introduces itself is held, then dropped as from an unknown sender, not as malformed', async t => {
  const [a] = await startMesh(t, 1, () => memoryOptions({ name: 'a', groups: ['g'] }))
  const key = await generateKeyPair('Ed25519')
  const mallory = await start(t, memoryOptions({ name: 'mallory', privateKey: key, groups: ['g'], bootstrap: a.addresses() }))
  await until(() => a.peer(mallory.id) != null, 10_000, 'mallory not seen')
  const log = record(a)
  // Signed by a stranger (a key no node runs), passed on by mallory: a waits for the stranger's hello.
  const stranger = await generateKeyPair('Ed25519')
  const stream = await mallory.libp2p.dialProtocol(peerIdFromString(a.id), '/meshsub/1.1.0')
  stream.send(lp.encode.single(RPC.encode({ subscriptions: [], messages: [await gossip(peerIdFromPrivateKey(stranger).toString(), stranger, 'from nobody we know')] })))
  await until(() => a.stats().unknownSenderDropped === 1, 10_000, 'the held shout was not dropped')
  t.is(a.stats().malformedDropped, 0)
  t.deepEqual(shoutsOf(log), [])
})

test('gossip in a peer\'s own name with a bad signature: gossipsub graylists the peer after a few (per-topic invalid-message score)', async t => {
  const [a] = await startMesh(t, 1, i => memoryOptions({ name: `n${i}`, groups: ['g'] }))
  const key = await generateKeyPair('Ed25519')
  const other = await generateKeyPair('Ed25519')
  const mallory = await start(t, memoryOptions({ name: 'mallory', privateKey: key, groups: ['g'], bootstrap: a.addresses() }))
  await until(() => a.peer(mallory.id) != null, 10_000, 'mallory not seen')
  const score = (): number => (a.libp2p.services.pubsub as unknown as { getScore: (p: string) => number }).getScore(mallory.id)
  t.is(score(), 0)
  const stream = await mallory.libp2p.dialProtocol(peerIdFromString(a.id), '/meshsub/1.1.0')
  // Signed with another key: the signature does not match mallory's id. Shoal's validator never
  // sees these (gossipsub refuses them first), so only the topic score can count them.
  stream.send(lp.encode.single(RPC.encode({ subscriptions: [], messages: await Promise.all([1, 2, 3, 4].map(async i => await gossip(mallory.id, other, `bad ${i}`))) })))
  // Gossipsub caches a score for a second.
  await until(() => score() <= -80, 5000, `mallory's score at a stayed at ${score()}`)
  t.is(a.stats().shoutsReceived, 0)
})

test('direct frames carry no sender field: a shout or whisper is from the authenticated remote, and cannot shadow another\'s shouts', async t => {
  const [a, b, mallory] = await startMesh(t, 3, i => memoryOptions({ name: `n${i}`, groups: ['g'] }))
  const seqs: number[] = []
  mallory.libp2p.services.pubsub.addEventListener('message', (e: any) => { if (e.detail.from.toString() === b.id) seqs.push(decodeShout(e.detail.data).seq) })
  const log = record(a)
  await b.shout('g', 'b 1')
  await until(() => seqs.length === 1 && shoutsOf(log).length === 1, 5000, 'first shout of b did not arrive')
  // Mallory knows b's next sequence numbers and sends envelopes with them, and a whisper whose
  // payload claims to be from b. De-duplication is per (authenticated sender, seq).
  const next = seqs[0] + 1
  await sendRawFrames(mallory, a, [
    ...[0, 1, 2].map(i => encodeFrame({ type: 'shout', shout: { seq: next + i, group: 'g', payload: encodePayload(`as b ${i}`) } })),
    encodeFrame({ type: 'whisper', payload: encodePayload({ from: b.id, text: 'it is me, b' }) })
  ])
  await until(() => shoutsOf(log).length === 4 && log.some(e => e.type === 'whisper'), 5000, 'raw frames not delivered')
  for (const s of shoutsOf(log).slice(1)) t.is(s.from, mallory.id)
  const whisper = log.find(e => e.type === 'whisper') as Extract<ShoalEvent, { type: 'whisper' }>
  t.is(whisper.from.id, mallory.id)
  // b's own next shouts, with those very sequence numbers, are still delivered as b's.
  for (let i = 2; i <= 4; i++) await b.shout('g', `b ${i}`)
  await until(() => shoutsOf(log).length === 7, 5000, 'b\'s shouts were shadowed by mallory\'s')
  t.deepEqual(shoutsOf(log).filter(s => s.from === b.id).map(s => s.data), ['b 1', 'b 2', 'b 3', 'b 4'])
})

test('a sender\'s old sequence numbers are refused once de-duplication has forgotten them (replay window)', t => {
  const w = new ReplayWindow(100_000, 10_000, 2)
  let now = 0
  for (let seq = 1; seq <= 50; seq++) { now += 1000; t.true(w.admit('b', seq, now)) } // one shout a second for 50 s
  t.true(w.admit('b', 3, now), 'late copies within the horizon still pass (to the seen cache)')
  now += 110_000 // what was seen 110 s ago and more is below the floor: the seen cache (120 s) forgot it
  for (const seq of [1, 25, 49, 50]) t.false(w.admit('b', seq, now), `replay of ${seq}`)
  t.true(w.admit('b', 51, now), 'the sender\'s next shout')
  t.true(w.admit('c', 1, now), 'senders are apart')
  // A sender that restarts seeds its numbers from the clock: higher than anything of its last life.
  t.true(w.admit('b', Date.now() * 1000, now))
  // Bounded: a third sender pushes out the first; its window reopens (the cost of the bound).
  t.true(w.admit('d', 1, now))
  t.true(w.admit('b', 1, now))
})

test('with the seen cache as Groups uses it, no replay of an earlier shout is ever accepted again', t => {
  // Groups: SeenCache(120 s) after ReplayWindow(100 s, 10 s steps). Random traffic over 20 minutes.
  const seen = new SeenCache(120_000, 200_000)
  const window = new ReplayWindow(100_000, 10_000, 10_000)
  const accept = (seq: number, now: number): boolean => window.admit('b', seq, now) && seen.add(`b/${seq}`, now)
  let now = 0
  let seed = 7
  const random = (): number => { seed = (seed * 48271) % 2147483647; return seed / 2147483647 }
  const sent: number[] = []
  for (let seq = 1; now < 1_200_000; seq++) {
    now += Math.floor(random() * (random() < 0.1 ? 60_000 : 3000))
    t.true(accept(seq, now), `fresh shout ${seq}`)
    sent.push(seq)
    for (let k = 0; k < 3; k++) {
      const old = sent[Math.floor(random() * sent.length)]
      if (accept(old, now)) t.fail(`replay of ${old} accepted at ${now}`)
    }
  }
  t.pass()
})
