import test from 'ava'
import { defaultCrypto } from '@libp2p/noise/crypto'
import { noiseCrypto } from '../src/noise-crypto.js'

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
