// Pipeline: a ventilator hands out jobs, three workers compete for them, a sink collects the
// results (deduplicated by job id: delivery is at-least-once). One worker dies mid-run; its
// unacknowledged jobs go to the others.
// Run: npm run build && node dist/examples/work-queue.js
import { createNode } from '../src/index.js'

const opts = (name: string, bootstrap: string[] = []): any => ({ name, listen: [`/memory/wq-${name}`], mdns: false, bootstrap })
const ventilator = await createNode(opts('ventilator'))
const sink = await createNode(opts('sink', ventilator.addresses()))
const workers = await Promise.all(['w1', 'w2', 'w3'].map(async n => await createNode(opts(n, ventilator.addresses()))))

const results = new Map<string, number>() // job id -> result: a second copy of a job changes nothing
sink.handle('result', req => { const { id, value } = req.data as { id: string, value: number }; results.set(id, value); return null })
while (ventilator.peers().length < 4 || workers.some(w => w.peer(sink.id) == null)) await new Promise(resolve => setTimeout(resolve, 50))

const handledBy = new Map<string, number>()
for (const w of workers) {
  await w.consume('squares', async job => {
    if (w.name === 'w3' && handledBy.get('w3') === 3) { await w.libp2p.stop(); await new Promise(() => {}) } // dies holding its 4th job
    handledBy.set(w.name, (handledBy.get(w.name) ?? 0) + 1)
    const n = job.data as number
    await new Promise(resolve => setTimeout(resolve, 5))
    await w.request(sink.id, 'result', { id: job.id, value: n * n })
    if (job.deliveries > 1) console.log(`job ${n} redelivered to ${w.name} (delivery ${job.deliveries})`)
  }, { prefetch: 2 })
}

await Promise.all(Array.from({ length: 30 }, async (_, n) => await ventilator.enqueue('squares', n)))
const sum = [...results.values()].reduce((a, b) => a + b, 0)
console.log(`30 jobs done, ${results.size} distinct results at the sink, sum of squares ${sum} (expected ${Array.from({ length: 30 }, (_, n) => n * n).reduce((a, b) => a + b, 0)})`)
console.log('jobs per worker:', Object.fromEntries([...handledBy].sort()))
await Promise.all([ventilator, sink, ...workers].map(async n => { await n.stop() }))
