import test from 'ava'
import type { ShoalNode, ShoalEvent, NodeOptions } from '../src/index.js'
import { tcpOptions, memoryOptions, start, startMesh, until, next, record, sleep, firewall } from './helpers.js'
import { memory } from '@libp2p/memory'
import { LinkShaper } from '../sim/link-shaper.js'
import { startChild, type Child } from './child.js'

// Failure detection end to end: real nodes on TCP loopback, the failing one in its own process
// so it can really crash (SIGKILL) or freeze (SIGSTOP: its sockets stay open, nothing answers).
// The 'local' profile probes every 200 ms; a suspect among 4 nodes has 1-4 s to refute.

const local = (extra: NodeOptions): NodeOptions => tcpOptions({ profile: 'local', ...extra })

async function meshWithChild (t: any, n: number): Promise<{ nodes: ShoalNode[], child: Child, logs: ShoalEvent[][] }> {
  const nodes = await startMesh(t, n, i => local({ name: `n${i}` }))
  const logs = nodes.map(record)
  const child = await startChild(t, local({ name: 'child', bootstrap: nodes[0].addresses() }))
  await until(() => nodes.every(node => node.peer(child.id) != null), 10_000, 'child did not enter everywhere')
  return { nodes, child, logs }
}

const eventsAbout = (log: ShoalEvent[], id: string): string[] =>
  log.filter(e => 'peer' in e && e.peer.id === id).map(e => e.type === 'exit' ? `exit:${e.reason}` : e.type)

test('a crashed process (kill -9) is reported lost by every peer, without waiting for suspicion', async t => {
  const { nodes, child, logs } = await meshWithChild(t, 3)
  const t0 = Date.now()
  const exits = nodes.map(async n => await next(n, 'exit', e => e.peer.id === child.id))
  child.proc.kill('SIGKILL')
  for (const e of await Promise.all(exits)) t.is(e.reason, 'lost')
  t.log(`lost at all ${nodes.length} peers after ${Date.now() - t0} ms`)
  for (const log of logs) t.deepEqual(eventsAbout(log, child.id), ['enter', 'exit:lost'])
})

test('a frozen process (SIGSTOP, sockets open) turns suspect, then lost, everywhere; it enters again once thawed', async t => {
  const { nodes, child, logs } = await meshWithChild(t, 3)
  const t0 = Date.now()
  const suspects = nodes.map(async n => await next(n, 'suspect', e => e.peer.id === child.id))
  const exits = nodes.map(async n => await next(n, 'exit', e => e.peer.id === child.id, 15_000))
  child.proc.kill('SIGSTOP')
  await Promise.all(suspects)
  t.is(nodes[0].peer(child.id)?.state, 'suspect')
  const firstSuspect = Date.now() - t0
  for (const e of await Promise.all(exits)) t.is(e.reason, 'lost')
  t.log(`suspect at all after ${firstSuspect} ms, lost at all after ${Date.now() - t0} ms`)
  for (const log of logs) t.deepEqual(eventsAbout(log, child.id), ['enter', 'suspect', 'exit:lost'])
  // The healthy peers never doubted each other.
  for (const [i, log] of logs.entries()) {
    t.false(log.some(e => e.type === 'exit' && e.peer.id !== child.id), `n${i} lost a healthy peer`)
  }
  const back = nodes.map(async n => await next(n, 'enter', e => e.peer.id === child.id, 20_000))
  child.proc.kill('SIGCONT')
  await Promise.all(back)
  t.pass()
})

test('a falsely suspected peer refutes: everyone sees it alive again and nobody reports an exit', async t => {
  const { nodes, child, logs } = await meshWithChild(t, 3)
  const suspects = nodes.map(async n => await next(n, 'suspect', e => e.peer.id === child.id))
  const alive = nodes.map(async n => await next(n, 'alive', e => e.peer.id === child.id))
  child.proc.kill('SIGSTOP')
  await Promise.all(suspects)
  child.proc.kill('SIGCONT')
  await Promise.all(alive)
  await sleep(3000) // longer than the longest suspicion timeout: any unrefuted suspicion would have fired
  for (const n of nodes) t.is(n.peer(child.id)?.state, 'alive')
  for (const log of logs) {
    t.false(log.some(e => e.type === 'exit'), 'an exit was reported')
    t.deepEqual(eventsAbout(log, child.id), ['enter', 'suspect', 'alive'])
  }
})

test('a dropped connection to a live peer is a flap, not an exit', async t => {
  const [a, b] = await startMesh(t, 2, i => local({ name: `n${i}` }))
  const log = record(a)
  await a.libp2p.hangUp(b.libp2p.peerId)
  await sleep(1500)
  t.deepEqual(log.filter(e => e.type === 'exit'), [])
  t.truthy(a.peer(b.id))
  await a.whisper(b.id, 'still here')
})

test('partition and heal: each half sees the other exit, then enter again; views agree afterwards', async t => {
  t.timeout(60_000)
  // A firewall between two halves: connections across are cut and new ones refused.
  const nodes: ShoalNode[] = []
  const { gater, split, heal } = firewall(nodes)
  const first = await start(t, local({ name: 'n0', connectionGater: gater(0) }))
  nodes.push(first)
  for (let i = 1; i < 6; i++) {
    nodes.push(await start(t, local({ name: `n${i}`, connectionGater: gater(i), bootstrap: first.addresses(), bootstrapInterval: 300 })))
  }
  await until(() => nodes.every(n => n.peers().length === 5), 20_000, 'mesh did not converge')
  const logs = nodes.map(record)

  split(i => i < 3 ? 0 : 1)
  await until(() => nodes.every(n => n.peers().length === 2), 10_000, 'halves did not see each other go')
  for (const [i, n] of nodes.entries()) {
    t.deepEqual(n.peers().map(p => p.name).sort(), nodes.filter((_, j) => j !== i && (j < 3) === (i < 3)).map(m => m.name).sort())
  }

  heal()
  await until(() => nodes.every(n => n.peers().length === 5), 20_000, 'halves did not find each other again')
  const view = (n: ShoalNode): string[] => [n.name, ...n.peers().map(p => p.name)].sort()
  for (const n of nodes) t.deepEqual(view(n), view(nodes[0]))
  for (const [i, log] of logs.entries()) {
    const others = nodes.filter((_, j) => (j < 3) !== (i < 3))
    for (const o of others) t.deepEqual(eventsAbout(log, o.id).filter(e => e !== 'suspect' && e !== 'alive'), ['exit:lost', 'enter'])
    // Its own half it never lost, before the heal or after, whatever the other half believed.
    const own = nodes.filter((_, j) => j !== i && (j < 3) === (i < 3))
    for (const o of own) t.deepEqual(eventsAbout(log, o.id).filter(e => e.startsWith('exit')), [], `${nodes[i].name} saw ${o.name} exit`)
  }
})

test('after a partition, the far side\'s verdict on a peer does not take it from those who still reach it', async t => {
  t.timeout(60_000)
  // a is cut off from b and c, and each side declares the other lost. Then a reaches b again
  // but never c: a still holds c as dead, at the version c has had all along, and tells b so
  // whenever their views are compared. b is connected to c and hears from it.
  const nodes: ShoalNode[] = []
  const { gater, separate } = firewall(nodes)
  const a = await start(t, local({ name: 'a', connectionGater: gater(0) }))
  nodes.push(a)
  const b = await start(t, local({ name: 'b', connectionGater: gater(1), bootstrap: a.addresses(), bootstrapInterval: 300 }))
  nodes.push(b)
  const c = await start(t, local({ name: 'c', connectionGater: gater(2), bootstrap: b.addresses() }))
  nodes.push(c)
  await until(() => nodes.every(n => n.peers().length === 2), 20_000, 'mesh did not converge')
  const [logB, logC] = [record(b), record(c)]

  separate([[a, b], [a, c]])
  await until(() => a.peers().length === 0 && b.peer(a.id) == null && c.peer(a.id) == null, 10_000, 'the two sides did not see each other go')

  separate([[a, c]]) // b redials a (its bootstrap peer); a and c stay apart
  // a sees c again only once c, told of a's verdict, refutes it: a newer version of c, which
  // reaches a through b's anti-entropy. Before, b simply believed a and dropped c.
  await until(() => a.peer(c.id) != null && a.peer(b.id) != null, 20_000, 'a did not see b and c again')
  t.deepEqual(eventsAbout(logB, c.id).filter(e => e.startsWith('exit')), [], 'b dropped c on a\'s word')
  t.deepEqual(eventsAbout(logC, b.id).filter(e => e.startsWith('exit')), [], 'c dropped b on a\'s word')
  t.truthy(b.peer(c.id))
})

test('a header change reaches every peer as an update event', async t => {
  const nodes = await startMesh(t, 3, i => local({ name: `n${i}`, headers: { role: 'idle' } }))
  const [a, ...others] = nodes
  const updates = others.map(async n => await next(n, 'update', e => e.peer.id === a.id))
  await a.setHeader('role', 'leader')
  // setHeader resolves once every peer acknowledged, so their views already agree.
  for (const n of others) t.is(n.peer(a.id)?.headers.role, 'leader')
  for (const e of await Promise.all(updates)) t.deepEqual(e.peer.headers, { role: 'leader' })
  t.deepEqual(a.headers(), { role: 'leader' })
  await t.throwsAsync(a.setHeader('role', 42 as any), { name: 'InvalidArgumentError' })
})

test('a node whose links stall (its process running) does not get the peers it could not reach suspected once its links are back', async t => {
  // Its probes all fail while the links hold every byte, so it suspects whoever it probes; those
  // suspicions reach the others when the bytes flow again, long after they were true of anyone.
  const shaper = new LinkShaper()
  const nodes = await startMesh(t, 6, i => memoryOptions({ name: `n${i}`, profile: 'lan', transports: [shaper.transport(memory())], connectionGater: shaper.gater() }))
  const [stalled, ...others] = nodes
  const logs = others.map(record)
  shaper.stall(stalled.id, true)
  // The others notice it (suspect, then lost), and it stays cut off 3 s more.
  await until(() => others.every(n => n.peer(stalled.id) == null), 10_000, 'the others did not notice the stalled node')
  await sleep(3000)
  shaper.stall(stalled.id, false)
  await until(() => others.every(n => n.peer(stalled.id) != null), 10_000, 'the stalled node did not come back')
  await sleep(2000)
  const alarms = logs.flatMap((log, i) => log.filter(e => e.type === 'suspect' && e.peer.id !== stalled.id).map(e => `${others[i].name} suspects ${e.type === 'suspect' ? e.peer.name : ''}`))
  t.deepEqual(alarms, [])
  for (const n of nodes) t.is(n.peers().length, 5)
})
