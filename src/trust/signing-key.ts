// Node-only edge: the node's own Ed25519 key, signing without re-importing itself. @libp2p/crypto
// 5 imports the raw key as a JWK on every sign() (a KeyObject each time), which is more than half
// the cost of a signature: 220 µs against 85 µs here with the key imported once. Every shout is
// signed (gossipsub's StrictSign), and so is every presence state, on the sender's critical path.
// Ed25519 signatures are deterministic, so the bytes are the same as the stock key's
// (test/signing-key.test.ts).
import crypto from 'node:crypto'
import type { AbortOptions, PrivateKey } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'

const b64u = (u: Uint8Array): string => Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString('base64url')

/**
 * `key` with a sign() that reuses one imported KeyObject; everything else (raw bytes, public key,
 * type, equals) is the key's own. Keys other than Ed25519 are returned as they are.
 */
export function signingKey (key: PrivateKey): PrivateKey {
  if (key.type !== 'Ed25519') return key
  const keyObject = crypto.createPrivateKey({
    format: 'jwk',
    key: { kty: 'OKP', crv: 'Ed25519', d: b64u(key.raw.subarray(0, 32)), x: b64u(key.publicKey.raw) }
  })
  const fast: PrivateKey = Object.create(key)
  fast.sign = (data: Uint8Array | Uint8ArrayList, options?: AbortOptions): Uint8Array => {
    options?.signal?.throwIfAborted()
    return crypto.sign(null, data instanceof Uint8Array ? data : data.subarray(), keyObject)
  }
  return fast
}
