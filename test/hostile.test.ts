// Misbehaving real peers against a real mesh: the node stays up, keeps serving its honest peers,
// loses none of their messages, and reports what it dropped (stats and 'limit' events).
import test from 'ava'
import { randomBytes } from 'node:crypto'
import { createLibp2p, type Libp2p } from 'libp2p'
import { memory } from '@libp2p/memory'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { QueueFullError, type ShoalNode } from '../src/index.js'
import { memoryOptions, tcpOptions, record, start, startMesh, until } from './helpers.js'
import { startChild } from './child.js'

/** `peer`'s gossipsub score at `node` (gossipsub graylists below -80). */
const gossipScore = (node: ShoalNode, peer: string): number => (node.libp2p.services.pubsub as unknown as { getScore: (p: string) => number }).getScore(peer)

/** `count` numbered shouts from `from`; resolves once every node of `to` has every one of them. */
async function honestShouts (from: ShoalNode, to: ShoalNode[], count: number, timeoutMs = 15_000): Promise<void> {
  const got = new Map(to.map(n => [n, new Set<number>()]))
  const listeners = to.map(n => {
    const l = (e: any): void => { if (e.from.id === from.id && typeof e.data === 'number') got.get(n)?.add(e.data) }
    n.on('shout', l)
    return () => n.off('shout', l)
  })
  try {
    for (let i = 0; i < count; i++) await from.shout('g', i)
    await until(() => [...got.values()].every(s => s.size === count), timeoutMs,
      `honest shouts lost (${[...got.values()].map(s => s.size).join(', ')} of ${count})`)
  } finally {
    for (const off of listeners) off()
  }
}

test('random bytes and absurd length prefixes on every Shoal and gossipsub protocol: the node stays up, loses no honest message, and quarantines the sender', async t => {
  // About garbage, not rates: 200 a second lets the 2 x 100 honest shouts below go out in half a
  // second each; the default (20) would pace them over 6 s each.
  const [a, b, c] = await startMesh(t, 3, i => memoryOptions({ name: `n${i}`, groups: ['g'], maxInboundShouts: 200 }))
  const rogue = await createLibp2p({ addresses: { listen: [`/memory/rogue-bytes-${process.pid}`] }, transports: [memory()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
  t.teardown(async () => { await rogue.stop() })
  // It answers the wire protocol (reading and discarding), or the node would hang up on it as a stranger.
  await rogue.handle('/shoal/wire/1.0.0', (s) => { void (async () => { for await (const _ of s) {} })().catch(() => {}) })
  const target = multiaddr(a.addresses()[0])
  const protocols = ['/shoal/wire/1.0.0', ...a.libp2p.getProtocols().filter(p => p.includes('meshsub'))]
  t.true(protocols.length >= 2, `protocols: ${protocols.join(', ')}`)
  const log = record(a)
  let streams = 0
  const attack = (async () => {
    for (let round = 0; round < 20; round++) {
      for (const protocol of protocols) {
        try {
          const s = await rogue.dialProtocol(target, protocol)
          streams++
          // Well-framed random bodies (they reach the decoders), then raw random bytes, then a
          // length prefix of ~2^35 (an "oversized frame"), then more noise.
          for (let k = 0; k < 3; k++) s.send(Uint8Array.of(100, ...randomBytes(100)))
          s.send(randomBytes(1 + Math.floor(Math.random() * 4096)))
          s.send(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x7f))
          s.send(randomBytes(256))
        } catch {} // the node reset a stream or hung up: the rogue just tries again
      }
    }
  })()
  await honestShouts(b, [a, c], 100)
  await honestShouts(a, [b, c], 100)
  await attack
  const rejected = a.stats().malformedDropped
  t.log(`${streams} hostile streams opened; ${rejected} rejections counted at the target; rogue's gossipsub score there ${gossipScore(a, rogue.peerId.toString()).toFixed(1)}`)
  t.true(streams > 0 && rejected > 0, 'the garbage never reached a decoder')
  // Past 8 garbage frames (80 points) the rogue is disconnected and refused (and graylisted by gossipsub).
  {
    t.is(a.stats().quarantined, 1)
    await until(() => log.some(e => e.type === 'limit' && e.kind === 'quarantine' && e.peerId === rogue.peerId.toString()), 3000, 'no limit event for the quarantine')
    await t.throwsAsync(rogue.dialProtocol(target, '/shoal/wire/1.0.0'), undefined, 'a quarantined peer got a connection')
  }
  t.deepEqual(a.peers().map(p => p.name).sort(), ['n1', 'n2'])
  t.false(a.peers().some(p => p.id === rogue.peerId.toString()))
})

test('a quarantined peer\'s host is refused before the handshake, under any peer id; other hosts and the loopback peers are not', async t => {
  // Peers on hosts of their own (127.0.0.2, .3), as machines on a LAN would be.
  const rogueAt = async (host: string): Promise<Libp2p> => {
    const dialOpts: Record<string, unknown> = { localAddress: host }
    const node = await createLibp2p({ addresses: { listen: [`/ip4/${host}/tcp/0`] }, transports: [tcp({ dialOpts })], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
    t.teardown(async () => { await node.stop() })
    await node.handle('/shoal/wire/1.0.0', (s) => { void (async () => { for await (const _ of s) {} })().catch(() => {}) })
    return node
  }
  // Every peer whose handshake completed at `a` (its own gater is asked after Shoal's).
  const handshakes: string[] = []
  const gate = { denyInboundEncryptedConnection: (peer: { toString: () => string }) => { handshakes.push(peer.toString()); return false } }
  const [a, b] = await startMesh(t, 2, i => tcpOptions({ name: `n${i}`, groups: ['g'], connectionGater: i === 0 ? gate : undefined }))
  const target = multiaddr(a.addresses().find(x => x.includes('127.0.0.1')) as string)
  const log = record(a)

  const first = await rogueAt('127.0.0.2')
  for (let k = 0; k < 20 && a.stats().quarantined === 0; k++) {
    try {
      const s = await first.dialProtocol(target, '/shoal/wire/1.0.0')
      for (let j = 0; j < 3; j++) s.send(Uint8Array.of(100, ...randomBytes(100)))
    } catch {}
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  await until(() => log.some(e => e.type === 'limit' && e.kind === 'quarantine' && e.peerId === first.peerId.toString()), 5000, 'the first rogue was not quarantined')

  // A new key pair on the same host: refused, and no handshake was spent on it.
  const second = await rogueAt('127.0.0.2')
  await t.throwsAsync(second.dialProtocol(target, '/shoal/wire/1.0.0', { signal: AbortSignal.timeout(5000) }), undefined, 'a new peer id from the quarantined host got a connection')
  t.false(handshakes.includes(second.peerId.toString()), 'the handshake ran before the refusal')

  // Another host, and the peers on the loopback address, still get in.
  const other = await rogueAt('127.0.0.3')
  await other.dial(target, { signal: AbortSignal.timeout(5000) })
  await until(() => handshakes.includes(other.peerId.toString()), 3000, 'a peer from another host was refused')
  await b.libp2p.hangUp(a.libp2p.peerId)
  await until(() => b.libp2p.getConnections(a.libp2p.peerId).length === 0, 3000, 'b did not hang up')
  await b.libp2p.dial(a.libp2p.peerId, { signal: AbortSignal.timeout(5000) })
  await honestShouts(b, [a], 5)
})

test('a member that stops reading (SIGSTOP): shouts to the others are not held up, its backlog is capped and reported, whispers to it are refused with QueueFullError', async t => {
  t.timeout(50_000)
  // About back-pressure, not rates: at 500 a second (the old default) shout() lets the 256 shouts
  // below go out in a couple of seconds; the default (20) would pace them over 17 s.
  const fast = { maxInboundShouts: 500 }
  const a = await start(t, tcpOptions({ name: 'a', groups: ['g'], ...fast }))
  const b = await start(t, tcpOptions({ name: 'b', groups: ['g'], bootstrap: a.addresses(), ...fast }))
  const frozen = await startChild(t, tcpOptions({ name: 'frozen', groups: ['g'], bootstrap: a.addresses(), ...fast }))
  await until(() => a.peersIn('g').length === 2 && b.peersIn('g').length === 2, 10_000, 'members did not meet')
  const log = record(a)
  frozen.proc.kill('SIGSTOP')
  // 64 KiB shouts: 16 MiB in all, twice what may wait for the stopped member (8 MiB).
  const got = new Set<number>()
  b.on('shout', e => { if (e.from.id === a.id) got.add((e.data as Uint8Array)[0] + 256 * (e.data as Uint8Array)[1]) })
  const t0 = Date.now()
  for (let i = 0; i < 256; i++) {
    const data = new Uint8Array(64 * 1024)
    data[0] = i % 256
    data[1] = i >> 8
    await a.shout('g', data)
  }
  const shouted = Date.now() - t0
  await until(() => got.size === 256, 20_000, `shouts to b lost (${got.size} of 256) a=${JSON.stringify(a.stats())} b=${JSON.stringify(b.stats())}`)
  t.log(`256 x 64 KiB shouts sent in ${shouted} ms, all at b after ${Date.now() - t0} ms; ${a.stats().queueDropped} copies for the stopped member dropped`)
  t.true(a.stats().queueDropped > 0, 'nothing was dropped for a member that reads nothing')
  await until(() => log.some(e => e.type === 'limit' && e.kind === 'queue' && e.channel === 'shout' && e.peerId === frozen.id), 3000, 'no limit event for the dropped copies')
  // Whispers: past the mark they are refused at once, not queued and not left to time out.
  const results = await Promise.allSettled(Array.from({ length: 24 }, async () => { await a.whisper(frozen.id, new Uint8Array(1024 * 1024), { timeout: 2000 }) }))
  const full = results.filter(r => r.status === 'rejected' && r.reason instanceof QueueFullError).length
  t.log(`24 x 1 MiB whispers at once: ${full} refused with QueueFullError`)
  t.true(full >= 8, 'whispers past the high-water mark were not refused')
  t.is(a.stats().queueRejected, full)
  const whisper = new Promise(resolve => { b.on('whisper', e => { if (e.data === 'still here') resolve(e) }) })
  await a.whisper(b.id, 'still here')
  await whisper
})

test('a member flooding shouts and whispers: the excess is dropped and reported, the flooder is quarantined, every honest shout arrives', async t => {
  t.timeout(50_000)
  const limits = { maxInboundShouts: 200, maxInboundMessages: 200 }
  // The flooder does not pace its own shouts (see ShoutPacer): its own limit is set sky-high.
  const [a, b, flooder] = await startMesh(t, 3, i => memoryOptions({ name: ['a', 'b', 'flooder'][i], groups: ['g'], ...limits, ...(i === 2 ? { maxInboundShouts: 1e9 } : {}) }))
  const log = record(b)
  let flooding = true
  let flood = 0
  const junk = new Uint8Array(1024)
  // As fast as the flooder's event loop can queue them, shouts and whispers each.
  const floodWith = async (send: () => Promise<void>): Promise<void> => {
    while (flooding) {
      await Promise.all(Array.from({ length: 50 }, async () => { await send().catch(() => {}); flood++ }))
      // The flooder shares this process: let the event loop (everyone's I/O and timers) turn.
      await new Promise(resolve => setImmediate(resolve))
    }
  }
  const floods = Promise.all([floodWith(async () => { await flooder.shout('g', junk) }), floodWith(async () => { await flooder.whisper(b.id, junk) })])
  const reported = (kind: string): boolean => log.some(e => e.type === 'limit' && e.kind === kind && e.peerId === flooder.id)
  await until(() => reported('rate') && reported('quarantine'), 20_000, `the flood was not limited (${flood} sent, ${b.stats().rateLimited} dropped)`)
  // 100 honest shouts: a paces them within its allowance at b (200/s), however fast it calls shout().
  await honestShouts(a, [b], 100, 30_000)
  t.false(b.libp2p.getPeers().some(p => p.toString() === flooder.id), 'the flooder is still connected')
  flooding = false
  await floods
  t.log(`${flood} flood messages sent; b dropped ${b.stats().rateLimited} over the rate, delivered ${b.stats().shoutsReceived} shouts and ${b.stats().whispersReceived} whispers; flooder's score at b ${gossipScore(b, flooder.id).toFixed(1)}`)
  t.true(b.peer(a.id) != null)
})

test('maxPeers: connections from peers past the limit are refused, counted and reported', async t => {
  const a = await start(t, memoryOptions({ name: 'a', maxPeers: 2 }))
  const log = record(a)
  await start(t, memoryOptions({ name: 'b', bootstrap: a.addresses() }))
  await start(t, memoryOptions({ name: 'c', bootstrap: a.addresses() }))
  await until(() => a.libp2p.getPeers().length === 2, 10_000, 'a did not connect to two peers')
  const d = await start(t, memoryOptions({ name: 'd', bootstrap: a.addresses(), bootstrapInterval: 200 }))
  await until(() => a.stats().peersRefused > 0, 5000, 'the third peer was not refused')
  t.false(a.libp2p.getPeers().some(p => p.toString() === d.id))
  t.is(d.libp2p.getPeers().length, 0)
  await until(() => log.some(e => e.type === 'limit' && e.kind === 'peers' && e.peerId === d.id), 3000, 'no limit event for the refused peer')
})
