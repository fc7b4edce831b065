// Group chat, end-to-end encrypted and typed: only members holding the room's key can read it,
// and a message that is not a chat line never reaches the screen.
//
// Two terminals on one machine (they find each other with mDNS):
//   node dist/examples/chat.js --new-key                      prints a fresh room key
//   node dist/examples/chat.js --name alice --key <that key>  terminal 1
//   node dist/examples/chat.js --name bob --key <that key>    terminal 2: type a line to send it
// Without mDNS: --no-mdns --listen /ip4/127.0.0.1/tcp/4001 on one side, --bootstrap <its address>
// on the other. A scripted run of three members in one process: node dist/examples/chat.js --demo
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { createNode, generateGroupKey, type GroupKey, type NodeOptions, type ShoalNode } from '../src/index.js'

const ROOM = 'chat'

interface ChatLine { text: string }

/** What a chat message must be; the room is joined with it, so nothing else is delivered. */
function chatLine (value: unknown): ChatLine {
  const text = (value as { text?: unknown } | null)?.text
  if (typeof text !== 'string' || text.length === 0 || text.length > 2000) throw new Error('a chat line is { text } with 1 to 2000 characters')
  return { text }
}

async function enterRoom (node: ShoalNode, key: GroupKey[] | undefined, print: (line: string) => void): Promise<void> {
  await node.join(ROOM, { key, validate: chatLine })
  void (async () => {
    for await (const { from, data } of node.shouts<ChatLine>(ROOM)) print(`${from.name}: ${data.text}`)
  })()
}

async function interactive (options: NodeOptions, key: GroupKey[] | undefined): Promise<void> {
  const node = await createNode(options)
  const print = (line: string): void => { console.log(line) }
  await enterRoom(node, key, print)
  print(`* ${node.name} in room '${ROOM}', ${key != null ? 'end-to-end encrypted' : 'NOT encrypted (no --key): any mesh member can read it'}`)
  for (const a of node.addresses()) print(`* listening on ${a}`)
  node.on('enter', e => { print(`* ${e.peer.name} is here`) })
  node.on('exit', e => { print(`* ${e.peer.name} ${e.reason}`) })
  const rl = createInterface({ input: process.stdin, terminal: false })
  for await (const line of rl) {
    if (line.trim() === '/quit') break
    if (line.trim() !== '') await node.shout(ROOM, { text: line }).catch((err: Error) => { print(`! ${err.message}`) })
  }
  rl.close()
  await node.stop()
}

async function demo (): Promise<void> {
  const key = generateGroupKey()
  const make = async (name: string, seed?: ShoalNode): Promise<ShoalNode> =>
    await createNode({ name, listen: [`/memory/chat-${name}`], mdns: false, bootstrap: seed?.addresses() ?? [] })
  const alice = await make('alice')
  const [bob, eve] = await Promise.all([make('bob', alice), make('eve', alice)])
  while (alice.peers().length < 2 || bob.peers().length < 2) await new Promise(resolve => setTimeout(resolve, 20))
  await enterRoom(alice, [key], line => { console.log(`[alice] ${line}`) })
  await enterRoom(bob, [key], line => { console.log(`[bob] ${line}`) })
  await enterRoom(eve, undefined, line => { console.log(`[eve] ${line}`) }) // in the room, without the key
  await alice.shout(ROOM, { text: 'hi bob' })
  await bob.shout(ROOM, { text: 'hi alice, only we can read this' })
  await eve.shout(ROOM, { text: 'eve here, in the clear' }) // members drop it: not sealed with the key
  await bob.shout(ROOM, 'not a chat line' as any).catch((err: Error) => { console.log(`bob's app was refused: ${err.message}`) })
  // Rotation: alice reads both keys first, then bob seals with the new one.
  const next = generateGroupKey()
  await alice.join(ROOM, { key: [key, next], validate: chatLine })
  await bob.join(ROOM, { key: [next, key], validate: chatLine })
  await bob.shout(ROOM, { text: 'sealed with the new key' })
  await new Promise(resolve => setTimeout(resolve, 300))
  console.log(`eve could not read ${eve.stats().unreadableDropped} messages; alice dropped ${alice.stats().forgedDropped} unsealed or forged`)
  await Promise.all([alice, bob, eve].map(async n => { await n.stop() }))
}

const { values } = parseArgs({
  options: {
    name: { type: 'string' },
    key: { type: 'string', multiple: true },
    listen: { type: 'string', multiple: true },
    bootstrap: { type: 'string', multiple: true },
    'no-mdns': { type: 'boolean' },
    'new-key': { type: 'boolean' },
    demo: { type: 'boolean' }
  }
})
if (values['new-key'] === true) console.log(generateGroupKey())
else if (values.demo === true) await demo()
else {
  await interactive({
    name: values.name,
    listen: values.listen,
    bootstrap: values.bootstrap,
    mdns: values['no-mdns'] !== true
  }, values.key)
}
