// Anti-entropy with real nodes: a change that no relay carries reaches a peer through the
// digest / versions / view exchange alone.
import test from 'ava'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { ConnectionGater, PeerId } from '@libp2p/interface'
import { memoryOptions, next, start, until } from './helpers.js'

/** A gater under which the node never connects to `other`, either way. */
function cutOff (other: string): ConnectionGater {
  const deny = (peer: PeerId): boolean => peer.toString() === other
  return { denyDialPeer: deny, denyInboundEncryptedConnection: deny, denyOutboundEncryptedConnection: deny }
}

test('a header change that cannot reach a peer directly, and that nobody relays, reaches it through anti-entropy', async t => {
  const [keyA, keyC] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
  const [idA, idC] = [peerIdFromPrivateKey(keyA).toString(), peerIdFromPrivateKey(keyC).toString()]
  // a and c never connect: a knows c only through b, and probes it through b.
  const a = await start(t, memoryOptions({ name: 'a', profile: 'local', privateKey: keyA, connectionGater: cutOff(idC) }))
  const b = await start(t, memoryOptions({ name: 'b', profile: 'local', bootstrap: a.addresses() }))
  const c = await start(t, memoryOptions({ name: 'c', profile: 'local', privateKey: keyC, bootstrap: b.addresses(), connectionGater: cutOff(idA) }))
  await until(() => a.peers().some(p => p.id === c.id) && c.peers().some(p => p.id === a.id), 10_000, 'a and c did not hear of each other through b')
  // In a full mesh a change goes from its owner to each peer, and is not relayed: c's cannot
  // reach a, so only a's periodic comparison with b can bring it.
  const updated = next(a, 'update', e => e.peer.id === c.id && e.peer.headers.room === 'kitchen', 15_000)
  await c.setHeader('room', 'kitchen')
  const e = await updated
  t.is(e.peer.name, 'c')
  t.is(a.peers().find(p => p.id === c.id)?.headers.room, 'kitchen')
})
