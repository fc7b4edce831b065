import test from 'ava'
import { InvalidArgumentError, RemoteError } from '../src/index.js'
import { memoryOptions, startMesh } from './helpers.js'

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
