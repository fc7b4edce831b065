// What one new connection between two Shoal nodes costs in CPU (both ends, one process):
// Noise handshake, identify, gossipsub and Shoal's streams and hello. A full mesh of N nodes
// pays this N(N-1)/2 times, and a newcomer pays half of it N-1 times.
//
//   node dist/sim/bench/connection-cost.js [--connections 200]
import { parseArgs } from 'node:util'
import { multiaddr } from '@multiformats/multiaddr'
import { createNode } from '../../src/index.js'

const { values } = parseArgs({ options: { connections: { type: 'string', default: '200' } } })
const n = Number(values.connections)
const options = { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false }
const a = await createNode(options)
const b = await createNode(options)
const target = multiaddr(b.addresses()[0])
const cpu0 = process.cpuUsage()
const t0 = performance.now()
for (let i = 0; i < n; i++) {
  const conn = await a.libp2p.dial(target)
  await conn.close()
}
const cpu = process.cpuUsage(cpu0)
console.log(JSON.stringify({
  connections: n,
  wallMsPerConnection: +((performance.now() - t0) / n).toFixed(2),
  cpuMsPerConnection: +((cpu.user + cpu.system) / 1000 / n).toFixed(2)
}))
await Promise.all([a.stop(), b.stop()])
