// Node-only edge: picks the real transports, mDNS and the host name. The node itself (node.ts)
// only sees a libp2p instance, so the simulator can hand it any transport and discovery.
import { hostname } from 'node:os'
import { createLibp2p } from 'libp2p'
import { memory } from '@libp2p/memory'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { mdns } from '@libp2p/mdns'
import { pubsubService } from './groups/pubsub.js'
import { stack } from './stack.js'
import { withConfigFile } from './config-file.js'
import { resolveOptions, type NodeOptions } from './options.js'
import { ShoalNode, type ShoalLibp2p } from './node.js'
import type { PeerDiscovery } from '@libp2p/interface'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { preSharedKey } from '@libp2p/pnet'
import { pnetKey } from './trust/mesh-key.js'
import { PeerPolicy } from './trust/peer-policy.js'
import { signingKey } from './trust/signing-key.js'
import { PeerCap } from './limits/peer-cap.js'
import { Penalties } from './limits/penalties.js'
import { relayed } from './discovery/relayed.js'

/** Creates a node, starts it and resolves once it is listening. */
export async function createNode (options: NodeOptions = {}): Promise<ShoalNode> {
  const opts = resolveOptions(await withConfigFile(options), `${hostname()}-${process.pid}`)
  const sightings = new EventTarget()
  // The node signs its state with the same key that makes its peer id (see presence/signed-state).
  const privateKey = signingKey(opts.privateKey ?? await generateKeyPair('Ed25519'))
  const policy = new PeerPolicy(opts.allow, opts.deny, peerIdFromPrivateKey(privateKey).toString())
  const peerCap = new PeerCap(opts.maxPeers)
  const penalties = new Penalties()
  const { transports, connectionEncrypters, streamMuxers } = stack()
  // Filled in by the node, whose limits gossipsub consults before verifying a message.
  const gossipLimits = { overRate: (_author: string, _count: number): boolean => false, spent: (_author: string): boolean => false }
  const libp2p: ShoalLibp2p = await createLibp2p({
    start: false,
    privateKey,
    addresses: { listen: opts.listen },
    transports: opts.transports ?? [...transports, memory()],
    // A private mesh encrypts every connection with the mesh key before Noise even starts.
    ...(opts.meshKey != null ? { connectionProtector: preSharedKey({ psk: pnetKey(opts.meshKey) }) } : {}),
    connectionEncrypters,
    streamMuxers,
    peerDiscovery: [
      ...(opts.mdns !== false ? [mdns({ interval: opts.mdns.interval, serviceTag: opts.mdns.serviceTag })] : []),
      ...opts.discovery
    ].map(factory => relayed(factory, sightings)),
    connectionManager: {
      maxConnections: opts.maxPeers * 2 + 16,
      // libp2p refuses more than 5 inbound connections a second from one host; many nodes on one
      // machine (tests, the simulator, several apps on a dev box) hit that at once. The loopback
      // address only: a peer elsewhere on 127/8 (a container, the abuse bench's attacker) is
      // another host, and a hostile one redialling after each refusal costs a handshake each time.
      allow: ['/ip4/127.0.0.1/ipcidr/32', '/ip6/::1/ipcidr/128']
    },
    connectionMonitor: { enabled: opts.connectionMonitor },
    connectionGater: peerCap.gater(penalties.gater(policy.restricts ? policy.gater(opts.connectionGater) : opts.connectionGater)),
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: pubsubService({
        maxDataLength: opts.maxMessageSize,
        maxQueuedBytes: opts.maxQueuedBytes,
        penalty: peer => penalties.of(peer),
        quarantined: peer => penalties.quarantined(peer),
        overRate: (author, count) => gossipLimits.overRate(author, count),
        spent: author => gossipLimits.spent(author),
        fullMesh: opts.degree == null
      })
    }
  })
  peerCap.connectedPeers = () => libp2p.getPeers()
  const node = new ShoalNode(libp2p, opts, { sightings, privateKey, policy, peerCap, penalties, gossipLimits })
  try {
    await node.start()
  } catch (err) {
    try { await libp2p.stop() } catch {}
    throw err
  }
  return node
}
