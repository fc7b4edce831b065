// Two nodes in one process: they find each other, join a group, shout and whisper, then leave.
// Run: npm run build && node dist/examples/quickstart.js
import { createNode } from '../src/index.js'

// In-process transport and no mDNS keep the example self-contained; on a LAN you would leave
// both options out and nodes on the same network would find each other by themselves.
const alice = await createNode({ name: 'alice', listen: ['/memory/alice'], mdns: false, groups: ['lobby'] })
const bob = await createNode({ name: 'bob', listen: ['/memory/bob'], mdns: false, bootstrap: alice.addresses(), headers: { role: 'sensor' } })

alice.on('enter', e => { console.log(`alice: ${e.peer.name} entered (role=${e.peer.headers.role})`) })
alice.on('join', e => { console.log(`alice: ${e.peer.name} joined ${e.group}`) })
alice.on('whisper', e => { console.log(`alice: ${e.from.name} whispers`, e.data) })
alice.on('exit', e => { console.log(`alice: ${e.peer.name} exited (${e.reason})`) })
bob.on('shout', e => { console.log(`bob: [${e.group}] ${e.from.name} says`, e.data) })

await new Promise<void>(resolve => { bob.on('enter', () => { resolve() }) })
await bob.join('lobby') // resolves once alice has seen the join
await alice.shout('lobby', { text: 'hello, lobby' })
await bob.whisper(alice.id, 'just between us')
await new Promise(resolve => setTimeout(resolve, 100))

await bob.stop()
await new Promise(resolve => setTimeout(resolve, 100))
await alice.stop()
