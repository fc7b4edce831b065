import test from 'ava'
import { InvalidArgumentError, InvalidMessageError, RemoteError, type Payload } from '../src/index.js'
import { memoryOptions, startMesh, record, until, sleep } from './helpers.js'

test('a service validator refuses bad input before the handler sees it; the handler gets the typed value', async t => {
  const [a, b] = await startMesh(t, 2, i => memoryOptions({ name: `n${i}` }))
  const seen: number[] = []
  b.handle('double', req => { seen.push(req.data); return req.data * 2 }, {
    validate: (v: unknown): number => { if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error('expected a number'); return v }
  })
  const err = await t.throwsAsync(a.request(b.id, 'double', 'seven'), { instanceOf: RemoteError })
  t.is((err as RemoteError).remoteMessage, 'invalid request: expected a number')
  t.is(await a.request(b.id, 'double', 7), 14)
  t.deepEqual(seen, [7])
  t.throws(() => b.handle('x', () => 1, { validate: 'no' as any }), { instanceOf: InvalidArgumentError })
})

interface Reading { celsius: number }
// What a schema library's parse does: returns the typed value or throws with a clear message.
const reading = (v: unknown): Reading => {
  if (typeof v !== 'object' || v === null || typeof (v as any).celsius !== 'number') throw new Error('expected { celsius: number }')
  return { celsius: (v as any).celsius }
}

test('a group joined with validate delivers only valid, typed shouts; the rest are dropped and counted', async t => {
  const [sensor, dash, other] = await startMesh(t, 3, i => memoryOptions({ name: `n${i}` }))
  await dash.join('t', { validate: reading })
  await other.join('t') // no validator: gets everything
  const [logDash, logOther] = [dash, other].map(record)
  const typed: Reading[] = []
  const iterating = (async () => {
    for await (const s of dash.shouts<Reading>('t')) { typed.push(s.data); if (typed.length === 2) break }
  })()
  const sent: Payload[] = [{ celsius: 20 }, 'twenty', { celsius: '21' }, { celsius: 22, extra: true }, null]
  for (const data of sent) await sensor.shout('t', data)
  await until(() => logOther.filter(e => e.type === 'shout').length === 5, 5000, 'other missed shouts')
  await until(() => dash.stats().invalidDropped === 3, 5000, 'invalid shouts not counted')
  await sleep(100)
  t.deepEqual(logDash.filter(e => e.type === 'shout').map(e => (e as any).data), [{ celsius: 20 }, { celsius: 22 }])
  await iterating
  t.deepEqual(typed, [{ celsius: 20 }, { celsius: 22 }]) // what validate returned, not what was sent
  t.is(other.stats().invalidDropped, 0)
  // A member's own invalid shout is refused to it at once, as its peers would refuse it.
  const err = await t.throwsAsync(dash.shout('t', 'hot'), { instanceOf: InvalidMessageError })
  t.is(err?.message, 'invalid shout: expected { celsius: number }')
  await t.throwsAsync(dash.join('t', { validate: 5 as any }), { instanceOf: InvalidArgumentError })
})

test('a consumer validator rejects an invalid job to its producer with a clear error; the handler never sees it', async t => {
  const [producer, worker] = await startMesh(t, 2, i => memoryOptions({ name: `n${i}` }))
  const seen: Reading[] = []
  await worker.consume('convert', async job => { seen.push(job.data); return job.data.celsius * 9 / 5 + 32 }, { validate: reading })
  const err = await t.throwsAsync(producer.enqueue('convert', 'hot', { maxDeliveries: 3 }), { instanceOf: RemoteError })
  t.is((err as RemoteError).remoteMessage, 'invalid job: expected { celsius: number }')
  t.is(await producer.enqueue('convert', { celsius: 100 }), 212)
  t.deepEqual(seen, [{ celsius: 100 }])
  await t.throwsAsync(worker.consume('other', () => 1, { validate: 'no' as any }), { instanceOf: InvalidArgumentError })
})
