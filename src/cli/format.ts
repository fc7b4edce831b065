import type { Payload, PeerInfo, ShoalEvent } from '../types.js'

export const short = (id: string): string => `${id.slice(0, 6)}…${id.slice(-4)}`

export function text (data: Payload): string {
  if (typeof data === 'string') return data
  if (data instanceof Uint8Array) return `<${data.byteLength} bytes>`
  return JSON.stringify(data)
}

/** One human-readable line per event. */
export function eventLine (e: ShoalEvent): string {
  switch (e.type) {
    case 'enter': return `* ${e.peer.name} entered (${short(e.peer.id)})`
    case 'exit': return `* ${e.peer.name} ${e.reason === 'left' ? 'left' : 'was lost'}`
    case 'join': return `* ${e.peer.name} joined ${e.group}`
    case 'leave': return `* ${e.peer.name} left ${e.group}`
    case 'shout': return `[${e.group}] ${e.from.name}: ${text(e.data)}`
    case 'whisper': return `(whisper) ${e.from.name}: ${text(e.data)}`
    case 'suspect': return `* ${e.peer.name} is not answering (suspect)`
    case 'alive': return `* ${e.peer.name} is answering again`
    case 'limit': return `* dropped ${e.dropped} ${e.channel} from ${short(e.peerId)} (limit: ${e.kind})`
    case 'update': return `* ${e.peer.name} updated headers: ${Object.entries(e.peer.headers).map(([k, v]) => `${k}=${v}`).join(',')}`
  }
}

export function peerTable (peers: PeerInfo[]): string {
  const rows = peers.map(p => [p.name, p.id, p.groups.join(','), Object.entries(p.headers).map(([k, v]) => `${k}=${v}`).join(','), p.addresses.join(' ')])
  const head = ['NAME', 'ID', 'GROUPS', 'HEADERS', 'ADDRESSES']
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map(r => r[i].length)))
  return [head, ...rows].map(r => r.map((c, i) => i === r.length - 1 ? c : c.padEnd(widths[i])).join('  ')).join('\n')
}
