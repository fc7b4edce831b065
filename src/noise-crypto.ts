// Node-only edge: X25519 for Noise without the DER key import. @libp2p/noise's Node crypto
// re-imports both keys as PKCS8/SPKI DER on every exchange, and OpenSSL 3's DER decoder makes
// that about 0.5 ms a key: 2.3 ms per side per handshake. Raw keys imported as JWK cost a tenth
// of that. Outputs are byte-identical to the default (test/noise-crypto.test.ts), so peers
// running the stock implementation interoperate.
import crypto from 'node:crypto'
import { defaultCrypto } from '@libp2p/noise/crypto'
import type { ICryptoInterface } from '@libp2p/noise'
import { Uint8ArrayList } from 'uint8arraylist'

const raw = (x: Uint8Array | Uint8ArrayList): Uint8Array => x instanceof Uint8Array ? x : x.subarray()
const b64u = (u: Uint8Array): string => Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString('base64url')
const privateKey = (sk: Uint8Array | Uint8ArrayList): crypto.KeyObject =>
  crypto.createPrivateKey({ format: 'jwk', key: { kty: 'OKP', crv: 'X25519', d: b64u(raw(sk)), x: '' } })
const publicKey = (pk: Uint8Array | Uint8ArrayList): crypto.KeyObject =>
  crypto.createPublicKey({ format: 'jwk', key: { kty: 'OKP', crv: 'X25519', x: b64u(raw(pk)) } })
const bytes = (b64: string | undefined): Uint8Array => new Uint8Array(Buffer.from(b64 ?? '', 'base64url'))

// Below this many bytes the WebAssembly ChaCha20-Poly1305 @libp2p/noise ships is faster than
// OpenSSL's (whose per-call setup dominates small messages); above, OpenSSL's. @libp2p/noise
// switches at 1200 bytes; on this project's machines (x86-64, Node 20) the two cross near 500:
// a 1 KiB message took 28 µs to encrypt and decrypt in WebAssembly, 19 µs in OpenSSL.
const NATIVE_CHACHA_BYTES = 512
const CHACHA = 'chacha20-poly1305'
const TAG_BYTES = 16
const TAG_OPTIONS = { authTagLength: TAG_BYTES } as const

// OpenSSL's AEAD with as few calls into it as the cipher needs: each call (and the Buffer each
// returns) costs about a microsecond, more than encrypting a kilobyte, and a request's round trip
// makes four of these. Noise's own version calls setAAD even for the empty associated data of
// every transport message, and update once per buffer of a list (the muxer's header, the length
// prefix and the frame: three); here a list is joined first (one copy, from Node's pool) and
// sealed with one update. Same AEAD, same bytes, same kinds of result (test/noise-crypto.test.ts).
function sealNative (plaintext: Uint8Array | Uint8ArrayList, nonce: Uint8Array, ad: Uint8Array, k: Uint8Array): Uint8Array | Uint8ArrayList {
  const cipher = crypto.createCipheriv(CHACHA, k, nonce, TAG_OPTIONS)
  if (ad.byteLength > 0) cipher.setAAD(ad, { plaintextLength: plaintext.byteLength })
  const sealed = cipher.update(raw(plaintext))
  cipher.final() // nothing left over: ChaCha20 is a stream cipher
  // A list (a transport message) stays a list, the tag not copied onto the ciphertext: the
  // transport joins the whole frame once anyway. An array (a handshake message) is hashed and
  // concatenated as one, as Noise's own returns it.
  if (plaintext instanceof Uint8Array) return Buffer.concat([sealed, cipher.getAuthTag()])
  return new Uint8ArrayList(sealed, cipher.getAuthTag())
}

function openNative (ciphertext: Uint8Array | Uint8ArrayList, nonce: Uint8Array, ad: Uint8Array, k: Uint8Array): Uint8Array {
  const sealed = raw(ciphertext)
  const length = sealed.byteLength - TAG_BYTES
  const decipher = crypto.createDecipheriv(CHACHA, k, nonce, TAG_OPTIONS)
  if (ad.byteLength > 0) decipher.setAAD(ad, { plaintextLength: length })
  decipher.setAuthTag(sealed.subarray(length))
  const opened = decipher.update(sealed.subarray(0, length))
  decipher.final() // throws if the tag does not match: nothing decrypted is handed on
  return opened
}

export const noiseCrypto: ICryptoInterface = {
  ...defaultCrypto,
  chaCha20Poly1305Encrypt (plaintext, nonce, ad, k) {
    return plaintext.byteLength < NATIVE_CHACHA_BYTES ? defaultCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k) : sealNative(plaintext, nonce, ad, k)
  },
  chaCha20Poly1305Decrypt (ciphertext, nonce, ad, k, dst) {
    return ciphertext.byteLength < NATIVE_CHACHA_BYTES ? defaultCrypto.chaCha20Poly1305Decrypt(ciphertext, nonce, ad, k, dst) : openNative(ciphertext, nonce, ad, k)
  },
  getHKDF (ck, ikm) {
    const okm = new Uint8Array(crypto.hkdfSync('sha256', raw(ikm), raw(ck), new Uint8Array(0), 96))
    return [okm.subarray(0, 32), okm.subarray(32, 64), okm.subarray(64, 96)]
  },
  generateX25519KeyPair () {
    // Encoded by the key generation job itself, never by `.export()` on the key it returned:
    // Node 20 deadlocks when a garbage collection during that export finalizes the (by then
    // unreachable) job, whose destructor takes the lock the export holds. The process froze
    // for good, timers and all, every few thousand handshakes (test/noise-crypto.test.ts).
    const { privateKey } = crypto.generateKeyPairSync('x25519', {
      publicKeyEncoding: { type: 'spki', format: 'jwk' },
      privateKeyEncoding: { type: 'pkcs8', format: 'jwk' }
    }) as unknown as { privateKey: crypto.JsonWebKey }
    return { publicKey: bytes(privateKey.x), privateKey: bytes(privateKey.d) }
  },
  generateX25519KeyPairFromSeed (seed) {
    return { publicKey: bytes(crypto.createPublicKey(privateKey(seed)).export({ format: 'jwk' }).x), privateKey: seed }
  },
  generateX25519SharedKey (sk, pk) {
    return new Uint8Array(crypto.diffieHellman({ privateKey: privateKey(sk), publicKey: publicKey(pk) }))
  }
}
