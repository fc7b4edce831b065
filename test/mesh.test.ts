import test from 'ava'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { NodeOptions, ShoalNode } from '../src/index.js'
import { memoryOptions, tcpOptions, start, startMesh, until, next, record, sleep } from './helpers.js'

for (const [transport, opts] of [['memory', memoryOptions], ['tcp', tcpOptions]] as const) {
  test(`[${transport}] peers enter once each, with name, headers and groups, and never see themselves`, async t => {
    const nodes = await startMesh(t, 4, i => opts({ name: `n${i}`, headers: { idx: String(i) }, groups: i % 2 === 0 ? ['even'] : ['odd'] }))
    await sleep(300) // room for any duplicate event to show up
    for (const node of nodes) {
      const peers = node.peers()
      t.is(peers.length, 3)
      t.false(peers.some(p => p.id === node.id))
      for (const p of peers) {
        const i = Number(p.headers.idx)
        t.is(p.name, `n${i}`)
        t.deepEqual(p.groups, [i % 2 === 0 ? 'even' : 'odd'])
        t.true(p.addresses.length > 0)
      }
      t.deepEqual(node.peersIn('even').map(p => p.name).sort(), ['n0', 'n2'].filter(n => n !== node.name))
    }
  })

  test(`[${transport}] a graceful stop is seen as exit 'left' by every peer, promptly and once`, async t => {
    const nodes = await startMesh(t, 3, i => opts({ name: `n${i}` }))
    const logs = nodes.map(record)
    const t0 = Date.now()
    const seen = Promise.all(nodes.slice(1).map(async n => await next(n, 'exit', e => e.peer.id === nodes[0].id)))
    await nodes[0].stop()
    // No waiting: stop() resolves once every connected peer has acknowledged the goodbye.
    for (const n of nodes.slice(1)) t.false(n.peers().some(p => p.id === nodes[0].id))
    const exits = await seen
    t.log(`exit seen by all ${Date.now() - t0} ms after stop() began`)
    for (const e of exits) t.is(e.reason, 'left')
    await sleep(1200) // past the disconnect drain window: no second exit
    for (const log of logs.slice(1)) t.is(log.filter(e => e.type === 'exit').length, 1)
  })
}

test('a crashed peer (connections dropped, no goodbye) is reported lost', async t => {
  const nodes = await startMesh(t, 3, i => memoryOptions({ name: `n${i}` }))
  const seen = Promise.all(nodes.slice(1).map(async n => await next(n, 'exit', e => e.peer.id === nodes[0].id)))
  // Stop libp2p underneath Shoal: connections close without a goodbye frame, as in a crash.
  await nodes[0].libp2p.stop()
  for (const e of await seen) t.is(e.reason, 'lost')
})

test('a peer that comes back with the same identity enters again', async t => {
  const privateKey = await generateKeyPair('Ed25519')
  const a = await start(t, memoryOptions({ name: 'a' }))
  const b1 = await start(t, memoryOptions({ name: 'b', privateKey, bootstrap: a.addresses() }))
  await next(a, 'enter')
  const log = record(a)
  await b1.stop()
  const b2 = await start(t, memoryOptions({ name: 'b', privateKey, bootstrap: a.addresses() }))
  t.is(b2.id, b1.id)
  await until(() => log.filter(e => e.type === 'enter').length === 1, 10_000, 'b did not re-enter')
  t.deepEqual(log.map(e => e.type), ['exit', 'enter'])
})

test('join and leave are seen by every peer, and peersIn agrees everywhere once join settles', async t => {
  const nodes = await startMesh(t, 5, i => memoryOptions({ name: `n${i}` }))
  const [a, ...others] = nodes
  const joins = others.map(n => next(n, 'join', e => e.peer.id === a.id && e.group === 'x'))
  await a.join('x')
  // No waiting: join resolves only after every peer acknowledged the change.
  for (const n of others) t.deepEqual(n.peersIn('x').map(p => p.id), [a.id])
  for (const e of await Promise.all(joins)) t.deepEqual(e.peer.groups, ['x'])
  t.deepEqual(a.groups(), ['x'])

  const leaves = others.map(n => next(n, 'leave', e => e.peer.id === a.id && e.group === 'x'))
  await a.leave('x')
  for (const n of others) t.deepEqual(n.peersIn('x'), [])
  await Promise.all(leaves)
  t.deepEqual(a.groups(), [])
})

test('a late joiner learns the existing members of its groups, and they see it join', async t => {
  const nodes = await startMesh(t, 3, i => memoryOptions({ name: `n${i}`, groups: ['lobby'] }))
  const joins = nodes.map(n => next(n, 'join', e => e.peer.name === 'late' && e.group === 'lobby'))
  const late = await start(t, memoryOptions({ name: 'late', groups: ['lobby'], bootstrap: nodes[2].addresses() }))
  await until(() => late.peersIn('lobby').length === 3, 10_000, 'late joiner did not learn the members')
  await Promise.all(joins)
  t.deepEqual(late.peersIn('lobby').map(p => p.name).sort(), ['n0', 'n1', 'n2'])
})

test('bootstrap to one seed is enough to find the whole mesh (peer exchange), with mDNS off', async t => {
  const seed = await start(t, tcpOptions({ name: 'seed' }))
  const nodes = await Promise.all([1, 2, 3, 4].map(async i => await start(t, tcpOptions({ name: `n${i}`, bootstrap: seed.addresses() }))))
  await until(() => nodes.every(n => n.peers().length === 4), 30_000, 'nodes did not find each other')
  t.pass()
})

test('a newcomer is seen by everyone through its first contact, before (or without) a connection of its own', async t => {
  // A firewall keeps the newcomer and n2 from ever connecting; each still sees the other enter,
  // through n0, which vouches for neither: the states it passes on are signed by their owners.
  let nodes: ShoalNode[] = []
  let newcomer: ShoalNode | undefined
  const blocked = (a?: string, b?: string): boolean => newcomer != null && nodes[2] != null && new Set([a, b]).has(newcomer.id) && new Set([a, b]).has(nodes[2].id)
  const gater = (self: () => string | undefined): NodeOptions['connectionGater'] => ({
    denyDialPeer: peer => blocked(self(), peer.toString()),
    denyInboundEncryptedConnection: peer => blocked(self(), peer.toString())
  })
  nodes = await startMesh(t, 3, i => tcpOptions({ name: `n${i}`, connectionGater: gater(() => nodes[i]?.id) }))
  const seen = nodes.map(async n => await next(n, 'enter', e => e.peer.name === 'newcomer'))
  newcomer = await start(t, tcpOptions({ name: 'newcomer', headers: { role: 'late' }, bootstrap: nodes[0].addresses(), connectionGater: gater(() => newcomer?.id) }))
  for (const e of await Promise.all(seen)) t.deepEqual(e.peer.headers, { role: 'late' })
  await until(() => newcomer?.peers().length === 3, 5000, 'the newcomer did not see everyone')
  t.is(nodes[2].libp2p.getConnections(newcomer.libp2p.peerId).length, 0)
})

test('a bootstrap peer that starts later is found once it is up', async t => {
  const port = 20000 + Math.floor(Math.random() * 20000)
  const a = await start(t, tcpOptions({ name: 'a', bootstrap: [`/ip4/127.0.0.1/tcp/${port}`], bootstrapInterval: 200 }))
  await sleep(500)
  const seed = await start(t, tcpOptions({ name: 'seed', listen: [`/ip4/127.0.0.1/tcp/${port}`] }))
  const [seen] = await Promise.all([next(a, 'enter', e => e.peer.id === seed.id, 30_000), next(seed, 'enter', e => e.peer.id === a.id, 30_000)])
  t.is(seen.peer.name, 'seed')
})

test('shouts go only to members; non-members and leavers get nothing; echo is opt-in', async t => {
  const nodes = await startMesh(t, 4, i => memoryOptions({ name: `n${i}`, groups: i < 3 ? ['g'] : [], echo: i === 1 }))
  const [a, b, c, outsider] = nodes
  const logs = nodes.map(record)
  await c.leave('g')
  await a.shout('g', 'one')
  await b.shout('g', 'two')
  await until(() => logs[1].some(e => e.type === 'shout' && e.data === 'one'), 5000)
  await sleep(300)
  const got = (i: number): unknown[] => logs[i].filter(e => e.type === 'shout').map(e => (e as any).data)
  t.deepEqual(got(0), ['two']) // no echo of its own shout
  t.deepEqual(got(1).sort(), ['one', 'two']) // echo on
  t.deepEqual(got(2), [])
  t.deepEqual(got(3), [])
  t.is(outsider.stats().shoutsReceived, 0)
})

test('a shout to a group nobody else is in resolves and reaches no one', async t => {
  const [a, b] = await startMesh(t, 2, i => memoryOptions({ name: `n${i}` }))
  const log = record(b)
  await a.shout('empty', 'x')
  await sleep(200)
  t.deepEqual(log, [])
})

test('whisper delivers each kind of payload to exactly the addressed peer', async t => {
  const [a, b, c] = await startMesh(t, 3, i => tcpOptions({ name: `n${i}` }))
  const logB = record(b)
  const logC = record(c)
  const bytes = new Uint8Array([1, 2, 3])
  await a.whisper(b.id, 'text')
  await a.whisper(b.id, bytes)
  await a.whisper(b.id, { json: [1, 2] })
  await until(() => logB.length === 3, 5000)
  t.deepEqual(logB.map(e => (e as any).data), ['text', bytes, { json: [1, 2] }])
  t.true(logB.every(e => e.type === 'whisper' && e.from.id === a.id && e.from.name === 'n0'))
  t.deepEqual(logC, [])
})

test('whispers between two peers keep their order', async t => {
  const [a, b] = await startMesh(t, 2, i => memoryOptions({ name: `n${i}` }))
  const got: number[] = []
  b.on('whisper', e => got.push(e.data as number))
  await Promise.all(Array.from({ length: 500 }, async (_, i) => { await a.whisper(b.id, i) }))
  await until(() => got.length === 500, 10_000)
  t.deepEqual(got, Array.from({ length: 500 }, (_, i) => i))
})

test('events() yields the same events as a discriminated union and ends on stop', async t => {
  const a = await start(t, memoryOptions({ name: 'a', groups: ['g'] }))
  const seen: string[] = []
  const done = (async () => {
    for await (const e of a.events()) {
      if (e.type === 'shout') seen.push(`shout:${e.group}:${String(e.data)}`)
      else if (e.type === 'enter') seen.push(`enter:${e.peer.name}`)
      else if (e.type === 'join') seen.push(`join:${e.peer.name}:${e.group}`)
    }
    return 'ended'
  })()
  const b = await start(t, memoryOptions({ name: 'b', groups: ['g'], bootstrap: a.addresses() }))
  await next(b, 'enter')
  await b.shout('g', 'hi')
  await until(() => seen.length === 3, 5000)
  t.deepEqual(seen, ['enter:b', 'join:b:g', 'shout:g:hi'])
  await a.stop()
  t.is(await done, 'ended')
})

test('events() stops when its signal aborts', async t => {
  const a = await start(t, memoryOptions({ name: 'a' }))
  const controller = new AbortController()
  const it = a.events({ signal: controller.signal })
  const pending = it.next()
  controller.abort()
  t.deepEqual(await pending, { value: undefined, done: true })
})

test('a listener that throws does not stop other listeners or the node', async t => {
  const [a, b] = await startMesh(t, 2, i => memoryOptions({ name: `n${i}`, groups: ['g'] }))
  const origError = console.error
  const reported: unknown[] = []
  console.error = (...args: unknown[]) => { reported.push(args) }
  t.teardown(() => { console.error = origError })
  b.on('shout', () => { throw new Error('app bug') })
  const got = next(b, 'shout')
  await a.shout('g', 'x')
  t.is((await got).data, 'x')
  const again = next(b, 'shout')
  await a.shout('g', 'y')
  t.is((await again).data, 'y')
  t.true(reported.length >= 1)
})

test('a group change made while a new peer is still being introduced reaches that peer', async t => {
  // Join right as connections form, many times over: the new state must not miss peers whose
  // hello has not arrived yet, or they keep an old view of our groups for good.
  for (let round = 0; round < 5; round++) {
    const a = await start(t, memoryOptions({ name: `a${round}` }))
    const b = await start(t, memoryOptions({ name: `b${round}`, bootstrap: a.addresses() }))
    await until(() => a.libp2p.getConnections().length > 0, 5000)
    await a.join('x')
    await until(() => b.peer(a.id) != null, 5000, 'b never saw a')
    await until(() => b.peersIn('x').length === 1, 3000, `round ${round}: b never learned that a joined x`)
  }
  t.pass()
})
