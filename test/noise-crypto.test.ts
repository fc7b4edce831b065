import test from 'ava'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { defaultCrypto } from '@libp2p/noise/crypto'
import { noiseCrypto } from '../src/noise-crypto.js'
import { Uint8ArrayList } from 'uint8arraylist'

const plain = (u: Uint8Array | { subarray: () => Uint8Array }): number[] => [...(u instanceof Uint8Array ? u : u.subarray())]

// The faster X25519 must agree byte for byte with @libp2p/noise's own, or Shoal nodes could not
// talk to other libp2p peers (nor to older Shoal nodes).
test('X25519 keys, shared secrets and HKDF match the stock Noise crypto exactly', t => {
  for (let i = 0; i < 20; i++) {
    const a = noiseCrypto.generateX25519KeyPair()
    const b = defaultCrypto.generateX25519KeyPair()
    t.deepEqual(plain(noiseCrypto.generateX25519KeyPairFromSeed(a.privateKey).publicKey), plain(a.publicKey))
    t.deepEqual(plain(defaultCrypto.generateX25519KeyPairFromSeed(a.privateKey).publicKey), plain(a.publicKey))
    const ours = plain(noiseCrypto.generateX25519SharedKey(a.privateKey, b.publicKey))
    t.deepEqual(ours, plain(defaultCrypto.generateX25519SharedKey(b.privateKey, a.publicKey)))
    t.deepEqual(ours, plain(defaultCrypto.generateX25519SharedKey(a.privateKey, b.publicKey)))
    const ck = crypto.getRandomValues(new Uint8Array(32))
    const ikm = crypto.getRandomValues(new Uint8Array(32))
    t.deepEqual(noiseCrypto.getHKDF(ck, ikm).map(plain), defaultCrypto.getHKDF(ck, ikm).map(plain))
  }
})

// OpenSSL's ChaCha20-Poly1305 takes over from the WebAssembly one at a smaller size than stock
// Noise's; it is the same AEAD, so a peer using either reads the other's frames.
test('ChaCha20-Poly1305 gives the stock Noise crypto\'s ciphertexts at every size, and rejects a damaged one', t => {
  const k = crypto.getRandomValues(new Uint8Array(32))
  const ad = crypto.getRandomValues(new Uint8Array(32))
  for (const size of [0, 1, 64, 511, 512, 513, 1024, 1199, 1200, 5000]) {
    const nonce = crypto.getRandomValues(new Uint8Array(12))
    const text = crypto.getRandomValues(new Uint8Array(size))
    const sealed = plain(noiseCrypto.chaCha20Poly1305Encrypt(text, nonce, ad, k))
    t.deepEqual(sealed, plain(defaultCrypto.chaCha20Poly1305Encrypt(text, nonce, ad, k)), `${size} B`)
    t.deepEqual(plain(noiseCrypto.chaCha20Poly1305Encrypt(new Uint8ArrayList(text.subarray(0, size >> 1), text.subarray(size >> 1)), nonce, ad, k)), sealed)
    const ours = Uint8Array.from(sealed)
    t.deepEqual(plain(noiseCrypto.chaCha20Poly1305Decrypt(ours, nonce, ad, k)), [...text])
    t.deepEqual(plain(defaultCrypto.chaCha20Poly1305Decrypt(Uint8Array.from(sealed), nonce, ad, k)), [...text])
    ours[ours.length - 1] ^= 1
    t.throws(() => noiseCrypto.chaCha20Poly1305Decrypt(ours, nonce, ad, k))
  }
})

// Transport messages (empty associated data, handed over as lists: the muxer's header, a length
// prefix, the frame) take a shorter way through OpenSSL than Noise's own; handshake messages
// (the hash as associated data, one array) must still come back as one array, which Noise
// concatenates into the handshake.
test('ChaCha20-Poly1305 of transport messages (no associated data, lists) matches the stock crypto and checks the tag', t => {
  const k = crypto.getRandomValues(new Uint8Array(32))
  const none = new Uint8Array(0)
  for (const size of [511, 512, 600, 1024, 1199, 1200, 4096, 65519]) {
    const nonce = crypto.getRandomValues(new Uint8Array(12))
    const text = crypto.getRandomValues(new Uint8Array(size))
    const parts = new Uint8ArrayList(text.subarray(0, 12), text.subarray(12, 14), text.subarray(14))
    const sealed = plain(defaultCrypto.chaCha20Poly1305Encrypt(text, nonce, none, k))
    t.deepEqual(plain(noiseCrypto.chaCha20Poly1305Encrypt(parts, nonce, none, k)), sealed, `${size} B as a list`)
    t.true(noiseCrypto.chaCha20Poly1305Encrypt(text, nonce, none, k) instanceof Uint8Array, 'an array in, one array out')
    t.deepEqual(plain(noiseCrypto.chaCha20Poly1305Encrypt(text, nonce, none, k)), sealed)
    const bytes = Uint8Array.from(sealed)
    const cut = new Uint8ArrayList(bytes.subarray(0, 100), bytes.subarray(100, bytes.length - 5), bytes.subarray(bytes.length - 5))
    t.deepEqual(plain(noiseCrypto.chaCha20Poly1305Decrypt(cut, nonce, none, k)), [...text], `${size} B from a list cut inside the tag`)
    t.deepEqual(plain(noiseCrypto.chaCha20Poly1305Decrypt(Uint8Array.from(sealed), nonce, none, k)), [...text])
    for (const at of [0, size - 1, size, size + 15]) {
      const bad = Uint8Array.from(sealed)
      bad[at] ^= 0x40
      t.throws(() => noiseCrypto.chaCha20Poly1305Decrypt(bad, nonce, none, k), undefined, `${size} B damaged at ${at}`)
    }
    const wrongNonce = Uint8Array.from(nonce)
    wrongNonce[11] ^= 1
    t.throws(() => noiseCrypto.chaCha20Poly1305Decrypt(Uint8Array.from(sealed), wrongNonce, none, k))
  }
})

// Node 20 deadlocked (a futex wait on the main thread, forever) when a garbage collection ran
// while the key just generated was being exported. One sim worker froze with 37 nodes in it, and
// a test file hung until CI's timeout. A small young generation makes that collection likely:
// the old code froze within 2000 keys here, every time.
test('X25519 key generation never deadlocks under garbage collection', async t => {
  const module = new URL('../src/noise-crypto.js', import.meta.url).href
  const script = `import { noiseCrypto } from ${JSON.stringify(module)}
    let junk = []
    for (let i = 0; i < 20000; i++) {
      noiseCrypto.generateX25519KeyPair()
      junk.push(new Array(50).fill(i))
      if (junk.length > 1000) junk = []
    }`
  const child = spawn(process.execPath, ['--max-semi-space-size=1', '--input-type=module', '-e', script], { stdio: 'inherit' })
  const killer = setTimeout(() => { child.kill('SIGKILL') }, 30_000)
  const [code, signal] = await once(child, 'exit')
  clearTimeout(killer)
  t.is(signal, null, 'the key generator froze and had to be killed')
  t.is(code, 0)
})
