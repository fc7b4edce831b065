// A key/value service and a client asking it: request/reply with typed errors.
// Run: npm run build && node dist/examples/request-reply.js
import { createNode, NoHandlerError, RemoteError } from '../src/index.js'

const server = await createNode({ name: 'kv', listen: ['/memory/kv'], mdns: false })
const client = await createNode({ name: 'client', listen: ['/memory/kv-client'], mdns: false, bootstrap: server.addresses() })

const store = new Map<string, string>([['colour', 'teal']])
server.handle('kv.get', req => {
  const key = req.data // typed: string, checked by validate below
  // What a handler throws reaches the client as a RemoteError with the message.
  if (!store.has(key)) throw new Error(`no such key: ${key}`)
  return store.get(key) as string
}, {
  // Invalid input never reaches the handler: the client gets a RemoteError instead.
  validate: (v: unknown): string => { if (typeof v !== 'string') throw new Error('key must be a string'); return v }
})

await new Promise<void>(resolve => { client.on('enter', () => { resolve() }) })
console.log('colour =', await client.request(server.id, 'kv.get', 'colour'))
for (const [service, data] of [['kv.get', 'size'], ['kv.get', 42], ['kv.put', 'x']] as const) {
  try {
    await client.request(server.id, service, data, { timeout: 2000 })
  } catch (err) {
    if (err instanceof RemoteError) console.log(`${service}(${JSON.stringify(data)}) failed remotely: ${err.remoteMessage}`)
    else if (err instanceof NoHandlerError) console.log(`${service}: nobody serves it there`)
    else throw err
  }
}
await client.stop()
await server.stop()
