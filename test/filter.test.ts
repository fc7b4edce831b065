import test from 'ava'
import { InvalidArgumentError, MessageTooLargeError } from '../src/index.js'
import { memoryOptions, startMesh, until, record, sleep } from './helpers.js'

test('shouts carry per-message headers; a member joined with a filter gets only matching ones', async t => {
  const [sensor, all, alerts, fn] = await startMesh(t, 4, i => memoryOptions({ name: `n${i}` }))
  await all.join('t')
  await alerts.join('t', { filter: { type: 'alert', unit: 'C' } })
  await fn.join('t', { filter: h => Number(h.level ?? 0) >= 2 })
  const logs = [all, alerts, fn].map(record)
  await sensor.shout('t', 'plain')
  await sensor.shout('t', 'a1', { headers: { type: 'alert', unit: 'C', level: '3' } })
  await sensor.shout('t', 'a2', { headers: { type: 'alert', unit: 'F', level: '1' } })
  await sensor.shout('t', 'r1', { headers: { type: 'reading', level: '2' } })
  await until(() => logs[0].filter(e => e.type === 'shout').length === 4, 5000, 'not all shouts arrived')
  await sleep(200)
  const got = (i: number): unknown[] => logs[i].filter(e => e.type === 'shout').map(e => (e as any).data)
  t.deepEqual(got(0).sort(), ['a1', 'a2', 'plain', 'r1'])
  t.deepEqual(got(1), ['a1'])
  t.deepEqual(got(2).sort(), ['a1', 'r1'])
  const first = logs[0].find(e => e.type === 'shout' && e.data === 'a1') as any
  t.deepEqual(first.headers, { type: 'alert', unit: 'C', level: '3' })
  t.deepEqual((logs[0].find(e => e.type === 'shout' && e.data === 'plain') as any).headers, {})
  t.is(alerts.stats().filteredDropped, 3)
  // Joining again replaces the filter; leaving drops it.
  await alerts.join('t')
  await sensor.shout('t', 'after')
  await until(() => got(1).includes('after'), 5000, 'filter not cleared')
  t.pass()
})

test('bad headers and filters are InvalidArgumentErrors; headers count towards maxMessageSize', async t => {
  const [a] = await startMesh(t, 2, i => memoryOptions({ name: `n${i}`, maxMessageSize: 1000 }))
  await t.throwsAsync(a.shout('g', 'x', { headers: { n: 1 as any } }), { instanceOf: InvalidArgumentError })
  await t.throwsAsync(a.shout('g', 'x', { headers: [] as any }), { instanceOf: InvalidArgumentError })
  await t.throwsAsync(a.join('g', { filter: 'alert' as any }), { instanceOf: InvalidArgumentError })
  await t.throwsAsync(a.shout('g', 'x'.repeat(900), { headers: { big: 'y'.repeat(200) } }), { instanceOf: MessageTooLargeError })
})
