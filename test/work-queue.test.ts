import test from 'ava'
import { RemoteError, type Job } from '../src/index.js'
import { memoryOptions, tcpOptions, start, startMesh, until, sleep } from './helpers.js'
import { startChild } from './child.js'

test('each job goes to exactly one consumer, spread fairly, and enqueue resolves with its result', async t => {
  const [producer, ...workers] = await startMesh(t, 4, i => memoryOptions({ name: `n${i}` }))
  const handled = new Map<string, string[]>()
  await Promise.all(workers.map(async w => await w.consume('work', async (job: Job) => {
    handled.set(job.id, [...(handled.get(job.id) ?? []), w.name])
    t.is(job.deliveries, 1)
    t.is(job.from.id, producer.id)
    await sleep(5)
    return (job.data as number) * 10
  })))
  const results = await Promise.all(Array.from({ length: 90 }, async (_, i) => await producer.enqueue('work', i)))
  t.deepEqual(results, Array.from({ length: 90 }, (_, i) => i * 10))
  t.is(handled.size, 90)
  t.true([...handled.values()].every(by => by.length === 1))
  const perWorker = workers.map(w => [...handled.values()].filter(by => by[0] === w.name).length)
  t.log('jobs per worker', perWorker)
  for (const n of perWorker) t.true(n >= 15, `unfair spread: ${perWorker.join(', ')}`)
})

test('prefetch bounds the jobs a consumer runs at once', async t => {
  const [producer, worker] = await startMesh(t, 2, i => memoryOptions({ name: `n${i}` }))
  let running = 0
  let most = 0
  await worker.consume('work', async () => { running++; most = Math.max(most, running); await sleep(10); running-- }, { prefetch: 3 })
  await Promise.all(Array.from({ length: 30 }, async (_, i) => await producer.enqueue('work', i)))
  t.is(most, 3)
})

test('a job waits for a consumer; one whose handler throws rejects with RemoteError; a stopped consumer gets no more', async t => {
  const [producer, a, b] = await startMesh(t, 3, i => memoryOptions({ name: `n${i}` }))
  const early = producer.enqueue('later', 'x')
  await sleep(200)
  await a.consume('later', job => { if (job.data === 'bad') throw new Error('cannot'); return a.name })
  t.is(await early, 'n1')
  await t.throwsAsync(producer.enqueue('later', 'bad'), { instanceOf: RemoteError, message: /cannot/ })
  const stopA = await a.consume('other', () => 'a')
  await b.consume('other', () => 'b')
  await stopA()
  const got = await Promise.all(Array.from({ length: 10 }, async () => await producer.enqueue('other', null)))
  t.deepEqual(new Set(got), new Set(['b']))
})

test('a consumer that crashes (kill -9) mid-job: the job is redelivered to another, same id, delivery count 2', async t => {
  const producer = await start(t, tcpOptions({ name: 'producer' }))
  const child = await startChild(t, tcpOptions({ name: 'doomed', bootstrap: producer.addresses() }), 'service-node')
  await until(() => child.lines.some((l: any) => l.consuming === true) && producer.peer(child.id)?.headers['shoal.queue.jobs'] === '1', 10_000, 'worker not up')
  const result = producer.enqueue('jobs', 'hang')
  await until(() => child.lines.some((l: any) => l.job != null), 5000, 'job not delivered')
  const first = child.lines.find((l: any) => l.job != null) as { job: string, deliveries: number }
  t.is(first.deliveries, 1)
  const survivor = await start(t, tcpOptions({ name: 'survivor', bootstrap: producer.addresses() }))
  const seen: Job[] = []
  await survivor.consume('jobs', job => { seen.push(job); return 'done by survivor' })
  child.proc.kill('SIGKILL')
  t.is(await result, 'done by survivor')
  t.is(seen.length, 1)
  t.is(seen[0].id, first.job)
  t.is(seen[0].deliveries, 2)
})
