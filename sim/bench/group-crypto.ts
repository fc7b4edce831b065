// npm run bench:groups: what end-to-end encryption of a group costs. Two nodes on TCP loopback
// shout to a plain group and to an encrypted one (both members hold the key) with the same
// payloads, alternately in the same run, so the plain group is the baseline.
//
//   node dist/sim/bench/group-crypto.js [--sizes 64,1024,65536] [--count 1000] [--burst 2000]
//                                      [--burst-bytes 4194304] [--json out/bench-group-crypto.json]
//
// Latency: one shout at a time, from `shout()` to the receiver's event (both nodes in this
// process, so one clock); plain and sealed alternate shout by shout. Throughput: `--burst`
// shouts (at most `--burst-bytes` of payload, so a burst stays under gossipsub's 8 MiB outbound
// cap, past which it resets the stream and shouts queued on it are lost) sent back to back
// until the last arrives, plain and sealed alternating, twice each. Shouts that never arrive
// (nothing for 10 s) are counted as lost and reported, not waited for.
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
    'burst-bytes': { type: 'string', default: String(4 * 1024 * 1024) },
    json: { type: 'string', default: 'out/bench-group-crypto.json' }
  }
})
const sizes = values.sizes.split(',').map(Number)
const count = Number(values.count)
const burstOf = (size: number): number => Math.max(1, Math.min(Number(values.burst), Math.floor(Number(values['burst-bytes']) / size)))

const key = generateGroupKey()
// Throughput bursts from one node: shout() would pace them to the default maxInboundShouts.
const options = { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false as const, maxInboundShouts: 1e6 }
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
// Resolves with how many of `n` shouts never arrived: none for 10 s means they will not.
const arrival = async (group: string, n: number): Promise<number> => {
  let left = n
  let timer: ReturnType<typeof setTimeout> | undefined
  return await new Promise<number>(resolve => {
    const idle = (): void => { clearTimeout(timer); timer = setTimeout(() => { resolve(left) }, 10_000) }
    idle()
    waiting.set(group, () => { idle(); if (--left === 0) resolve(0) })
  }).finally(() => { clearTimeout(timer) })
}

async function once (node: ShoalNode, group: string, payload: Uint8Array): Promise<number> {
  const got = arrival(group, 1)
  const t0 = process.hrtime.bigint()
  await node.shout(group, payload)
  if (await got > 0) return NaN // lost: counted in the row
  return Number(process.hrtime.bigint() - t0) / 1e6
}

/** Shouts delivered per second in a burst, and how many of the burst were lost. */
async function flood (group: string, payload: Uint8Array): Promise<{ rate: number, lost: number }> {
  const burst = burstOf(payload.byteLength)
  const got = arrival(group, burst)
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < burst; i++) await a.shout(group, payload)
  const missing = await got
  return { rate: (burst - missing) / (Number(process.hrtime.bigint() - t0) / 1e9), lost: missing }
}

interface Row { size: number, burst: number, plain: Distribution, sealed: Distribution, plainPerSecond: number, sealedPerSecond: number, plainLost: number, sealedLost: number }
const rows: Row[] = []
for (const size of sizes) {
  const payload = new Uint8Array(size).fill(7)
  for (let i = 0; i < 100; i++) { await once(a, 'plain', payload); await once(a, 'sealed', payload) } // warm up
  const lat: Record<string, number[]> = { plain: [], sealed: [] }
  for (let i = 0; i < count; i++) for (const g of ['plain', 'sealed']) lat[g].push(await once(a, g, payload))
  const runs: Record<string, Array<{ rate: number, lost: number }>> = { plain: [], sealed: [] }
  for (let round = 0; round < 2; round++) for (const g of ['plain', 'sealed']) runs[g].push(await flood(g, payload))
  const mean = (xs: number[]): number => xs.reduce((x, y) => x + y, 0) / xs.length
  const sum = (xs: number[]): number => xs.reduce((x, y) => x + y, 0)
  const row: Row = {
    size,
    burst: burstOf(size),
    plain: distribution(lat.plain.filter(Number.isFinite)),
    sealed: distribution(lat.sealed.filter(Number.isFinite)),
    plainPerSecond: mean(runs.plain.map(r => r.rate)),
    sealedPerSecond: mean(runs.sealed.map(r => r.rate)),
    plainLost: sum(runs.plain.map(r => r.lost)) + lat.plain.filter(x => !Number.isFinite(x)).length,
    sealedLost: sum(runs.sealed.map(r => r.lost)) + lat.sealed.filter(x => !Number.isFinite(x)).length
  }
  rows.push(row)
  console.log(`${size} B  latency p50/p99 plain ${ms(row.plain.p50)}/${ms(row.plain.p99)} ms, sealed ${ms(row.sealed.p50)}/${ms(row.sealed.p99)} ms (p50 x${(row.sealed.p50 / row.plain.p50).toFixed(2)})` +
    `  throughput (bursts of ${row.burst}) plain ${row.plainPerSecond.toFixed(0)}/s, sealed ${row.sealedPerSecond.toFixed(0)}/s (x${(row.sealedPerSecond / row.plainPerSecond).toFixed(2)})` +
    (row.plainLost + row.sealedLost > 0 ? `  LOST plain ${row.plainLost}, sealed ${row.sealedLost}` : ''))
}
await Promise.all([a.stop(), b.stop()])
await mkdir(dirname(values.json), { recursive: true })
await writeFile(values.json, JSON.stringify({ date: new Date().toISOString(), count, rows }, null, 2))
console.log(`wrote ${values.json}`)
if (rows.some(r => r.plainLost + r.sealedLost > 0)) process.exitCode = 1
