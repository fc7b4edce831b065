import test from 'ava'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { Uint8ArrayList } from 'uint8arraylist'
import { signingKey } from '../src/trust/signing-key.js'

// The node's key signs every shout and presence state; the faster sign() must produce exactly the
// stock key's signatures (Ed25519 is deterministic), or peers would reject what the node signs.
test('the signing key signs byte for byte as the stock Ed25519 key, and is the same key otherwise', async t => {
  const key = await generateKeyPair('Ed25519')
  const fast = signingKey(key)
  for (let i = 0; i < 20; i++) {
    const data = crypto.getRandomValues(new Uint8Array(1 + i * 97))
    const sig = await fast.sign(data)
    t.deepEqual([...sig], [...await key.sign(data)])
    t.true(await key.publicKey.verify(data, sig))
    const list = new Uint8ArrayList(data.subarray(0, 1), data.subarray(1))
    t.deepEqual([...await fast.sign(list)], [...sig])
  }
  t.false(await key.publicKey.verify(Uint8Array.of(1), await fast.sign(Uint8Array.of(2))))
  t.is(peerIdFromPrivateKey(fast).toString(), peerIdFromPrivateKey(key).toString())
  t.deepEqual([...privateKeyToProtobuf(fast)], [...privateKeyToProtobuf(key)])
  t.true(fast.equals(key))
  t.is(fast.type, 'Ed25519')
})

test('the signing key honours an aborted signal; other key types are left as they are', async t => {
  const fast = signingKey(await generateKeyPair('Ed25519'))
  const controller = new AbortController()
  controller.abort(new Error('stop'))
  t.throws(() => fast.sign(Uint8Array.of(1), { signal: controller.signal }), { message: 'stop' })
  const secp = await generateKeyPair('secp256k1')
  t.is(signingKey(secp), secp)
})
