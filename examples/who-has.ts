// Request/reply and scatter-gather: "who has file X?" asked of every member of a group, then one
// file fetched from a peer that has it. Four nodes in one process; on a LAN each would be an app
// on its own machine, found by mDNS.
// Run: npm run build && node dist/examples/who-has.js [file]
import { createNode, type ShoalNode } from '../src/index.js'

const wanted = process.argv[2] ?? 'song.mp3'
const shelves: Record<string, Record<string, string>> = {
  ana: { 'song.mp3': 'la la la', 'notes.txt': 'buy milk' },
  ben: { 'notes.txt': 'buy milk' },
  cy: { 'song.mp3': 'la la la' }
}

const asker = await createNode({ name: 'asker', listen: ['/memory/asker'], mdns: false })
const peers: ShoalNode[] = []
for (const [name, files] of Object.entries(shelves)) {
  const node = await createNode({ name, listen: [`/memory/${name}`], mdns: false, groups: ['files'], bootstrap: asker.addresses() })
  node.handle('has', ({ data }) => Object.hasOwn(files, data as string))
  node.handle('get', ({ data }) => {
    if (!Object.hasOwn(files, data as string)) throw new Error(`no ${String(data)} here`)
    return files[data as string]
  })
  peers.push(node)
}
while (asker.peersIn('files').length < peers.length) await new Promise(resolve => setTimeout(resolve, 20))

const { replies } = await asker.gather('files', 'has', wanted, { timeout: 2000 })
const holders = replies.filter(r => r.data === true).map(r => r.peer).sort((a, b) => a.name.localeCompare(b.name))
console.log(`who has ${wanted}: ${holders.map(p => p.name).join(', ') || 'nobody'}`)
if (holders.length > 0) {
  const content = await asker.request(holders[0].id, 'get', wanted)
  console.log(`fetched ${wanted} from ${holders[0].name}: ${String(content)}`)
}
try {
  await asker.request(peers[1].id, 'get', 'song.mp3')
} catch (err: any) {
  console.log(`asking ben for song.mp3: ${err.name}: ${err.remoteMessage as string}`)
}

await Promise.all([asker, ...peers].map(async n => { await n.stop() }))
