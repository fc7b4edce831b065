import { xchacha20poly1305 } from '@noble/ciphers/chacha.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { InvalidArgumentError } from '../errors.js'
import { generateMeshKey, meshKeyBytes } from '../trust/mesh-key.js'

/**
 * End-to-end encryption of a group's shouts with keys its members share out of band. The
 * sealed bytes replace the shout's payload (headers included), so gossipsub, the direct
 * fallback and de-duplication carry them unchanged, and only members holding a key read them.
 *
 * Sealed payload: tag (4), key id (8), nonce (24), XChaCha20-Poly1305 ciphertext + tag (16).
 * The associated data binds the group and the sender (the gossipsub signer or the authenticated
 * remote of the connection): a ciphertext cannot be replayed into another group or under
 * another sender's name, even by a member that relays it.
 */

/** A group key: 64 hex characters (`generateGroupKey()`) or 32 bytes. */
export type GroupKey = string | Uint8Array

// Follows the payload tags of codec/payload.ts (0-2) and patterns/filter.ts (3).
const SEALED = 4
const KEY_ID_BYTES = 8
const NONCE_BYTES = 24
const TAG_BYTES = 16
const HEADER_BYTES = 1 + KEY_ID_BYTES + NONCE_BYTES
/** What sealing adds to a payload. */
export const SEAL_OVERHEAD = HEADER_BYTES + TAG_BYTES
// Enough for a rotation with a few old keys still accepted; a longer list only costs lookups.
const MAX_KEYS = 16
const enc = new TextEncoder()

/** A new random group key as 64 hex characters: give it to the group's members out of band. */
export function generateGroupKey (): string { return generateMeshKey() }

interface DerivedKey { id: Uint8Array, key: Uint8Array }

/** Why an incoming shout to a group was not opened. */
export type OpenFailure =
  /** Sealed with a key this node does not hold (or it holds none for the group). */
  | { drop: 'unreadable', reason: string }
  /** Failed authentication (tampered, forged, moved to another group or sender), or plaintext in an encrypted group. */
  | { drop: 'forged', reason: string }

export class GroupKeys {
  // group -> its keys, derived for that group; the first seals.
  private readonly rings = new Map<string, DerivedKey[]>()

  /** Checks and derives `keys` for `group`; throws InvalidArgumentError for a bad key. Does not store them. */
  static derive (group: string, keys: GroupKey | GroupKey[]): DerivedKey[] {
    const list = Array.isArray(keys) ? keys : [keys]
    if (list.length === 0 || list.length > MAX_KEYS) throw new InvalidArgumentError(`key must be a group key or a list of 1 to ${MAX_KEYS} of them`)
    return list.map(k => derive(group, parseKey(k)))
  }

  set (group: string, ring: DerivedKey[] | undefined): void {
    if (ring == null) this.rings.delete(group)
    else this.rings.set(group, ring)
  }

  /** Seals `plain` for `group` with its first key, or returns it as is if the group has none. */
  seal (group: string, sender: string, plain: Uint8Array): Uint8Array {
    const ring = this.rings.get(group)
    if (ring == null) return plain
    const { id, key } = ring[0]
    const out = new Uint8Array(HEADER_BYTES + plain.byteLength + TAG_BYTES)
    out[0] = SEALED
    out.set(id, 1)
    const nonce = globalThis.crypto.getRandomValues(new Uint8Array(NONCE_BYTES))
    out.set(nonce, 1 + KEY_ID_BYTES)
    xchacha20poly1305(key, nonce, aad(group, sender)).encrypt(plain, out.subarray(HEADER_BYTES))
    return out
  }

  /** The plaintext of a shout to `group` from `sender`, or why it cannot be had. */
  open (group: string, sender: string, payload: Uint8Array): { plain: Uint8Array } | OpenFailure {
    const ring = this.rings.get(group)
    const sealed = payload[0] === SEALED
    if (ring == null) return sealed ? { drop: 'unreadable', reason: `sealed, and this node holds no key for group ${group}` } : { plain: payload }
    // Without this, anyone in the mesh could write into an encrypted group in the clear.
    if (!sealed) return { drop: 'forged', reason: `plaintext shout in encrypted group ${group}` }
    if (payload.byteLength < HEADER_BYTES + TAG_BYTES) return { drop: 'forged', reason: 'sealed shout too short' }
    const id = payload.subarray(1, 1 + KEY_ID_BYTES)
    const entry = ring.find(k => sameBytes(k.id, id))
    if (entry == null) return { drop: 'unreadable', reason: `sealed with a key this node does not hold for group ${group}` }
    const nonce = payload.subarray(1 + KEY_ID_BYTES, HEADER_BYTES)
    try {
      return { plain: xchacha20poly1305(entry.key, nonce, aad(group, sender)).decrypt(payload.subarray(HEADER_BYTES)) }
    } catch {
      return { drop: 'forged', reason: `sealed shout to ${group} failed authentication` }
    }
  }
}

function parseKey (key: GroupKey): Uint8Array {
  try {
    if (!(key instanceof Uint8Array) && typeof key !== 'string') throw new Error('not a string or bytes')
    return meshKeyBytes(key) // the same two forms as a mesh key: 64 hex characters or 32 bytes
  } catch (err) {
    throw new InvalidArgumentError('a group key must be 64 hex characters or 32 bytes (see generateGroupKey)', { cause: err })
  }
}

/**
 * A key of its own per group, so one shared key used for several groups still keeps them apart,
 * and a key id that names the key without revealing anything of it.
 */
function derive (group: string, secret: Uint8Array): DerivedKey {
  const key = hkdf(sha256, secret, enc.encode('shoal/group-key/v1'), enc.encode(group), 32)
  return { key, id: sha256(key).subarray(0, KEY_ID_BYTES) }
}

function aad (group: string, sender: string): Uint8Array { return enc.encode(`shoal/group/v1\n${group}\n${sender}`) }

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}
