import test from 'ava'
import fc from 'fast-check'
import { generateGroupKey, InvalidArgumentError, type Payload, type ShoalEvent, type ShoalNode } from '../src/index.js'
import { GroupKeys } from '../src/groups/group-crypto.js'
import { GroupSettings } from '../src/groups/group-settings.js'
import { decodeShout, encodeFrame } from '../src/codec/frame.js'
import { decodePayload, encodePayload } from '../src/codec/payload.js'
import { memoryOptions, start, startMesh, until, record, sleep, sendRawFrames } from './helpers.js'

const shouts = (log: ShoalEvent[]): unknown[] => log.filter(e => e.type === 'shout').map(e => (e as any).data)
const contains = (hay: Uint8Array, needle: string): boolean => Buffer.from(hay).includes(Buffer.from(needle))

test('members with the key read an encrypted group; a member without it and one with another key do not, and see only ciphertext', async t => {
  const key = generateGroupKey()
  const [a, b, plain, wrong] = await startMesh(t, 4, i => memoryOptions({ name: `n${i}` }))
  await a.join('secret', { key })
  await b.join('secret', { key: Buffer.from(key, 'hex') }) // the same key as bytes
  await plain.join('secret')
  await wrong.join('secret', { key: generateGroupKey() })
  const logs = [b, plain, wrong].map(record)
  // What gossipsub hands the keyless member: the sealed bytes, nothing readable.
  const raw: Uint8Array[] = []
  plain.libp2p.services.pubsub.addEventListener('message', (e: any) => { raw.push(e.detail.data) })
  for (let i = 0; i < 5; i++) await a.shout('secret', `top secret ${i}`, { headers: { type: 'classified' } })
  await until(() => shouts(logs[0]).length === 5, 5000, 'b did not read all shouts')
  await until(() => plain.stats().unreadableDropped === 5 && wrong.stats().unreadableDropped === 5, 5000, 'keyless members did not drop all shouts')
  t.deepEqual(shouts(logs[0]), [0, 1, 2, 3, 4].map(i => `top secret ${i}`))
  t.deepEqual((logs[0].find(e => e.type === 'shout') as any).headers, { type: 'classified' })
  t.deepEqual(shouts(logs[1]), [])
  t.deepEqual(shouts(logs[2]), [])
  t.true(raw.length > 0, 'no gossip reached the keyless member')
  for (const bytes of raw) {
    t.false(contains(bytes, 'top secret'), 'plaintext on the wire')
    t.false(contains(bytes, 'classified'), 'headers on the wire') // headers are sealed too
  }
  // A keyless member writing into the group in the clear is not taken for a member.
  await plain.shout('secret', 'let me in')
  await until(() => a.stats().forgedDropped === 1 && b.stats().forgedDropped === 1, 5000, 'plaintext shout not rejected')
  await sleep(100)
  t.false(shouts(logs[0]).includes('let me in'))
  t.is(b.stats().shoutsReceived, 5)
})

test('a tampered, replayed or re-addressed ciphertext is rejected and counted; honest shouts still arrive', async t => {
  const key = generateGroupKey()
  const [a, b, mallory] = await startMesh(t, 3, i => memoryOptions({ name: `n${i}` }))
  await a.join('secret', { key })
  await b.join('secret', { key })
  await mallory.join('secret', { key }) // even a member holding the key
  const captured: Uint8Array[] = []
  mallory.libp2p.services.pubsub.addEventListener('message', (e: any) => { captured.push(decodeShout(e.detail.data).payload) })
  const log = record(b)
  await a.shout('secret', 'from a')
  await until(() => captured.length === 1 && shouts(log).length === 1, 5000, 'first shout did not arrive')
  const sealed = captured[0]
  const flip = (at: number): Uint8Array => { const c = new Uint8Array(sealed); c[at] ^= 1; return c }
  const frames = [
    flip(sealed.byteLength - 1), // the authentication tag
    flip(40), // the ciphertext
    flip(20), // the nonce
    sealed // a's ciphertext, untouched, re-sent under mallory's own name
  ].map((payload, i) => encodeFrame({ type: 'shout', shout: { seq: 1000 + i, group: 'secret', payload } }))
  // The same sealed bytes moved to another group b is in, with the same key: each group derives
  // a key of its own, so this one does not even name a key b holds for it.
  await b.join('other', { key })
  frames.push(encodeFrame({ type: 'shout', shout: { seq: 2000, group: 'other', payload: sealed } }))
  await sendRawFrames(mallory, b, frames)
  await until(() => b.stats().forgedDropped === 4 && b.stats().unreadableDropped === 1, 5000, 'forgeries not all rejected')
  await a.shout('secret', 'still here')
  await until(() => shouts(log).includes('still here'), 5000, 'honest shout lost')
  t.deepEqual(shouts(log), ['from a', 'still here'])
  t.is(b.stats().malformedDropped, 0)
})

test('key rotation: seal with the first key, read with any listed; a retired key is no longer read', async t => {
  const [k1, k2] = [generateGroupKey(), generateGroupKey()]
  const [a, b, c] = await startMesh(t, 3, i => memoryOptions({ name: `n${i}` }))
  await Promise.all([a, b, c].map(async n => { await n.join('g', { key: k1 }) }))
  const [la, lb, lc] = [a, b, c].map(record)
  // Step 1: a and c add the new key in front; b has not yet.
  await a.join('g', { key: [k2, k1] })
  await c.join('g', { key: [k2, k1] })
  await a.shout('g', 'sealed with k2')
  await b.shout('g', 'sealed with k1')
  await until(() => shouts(lc).length === 2 && shouts(la).length === 1, 5000, 'c or a missed a shout')
  await until(() => b.stats().unreadableDropped === 1, 5000, 'b read a shout sealed with a key it lacks')
  t.deepEqual(shouts(lc).sort(), ['sealed with k1', 'sealed with k2'])
  t.deepEqual(shouts(la), ['sealed with k1'])
  t.deepEqual(shouts(lb), [])
  // Step 2: b catches up; everyone reads everyone.
  await b.join('g', { key: [k2, k1] })
  await a.shout('g', 'k2 again')
  await until(() => shouts(lb).includes('k2 again'), 5000, 'b cannot read k2 after adding it')
  // Step 3: k1 retired everywhere but at c, which still seals with it (c never moved k2 first).
  await a.join('g', { key: k2 })
  await b.join('g', { key: k2 })
  await c.join('g', { key: [k1, k2] })
  await c.shout('g', 'old key')
  await until(() => a.stats().unreadableDropped === 1 && b.stats().unreadableDropped === 2, 5000, 'retired key still read')
  await sleep(100)
  t.false(shouts(la).includes('old key'))
  t.false(shouts(lb).includes('old key'))
})

test('bad keys are InvalidArgumentErrors and change nothing; sealing keeps maxMessageSize usable', async t => {
  const key = generateGroupKey()
  const [a, b] = await startMesh(t, 2, i => memoryOptions({ name: `n${i}`, maxMessageSize: 1000 }))
  await a.join('g', { key })
  for (const bad of ['abc', '', [], new Uint8Array(16), 42, ['0'.repeat(64), 'zz']] as any[]) {
    await t.throwsAsync(a.join('g', { key: bad }), { instanceOf: InvalidArgumentError })
  }
  await b.join('g', { key })
  const log = record(b)
  await a.shout('g', new Uint8Array(1000).fill(7)) // the largest payload allowed, plus the seal
  await until(() => shouts(log).length === 1, 5000, 'largest sealed shout did not arrive')
  t.is((shouts(log)[0] as Uint8Array).byteLength, 1000)
  t.is(b.stats().malformedDropped, 0)
})

test('sealing binds the group and the sender; every byte is authenticated', t => {
  const key = generateGroupKey()
  const keys = new GroupKeys()
  keys.set('g', GroupKeys.derive('g', key))
  keys.set('h', GroupKeys.derive('h', key))
  const plain = encodePayload('hello')
  const sealed = keys.seal('g', 'alice', plain)
  t.deepEqual(keys.open('g', 'alice', sealed), { plain })
  t.is((keys.open('g', 'mallory', sealed) as any).drop, 'forged')
  t.is((keys.open('h', 'alice', sealed) as any).drop, 'unreadable') // another group derives another key id
  t.is((keys.open('g', 'alice', plain) as any).drop, 'forged')
  t.is((keys.open('g', 'alice', sealed.subarray(0, 20)) as any).drop, 'forged')
  for (let i = 1; i < sealed.byteLength; i++) {
    const copy = new Uint8Array(sealed)
    copy[i] ^= 0x80
    const got = keys.open('g', 'alice', copy) as any
    t.true(got.drop === (i < 9 ? 'unreadable' : 'forged'), `byte ${i}`)
  }
  t.not(Buffer.from(keys.seal('g', 'alice', plain)).toString('hex'), Buffer.from(sealed).toString('hex'), 'nonce reused')
})

test('fuzz: whatever bytes arrive for an encrypted or typed group, receiving returns a drop or data, never throws', t => {
  const key = generateGroupKey()
  const settings = new GroupSettings()
  settings.prepare('sealed', { key, filter: { type: 'a' } })()
  settings.prepare('typed', { validate: (v: unknown) => { if (typeof v !== 'number') throw new Error('nan'); return v } })()
  const keys = new GroupKeys()
  keys.set('sealed', GroupKeys.derive('sealed', key))
  const decode = (p: Uint8Array): Payload => decodePayload(p) // throws DecodeError, as the node's does
  const bytes = fc.uint8Array({ maxLength: 300 })
  // Random bytes; random bytes behind a valid key id (so they reach the cipher); valid seals of random plaintext.
  const payloads = fc.oneof(
    bytes,
    bytes.map(b => new Uint8Array([4, ...keys.seal('sealed', 'x', new Uint8Array()).subarray(1, 9), ...b])),
    bytes.map(b => keys.seal('sealed', 'alice', b))
  )
  fc.assert(fc.property(payloads, fc.constantFrom('sealed', 'typed', 'none'), (payload, group) => {
    const got = settings.receive(group, 'alice', payload, decode)
    return 'data' in got || ['unreadable', 'forged', 'malformed', 'filtered', 'invalid'].includes(got.drop)
  }), { numRuns: 3000 })
  t.pass()
})

test('partial mesh: sealed shouts relayed by members without the key reach every key holder, readable by them alone', async t => {
  const key = generateGroupKey()
  const nodes: ShoalNode[] = []
  for (let i = 0; i < 10; i++) nodes.push(await start(t, memoryOptions({ name: `p${i}`, degree: 3, profile: 'local', bootstrap: i > 0 ? nodes[i - 1].addresses() : [] })))
  await until(() => nodes.every(n => n.peers().length === 9), 30_000, 'views did not converge')
  const holders = nodes.filter((_, i) => i % 2 === 0)
  const others = nodes.filter((_, i) => i % 2 === 1)
  await Promise.all(holders.map(async n => { await n.join('secret', { key }) }))
  await Promise.all(others.map(async n => { await n.join('secret') }))
  await sleep(1500) // gossipsub's heartbeat builds the topic mesh from connected members
  const logs = nodes.map(record)
  const sender = holders[0]
  for (let k = 0; k < 5; k++) await sender.shout('secret', `m${k}`)
  await until(() => holders.every(n => n === sender || logs[nodes.indexOf(n)].filter(e => e.type === 'shout').length === 5), 10_000, 'a key holder missed a shout')
  await until(() => others.every(n => n.stats().unreadableDropped === 5), 10_000, 'a keyless member did not get (and drop) every shout')
  for (const n of others) t.deepEqual(shouts(logs[nodes.indexOf(n)]), [])
  for (const n of holders.slice(1)) t.deepEqual(shouts(logs[nodes.indexOf(n)]).sort(), ['m0', 'm1', 'm2', 'm3', 'm4'])
})
