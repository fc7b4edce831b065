// npm run bench:queue: a work queue through consumer crashes. One producer enqueues --jobs jobs
// (256 in flight) to --workers consumer processes (prefetch 8 each); --crashes times along the
// way one consumer is killed (kill -9) and a fresh one started. Each consumer prints the job ids
// it handles before acknowledging: that is the sink's record, read to its end after the run.
// Checks: every enqueue resolved with its own job's result, no job missing from the record,
// and how many were handled more than once before dedupe (by job id).
//
//   node dist/sim/bench/work-queue.js [--jobs 10000] [--workers 4] [--crashes 10] [--json out/bench-queue.json]
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { createNode } from '../../src/index.js'

const WORKER = fileURLToPath(new URL('./queue-worker.js', import.meta.url))
const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '10000' },
    workers: { type: 'string', default: '4' },
    crashes: { type: 'string', default: '10' },
    json: { type: 'string', default: 'out/bench-queue.json' }
  }
})
const jobCount = Number(values.jobs)
const crashes = Number(values.crashes)

const producer = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, name: 'producer' })
const handled = new Map<string, number>() // job id -> times a consumer handled it
const outputs: Array<Promise<void>> = []
const startWorker = async (): Promise<ChildProcess> => {
  const proc = spawn(process.execPath, [WORKER, JSON.stringify({ bootstrap: producer.addresses() })], { stdio: ['ignore', 'pipe', 'inherit'] })
  return await new Promise(resolve => {
    const lines = createInterface({ input: proc.stdout! })
    outputs.push(new Promise(resolve => { lines.once('close', resolve) }))
    lines.on('line', line => {
      if (line === 'ready') { resolve(proc); return }
      const id = line.split(' ')[0]
      handled.set(id, (handled.get(id) ?? 0) + 1)
    })
  })
}
const workers = await Promise.all(Array.from({ length: Number(values.workers) }, startWorker))
const consumers = (): number => producer.peers().filter(p => p.headers['shoal.queue.jobs'] != null).length
while (consumers() < workers.length) await new Promise(resolve => setTimeout(resolve, 20))

let acked = 0
let failed = 0
let wrong = 0
let killed = 0
const todo = Array.from({ length: jobCount }, (_, i) => i)
let replacing = Promise.resolve()
const t0 = performance.now()
await Promise.all(Array.from({ length: 256 }, async () => {
  for (let i = todo.shift(); i != null; i = todo.shift()) {
    try {
      if (await producer.enqueue('jobs', i, { timeout: 10_000 }) !== i) wrong++
      acked++
    } catch (err) {
      failed++
      console.error(`job ${i} failed: ${String(err)}`)
    }
    if (killed < crashes && acked >= (killed + 1) * jobCount / (crashes + 1)) {
      killed++
      workers.splice(Math.floor(Math.random() * workers.length), 1)[0].kill('SIGKILL')
      replacing = replacing.then(async () => { workers.push(await startWorker()) })
    }
  }
}))
const seconds = (performance.now() - t0) / 1000
await replacing
for (const w of workers) w.kill('SIGKILL')
await Promise.all(outputs)
await producer.stop()

const result = {
  jobs: jobCount,
  crashes: killed,
  acknowledged: acked,
  failed,
  wrongResult: wrong,
  missingFromSink: jobCount - handled.size,
  handledMoreThanOnce: [...handled.values()].filter(n => n > 1).length,
  distinctAfterDedupe: handled.size,
  jobsPerSecond: Math.round(jobCount / seconds)
}
console.log(`work queue: ${jobCount} jobs, ${killed} consumer crashes (kill -9), ${Number(values.workers)} consumers at a time (prefetch 8)`)
console.log(`  acknowledged ${acked}, failed ${failed}, wrong result ${wrong}, missing from the sink ${result.missingFromSink}`)
console.log(`  handled more than once before dedupe: ${result.handledMoreThanOnce}; distinct after dedupe: ${handled.size}; ${result.jobsPerSecond} jobs/s`)
await mkdir(dirname(values.json), { recursive: true })
await writeFile(values.json, JSON.stringify(result, null, 2))
console.log(`(JSON: ${values.json})`)
