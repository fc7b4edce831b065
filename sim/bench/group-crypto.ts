// npm run bench:groups: what end-to-end encryption of a group costs. Two nodes on TCP loopback
// shout to a plain group and to an encrypted one (both members hold the key) with the same
// payloads, alternately in the same run, so the plain group is the baseline.
//
//   node dist/sim/bench/group-crypto.js [--sizes 64,1024,65536] [--count 1000] [--burst 2000]
//                                      [--json out/bench-group-crypto.json]
//
// Latency: one shout at a time, from `shout()` to the receiver's event (both nodes in this
// process, so one clock); plain and sealed alternate shout by shout. Throughput: `--burst`
// shouts sent back to back until the last arrives, plain and sealed alternating, twice each.
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { parseArgs } from 'node:util'
import { createNode, generateGroupKey, type ShoalNode } from '../../src/index.js'
import { distribution, ms, type Distribution } from '../stats.js'

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '64,1024,65536' },
    count: { type: 'string', default: '1000' },
    burst: { type: 'string', default: '2000' },
    json: { type: 'string', default: 'out/bench-group-crypto.json' }
  }
})
const sizes = values.sizes.split(',').map(Number)
const count = Number(values.count)
const burst = Number(values.burst)

const key = generateGroupKey()
const options = { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false as const }
const a = await createNode({ ...options, name: 'sender' })
const b = await createNode({ ...options, name: 'receiver', bootstrap: a.addresses() })
for (const n of [a, b]) {
  await n.join('plain')
  await n.join('sealed', { key })
}
while (a.peersIn('sealed').length < 1 || b.peersIn('plain').length < 1) await new Promise(resolve => setTimeout(resolve, 20))

// Each arrival resolves whoever waits for that group's next shout (or counts towards a burst).
const waiting = new Map<string, () => void>()
b.on('shout', e => { waiting.get(e.group)?.() })
// A shout that never arrives is reported, not waited for forever.
const arrival = async (group: string, n: number): Promise<void> => {
  let left = n
  let timer: ReturnType<typeof setTimeout> | undefined
  await new Promise<void>((resolve, reject) => {
    timer = setTimeout(() => { reject(new Error(`${group}: ${left} of ${n} shouts did not arrive within 30 s`)) }, 30_000)
    waiting.set(group, () => { if (--left === 0) resolve() })
  }).finally(() => { clearTimeout(timer) })
}

async function once (node: ShoalNode, group: string, payload: Uint8Array): Promise<number> {
  const got = arrival(group, 1)
  const t0 = process.hrtime.bigint()
  await node.shout(group, payload)
  await got
  return Number(process.hrtime.bigint() - t0) / 1e6
}

async function flood (group: string, payload: Uint8Array): Promise<number> {
  const got = arrival(group, burst)
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < burst; i++) await a.shout(group, payload)
  await got
  return burst / (Number(process.hrtime.bigint() - t0) / 1e9)
}

interface Row { size: number, plain: Distribution, sealed: Distribution, plainPerSecond: number, sealedPerSecond: number }
const rows: Row[] = []
for (const size of sizes) {
  const payload = new Uint8Array(size).fill(7)
  for (let i = 0; i < 100; i++) { await once(a, 'plain', payload); await once(a, 'sealed', payload) } // warm up
  const lat: Record<string, number[]> = { plain: [], sealed: [] }
  for (let i = 0; i < count; i++) for (const g of ['plain', 'sealed']) lat[g].push(await once(a, g, payload))
  const rate: Record<string, number[]> = { plain: [], sealed: [] }
  for (let round = 0; round < 2; round++) for (const g of ['plain', 'sealed']) rate[g].push(await flood(g, payload))
  const mean = (xs: number[]): number => xs.reduce((x, y) => x + y, 0) / xs.length
  const row = { size, plain: distribution(lat.plain), sealed: distribution(lat.sealed), plainPerSecond: mean(rate.plain), sealedPerSecond: mean(rate.sealed) }
  rows.push(row)
  console.log(`${size} B  latency p50/p99 plain ${ms(row.plain.p50)}/${ms(row.plain.p99)} ms, sealed ${ms(row.sealed.p50)}/${ms(row.sealed.p99)} ms (p50 x${(row.sealed.p50 / row.plain.p50).toFixed(2)})` +
    `  throughput plain ${row.plainPerSecond.toFixed(0)}/s, sealed ${row.sealedPerSecond.toFixed(0)}/s (x${(row.sealedPerSecond / row.plainPerSecond).toFixed(2)})`)
}
await Promise.all([a.stop(), b.stop()])
await mkdir(dirname(values.json), { recursive: true })
await writeFile(values.json, JSON.stringify({ date: new Date().toISOString(), count, burst, rows }, null, 2))
console.log(`wrote ${values.json}`)
