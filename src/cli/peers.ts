import { createNode } from '../index.js'
import { peerTable } from './format.js'
import { duration, nodeOptions, parse } from './args.js'

export const PEERS_USAGE = `usage: shoal peers [--wait 3s] [--json] [--name N] [--group G]... [--bootstrap ADDR]... [--listen ADDR]... [--no-mdns] [--config FILE]
  Joins the mesh for --wait, prints the peers found, leaves.`

export async function peers (argv: string[], out: (line: string) => void): Promise<void> {
  const flags = parse(argv, { wait: { type: 'string' }, json: { type: 'boolean' } })
  if (flags.help === true) { out(PEERS_USAGE); return }
  const wait = duration(flags.wait ?? '3s')
  const node = await createNode(nodeOptions(flags))
  try {
    await new Promise(resolve => setTimeout(resolve, wait))
    const found = node.peers()
    if (flags.json === true) out(JSON.stringify(found, null, 2))
    else out(found.length === 0 ? `no peers found in ${wait} ms` : peerTable(found))
  } finally {
    await node.stop()
  }
}
