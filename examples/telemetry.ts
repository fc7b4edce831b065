// Sensor telemetry with filters: a sensor shouts readings and alerts, tagged by per-message
// headers; a dashboard takes everything, a pager joins with a filter and sees only alerts.
// Run: npm run build && node dist/examples/telemetry.js
import { createNode } from '../src/index.js'

const sensor = await createNode({ name: 'sensor', listen: ['/memory/tm-sensor'], mdns: false })
const dashboard = await createNode({ name: 'dashboard', listen: ['/memory/tm-dash'], mdns: false, bootstrap: sensor.addresses() })
const pager = await createNode({ name: 'pager', listen: ['/memory/tm-pager'], mdns: false, bootstrap: sensor.addresses() })

let dashboardCount = 0
dashboard.on('shout', () => { dashboardCount++ })
pager.on('shout', e => { console.log(`pager: ${e.headers.type} from ${e.from.name}:`, e.data) })

await dashboard.join('telemetry')
await pager.join('telemetry', { filter: { type: 'alert' } })
while (sensor.peersIn('telemetry').length < 2) await new Promise(resolve => setTimeout(resolve, 20))
for (let i = 0; i < 20; i++) {
  const celsius = 20 + i * 3
  const type = celsius > 70 ? 'alert' : 'reading'
  await sensor.shout('telemetry', { celsius }, { headers: { type, unit: 'C' } })
}
await new Promise(resolve => setTimeout(resolve, 300))
console.log(`dashboard got ${dashboardCount} messages; pager dropped ${pager.stats().filteredDropped} by its filter`)
await Promise.all([sensor, dashboard, pager].map(async n => { await n.stop() }))
