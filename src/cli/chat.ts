import { createInterface } from 'node:readline'
import { createNode } from '../index.js'
import type { ShoalNode } from '../node.js'
import { eventLine, short } from './format.js'
import { nodeOptions, parse } from './args.js'

export const CHAT_USAGE = `usage: shoal chat [--name N] [--group G]... [--key K]... [--header k=v]... [--bootstrap ADDR]... [--listen ADDR]... [--no-mdns] [--config FILE]
  Type a line to shout it to the first group; with --key (64 hex characters, shared out of band)
  that group is end-to-end encrypted (several: rotation, the first seals). Commands:
  /w <name|id> <text>   whisper      /peers    list peers     /groups   list groups and members
  /join <g>  /leave <g>              /quit     leave (as does end of input or Ctrl-C)`

export async function chat (argv: string[], out: (line: string) => void): Promise<void> {
  const flags = parse(argv, { key: { type: 'string', multiple: true } })
  if (flags.help === true) { out(CHAT_USAGE); return }
  const options = nodeOptions(flags)
  options.groups ??= ['lobby']
  const node = await createNode(options)
  const group = node.groups()[0] ?? 'lobby'
  if (flags.key != null) {
    try {
      await node.join(group, { key: flags.key })
    } catch (err) {
      await node.stop()
      throw err
    }
  }
  out(`* ${node.name} (${short(node.id)}) in ${node.groups().join(', ') || 'no group'}${flags.key != null ? ` (${group} end-to-end encrypted)` : ''}`)
  for (const a of node.addresses()) out(`* listening on ${a}`)
  for (const type of ['enter', 'exit', 'join', 'leave', 'shout', 'whisper'] as const) node.on(type, e => { out(eventLine(e)) })

  const rl = createInterface({ input: process.stdin, terminal: false })
  let stopping: Promise<void> | undefined
  const quit = async (): Promise<void> => {
    stopping ??= (async () => { rl.close(); await node.stop() })()
    await stopping
  }
  process.once('SIGINT', () => { void quit() })
  process.once('SIGTERM', () => { void quit() })
  for await (const line of rl) {
    const msg = await command(node, group, line.trim(), out).catch((err: Error) => `! ${err.message}`)
    if (msg === 'quit') break
    if (msg != null) out(msg)
  }
  await quit()
}

/** Runs one typed line; returns what to print, 'quit', or nothing. */
async function command (node: ShoalNode, group: string, line: string, out: (l: string) => void): Promise<string | undefined> {
  if (line === '') return
  if (!line.startsWith('/')) { await node.shout(group, line); return }
  const [cmd, arg = '', ...rest] = line.split(/\s+/)
  switch (cmd) {
    case '/quit': return 'quit'
    case '/peers': {
      const peers = node.peers()
      if (peers.length === 0) return '* no peers yet'
      for (const p of peers) out(`  ${p.name} ${short(p.id)} groups=${p.groups.join(',')}`)
      return
    }
    case '/groups':
      for (const g of node.groups()) out(`  ${g}: ${[node.name, ...node.peersIn(g).map(p => p.name)].join(', ')}`)
      return
    case '/join': await node.join(arg); return `* joined ${arg}`
    case '/leave': await node.leave(arg); return `* left ${arg}`
    case '/w': {
      const peer = resolvePeer(node, arg)
      await node.whisper(peer, line.slice(line.indexOf(arg) + arg.length).trim() || rest.join(' '))
      return
    }
    default: return `! unknown command ${cmd} (try /peers, /groups, /w, /join, /leave, /quit)`
  }
}

function resolvePeer (node: ShoalNode, nameOrId: string): string {
  if (nameOrId === '') throw new Error('usage: /w <name|id> <text>')
  if (node.peer(nameOrId) != null) return nameOrId
  const matches = node.peers().filter(p => p.name === nameOrId)
  if (matches.length === 1) return matches[0].id
  if (matches.length > 1) throw new Error(`${matches.length} peers are called ${nameOrId}; use an id: ${matches.map(p => p.id).join(' ')}`)
  throw new Error(`no peer called ${nameOrId}`)
}
