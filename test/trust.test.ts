import test from 'ava'
import { ConfigError, generateMeshKey } from '../src/index.js'
import { meshServiceTag, meshKeyBytes } from '../src/trust/mesh-key.js'
import { resolveOptions } from '../src/options.js'
import { memoryOptions, tcpOptions, start, startMesh, until, next, record, sleep } from './helpers.js'
import { LanBus, lanDiscovery } from '../sim/lan-bus.js'

const keyA = generateMeshKey()
const keyB = generateMeshKey()

for (const [transport, opts] of [['memory', memoryOptions], ['tcp', tcpOptions]] as const) {
  test(`private mesh (${transport}): members meet and talk; nodes with another key or none cannot connect or appear`, async t => {
    const [a, b] = await startMesh(t, 2, i => opts({ name: `a${i}`, meshKey: keyA, groups: ['g'] }))
    // Outsiders know a's address and keep dialling it (every 100 ms), with the wrong key and with none.
    const wrong = await start(t, opts({ name: 'wrong-key', meshKey: keyB, bootstrap: a.addresses(), bootstrapInterval: 100, groups: ['g'] }))
    const open = await start(t, opts({ name: 'no-key', bootstrap: a.addresses(), bootstrapInterval: 100, groups: ['g'] }))
    // ...and a member dials them too. With the wrong key Noise reads garbage and may wait for the
    // rest of a "message" until the dial times out; it must never succeed.
    const dials = Promise.all([wrong, open].map(async outsider => {
      await a.libp2p.dial(outsider.libp2p.getMultiaddrs()[0], { signal: AbortSignal.timeout(1500) })
        .then(() => { t.fail(`a member connected to ${outsider.name}`) }, () => {})
    }))
    const got = next(b, 'shout')
    await a.shout('g', 'members only')
    t.is((await got).data, 'members only')
    await Promise.all([dials, sleep(1000)])
    for (const outsider of [wrong, open]) {
      t.deepEqual(outsider.peers(), [], `${outsider.name} sees nobody`)
      t.is(outsider.libp2p.getConnections().length, 0, `${outsider.name} holds no connection`)
    }
    t.deepEqual(a.peers().map(p => p.name), ['a1'])
    t.deepEqual(b.peers().map(p => p.name), ['a0'])
  })
}

test('two meshes with different keys share a network without seeing each other', async t => {
  // One simulated LAN: every node hears every other's announcements (as with one mDNS tag) and dials.
  const bus = new LanBus({ reannounceInterval: 200 })
  const a = await startMesh(t, 3, i => memoryOptions({ name: `a${i}`, meshKey: keyA, discovery: [lanDiscovery(bus)] }))
  const b = await startMesh(t, 3, i => memoryOptions({ name: `b${i}`, meshKey: keyB, discovery: [lanDiscovery(bus)] }))
  await sleep(1000)
  for (const n of a) t.true(n.peers().every(p => p.name.startsWith('a')))
  for (const n of b) t.true(n.peers().every(p => p.name.startsWith('b')))
})

test('mesh keys: hex, swarm.key text and raw bytes name the same key; each key has its own mDNS tag; bad keys are ConfigErrors', t => {
  const bytes = meshKeyBytes(keyA)
  t.is(bytes.byteLength, 32)
  t.deepEqual(meshKeyBytes(`/key/swarm/psk/1.0.0/\n/base16/\n${keyA}\n`), bytes)
  t.deepEqual(meshKeyBytes(bytes), bytes)
  t.not(meshServiceTag(bytes), meshServiceTag(meshKeyBytes(keyB)))
  const resolved = resolveOptions({ meshKey: keyA }, 'x')
  t.is(resolved.mdns !== false && resolved.mdns.serviceTag, meshServiceTag(bytes))
  const chosen = resolveOptions({ meshKey: keyA, mdns: { serviceTag: '_mine._udp.local' } }, 'x')
  t.is(chosen.mdns !== false && chosen.mdns.serviceTag, '_mine._udp.local')
  for (const bad of ['secret', keyA.slice(1), new Uint8Array(31), 42 as any]) {
    t.throws(() => resolveOptions({ meshKey: bad }, 'x'), { instanceOf: ConfigError })
  }
})

test('a denied peer cannot connect; an allow list admits only its peers', async t => {
  const denied = await start(t, memoryOptions({ name: 'denied' }))
  const friend = await start(t, memoryOptions({ name: 'friend' }))
  const a = await start(t, memoryOptions({ name: 'a', deny: [denied.id] }))
  const strict = await start(t, memoryOptions({ name: 'strict', allow: [a.id] }))
  for (const [from, to] of [[denied, a], [a, denied], [friend, strict], [strict, friend]] as const) {
    await from.libp2p.dial(to.libp2p.getMultiaddrs()[0]).then(() => t.fail(`${from.name} reached ${to.name}`), () => {})
  }
  await friend.libp2p.dial(a.libp2p.getMultiaddrs()[0])
  await strict.libp2p.dial(a.libp2p.getMultiaddrs()[0])
  await until(() => a.peer(friend.id) != null && a.peer(strict.id) != null, 5000, 'allowed peers not seen')
  t.is(a.peer(denied.id), undefined)
  t.deepEqual(strict.peers().map(p => p.name), ['a'])
  t.throws(() => resolveOptions({ allow: 'x' as any }, 'x'), { instanceOf: ConfigError })
})

test('a denied peer does not come in second hand: not through a neighbour\'s view, nor through its gossip', async t => {
  // b has no lists and connects to everyone; a refuses c. c's state and shouts reach b, and b
  // passes both on; a must drop them.
  const c = await start(t, memoryOptions({ name: 'c', groups: ['g'] }))
  const a = await start(t, memoryOptions({ name: 'a', groups: ['g'], deny: [c.id] }))
  const b = await start(t, memoryOptions({ name: 'b', groups: ['g'], bootstrap: [...a.addresses(), ...c.addresses()] }))
  await until(() => b.peers().length === 2 && a.peer(b.id) != null && c.peer(b.id) != null, 10_000, 'b did not meet both')
  const log = record(a)
  const fromB = next(a, 'shout', e => e.from.id === b.id)
  for (let i = 0; i < 20; i++) await c.shout('g', `from c ${i}`)
  await b.shout('g', 'from b')
  await fromB
  await sleep(500)
  t.is(a.peer(c.id), undefined)
  t.false(log.some(e => e.type === 'shout' && e.from.id === c.id), 'a delivered a shout of a denied peer')
  t.false(log.some(e => e.type === 'enter' && e.peer.id === c.id))
  t.is(a.libp2p.getConnections().filter(conn => conn.remotePeer.toString() === c.id).length, 0)
  t.log(`a dropped ${a.stats().deniedDropped} relayed message(s) of the denied peer`)
})

test('a deny list on one side only: the refused peer does not take the one refusing it for dead, and nobody sees it flap', async t => {
  // a refuses c; c hears of a through b and dials it, and a's gater closes each such connection
  // as it opens. That says nothing about a being alive: it must not turn into an exit anywhere.
  const c = await start(t, memoryOptions({ name: 'c', profile: 'local' }))
  const a = await start(t, memoryOptions({ name: 'a', profile: 'local', deny: [c.id] }))
  const b = await start(t, memoryOptions({ name: 'b', profile: 'local', bootstrap: [...a.addresses(), ...c.addresses()] }))
  await until(() => b.peers().length === 2 && c.peer(a.id) != null, 10_000, 'c did not hear of a through b')
  const atB = record(b)
  const atC = record(c)
  await sleep(5000)
  t.false(atB.some(e => e.type === 'exit' && e.peer.id === a.id), 'b saw a exit')
  t.false(atC.some(e => e.type === 'exit' && e.peer.id === a.id), 'c saw a exit')
  t.not(c.peer(a.id), undefined)
})
