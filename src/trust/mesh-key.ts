import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js'
import { ConfigError } from '../errors.js'

/**
 * The mesh key: a 32-byte secret every member holds. It becomes libp2p's private-network
 * pre-shared key (@libp2p/pnet), so every connection is encrypted with it underneath Noise, and a
 * node without it fails the handshake before it learns or sends anything Shoal-level.
 */
export type MeshKey = string | Uint8Array

const KEY_BYTES = 32
const SWARM_KEY_HEADER = '/key/swarm/psk/1.0.0/\n/base16/\n'

/** A new random mesh key as 64 hex characters: share it with members out of band. */
export function generateMeshKey (): string {
  return bytesToHex(globalThis.crypto.getRandomValues(new Uint8Array(KEY_BYTES)))
}

/**
 * The 32 key bytes of a mesh key given as 64 hex characters, a libp2p/IPFS `swarm.key` text
 * (so an existing private network's key can be reused), or 32 raw bytes.
 */
export function meshKeyBytes (key: MeshKey): Uint8Array {
  if (key instanceof Uint8Array) {
    if (key.byteLength === KEY_BYTES) return new Uint8Array(key)
    return meshKeyBytes(new TextDecoder().decode(key))
  }
  if (typeof key !== 'string') throw new ConfigError('meshKey must be a string or a Uint8Array')
  const lines = key.trim().split(/\r?\n/)
  const hex = lines.length === 3 && `${lines[0]}\n${lines[1]}\n` === SWARM_KEY_HEADER ? lines[2] : key.trim()
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new ConfigError('meshKey must be 64 hex characters, a swarm.key text or 32 bytes (see generateMeshKey)')
  return hexToBytes(hex.toLowerCase())
}

/** The key in the form @libp2p/pnet reads (the swarm.key format). */
export function pnetKey (bytes: Uint8Array): Uint8Array {
  return new TextEncoder().encode(SWARM_KEY_HEADER + bytesToHex(bytes))
}

/**
 * An mDNS service name of the mesh: members announce and listen under it, so meshes with
 * different keys on one LAN never even dial each other (a dial would fail at the handshake
 * anyway). It reveals which announcements belong together, nothing of the key: 32 bits of a
 * domain-separated hash of a random 256-bit key.
 */
export function meshServiceTag (bytes: Uint8Array): string {
  const tag = bytesToHex(sha256(new Uint8Array([...new TextEncoder().encode('shoal/mesh-tag/v1\n'), ...bytes]))).slice(0, 8)
  return `_shoal-${tag}._udp.local`
}
