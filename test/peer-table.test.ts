import test from 'ava'
import { PeerTable } from '../src/presence/peer-table.js'
import { SeenCache } from '../src/util/seen-cache.js'
import type { PeerState } from '../src/codec/frame.js'

const s = (ver: number, groups: string[], extra: Partial<PeerState> = {}): PeerState =>
  ({ name: 'p', headers: {}, groups, ver, addrs: [], ...extra })

test('the first state of a peer enters it with its groups', t => {
  const table = new PeerTable()
  t.deepEqual(table.apply('a', s(1, ['x', 'y'])), { entered: true, joined: ['x', 'y'], left: [], updated: false })
  t.deepEqual(table.membersOf('x'), ['a'])
  t.is(table.info('a')?.name, 'p')
})

test('newer states produce join/leave diffs; stale and repeated states change nothing', t => {
  const table = new PeerTable()
  table.apply('a', s(1, ['x']))
  t.deepEqual(table.apply('a', s(3, ['y'])), { entered: false, joined: ['y'], left: ['x'], updated: false })
  t.is(table.apply('a', s(2, ['x'])), null)
  t.is(table.apply('a', s(3, ['z'])), null)
  t.deepEqual(table.membersOf('y'), ['a'])
  t.deepEqual(table.membersOf('x'), [])
})

test('a removed peer enters again when it comes back, whatever its version', t => {
  const table = new PeerTable()
  table.apply('a', s(5, ['x']))
  t.is(table.remove('a')?.id, 'a')
  t.is(table.remove('a'), undefined)
  t.true(table.apply('a', s(1, ['x']))?.entered)
})

test('a peer that left or was lost is not brought back by the version it had, only by a newer one', t => {
  const table = new PeerTable()
  table.apply('a', s(5, ['x']), undefined, 1000)
  table.remove('a', 1000 + 30_000)
  t.is(table.goneVer('a', 2000), 5)
  t.false(table.isNewer('a', 5, 2000))
  t.is(table.apply('a', s(5, ['x']), undefined, 2000), null) // a copy of its last state, still travelling
  t.true(table.apply('a', s(6, ['x']), undefined, 2000)?.entered) // a refutation
  t.is(table.goneVer('a', 2000), undefined)
})

test('a tombstone expires, and a removal without one forgets at once', t => {
  const table = new PeerTable()
  table.apply('a', s(5, []), undefined, 0)
  table.remove('a', 30_000)
  t.true(table.apply('a', s(5, []), undefined, 30_001)?.entered)
  table.remove('a')
  t.true(table.isNewer('a', 1))
})

test('peer info is a snapshot that callers cannot use to corrupt the table', t => {
  const table = new PeerTable()
  table.apply('a', s(1, ['x'], { headers: { k: 'v' } }))
  const info = table.info('a')!
  info.groups.push('evil')
  info.headers.k = 'changed'
  t.deepEqual(table.info('a')?.groups, ['x'])
  t.is(table.info('a')?.headers.k, 'v')
})

test('the seen cache drops duplicates within its window and forgets after it', t => {
  const cache = new SeenCache(1000, 10)
  t.true(cache.add('m1', 0))
  t.false(cache.add('m1', 500))
  t.true(cache.add('m1', 1500))
})

test('the seen cache stays within its size bound', t => {
  const cache = new SeenCache(60_000, 100)
  for (let i = 0; i < 1000; i++) cache.add(`k${i}`, 0)
  t.is(cache.size, 100)
  t.false(cache.add('k999', 1))
  t.true(cache.add('k0', 1))
})
