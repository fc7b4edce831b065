import { peerIdFromString } from '@libp2p/peer-id'
import type { ConnectionGater, PeerId } from '@libp2p/interface'
import { ConfigError } from '../errors.js'

/**
 * Who may be in this node's mesh, by peer id: an allow list (when given, nobody else) and a deny
 * list. It is enforced where libp2p authenticates a connection (the Noise handshake proves the
 * remote's id), and again on everything that reaches us second hand (a peer's state relayed by a
 * neighbour, a shout forwarded by gossipsub), since a neighbour may run with other lists.
 */
export class PeerPolicy {
  private readonly allow: Set<string> | undefined
  private readonly deny: Set<string>

  constructor (allow: string[] | undefined, deny: string[] | undefined, self: string) {
    for (const id of [...(allow ?? []), ...(deny ?? [])]) {
      try { peerIdFromString(id) } catch { throw new ConfigError(`allow/deny: "${id}" is not a peer id`) }
    }
    // This node itself is always in: an allow list shared by every member may list it or not.
    this.allow = allow != null ? new Set([...allow, self]) : undefined
    this.deny = new Set(deny ?? [])
  }

  /** Whether `id` may connect, appear in the view and have its messages delivered. */
  admits (id: string): boolean {
    return !this.deny.has(id) && (this.allow == null || this.allow.has(id))
  }

  /** Whether the policy refuses anyone at all (no lists: nothing to enforce). */
  get restricts (): boolean { return this.allow != null || this.deny.size > 0 }

  /**
   * A connection gater refusing peers the policy does not admit, in both directions, on top of
   * `inner` (the caller's own gater, which keeps every say it had).
   */
  gater (inner: ConnectionGater = {}): ConnectionGater {
    const refuses = (peer: PeerId): boolean => !this.admits(peer.toString())
    return {
      ...inner,
      denyDialPeer: async (peer) => refuses(peer) || (await inner.denyDialPeer?.(peer) ?? false),
      denyInboundEncryptedConnection: async (peer, conn) => refuses(peer) || (await inner.denyInboundEncryptedConnection?.(peer, conn) ?? false),
      denyOutboundEncryptedConnection: async (peer, conn) => refuses(peer) || (await inner.denyOutboundEncryptedConnection?.(peer, conn) ?? false)
    }
  }
}
