// A work-queue consumer for the patterns benchmark: consumes 'jobs' (prefetch 8) and prints each
// job id it handles, as the sink's record, before acknowledging. argv[2]: JSON { bootstrap }.
import { createNode } from '../../src/index.js'

const { bootstrap } = JSON.parse(process.argv[2] ?? '{}') as { bootstrap: string[] }
const node = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, bootstrap, name: `worker-${process.pid}` })
await node.consume('jobs', async job => {
  process.stdout.write(`${job.id} ${job.deliveries}\n`)
  await new Promise(resolve => setImmediate(resolve)) // a little work
  return job.data
}, { prefetch: 8 })
process.stdout.write('ready\n')
