import { peerIdFromString } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { stateBody, type PeerState, type SignedState } from '../codec/frame.js'

// Signatures over states are domain-separated, so no other message a peer signs with its
// libp2p key can pass for a state, nor a state for anything else.
const DOMAIN = new TextEncoder().encode('shoal/state/v1\n')

function signedBytes (body: Uint8Array): Uint8Array {
  const out = new Uint8Array(DOMAIN.byteLength + body.byteLength)
  out.set(DOMAIN, 0)
  out.set(body, DOMAIN.byteLength)
  return out
}

/** Signs this node's state with its libp2p identity key. */
export async function signState (key: PrivateKey, state: PeerState): Promise<SignedState> {
  const body = stateBody(state)
  return { state: { ...state, headers: { ...state.headers }, groups: [...state.groups], addrs: [...state.addrs] }, body, sig: await key.sign(signedBytes(body)) }
}

/**
 * Whether `signed` was signed by the owner of peer id `id`. Ids that do not embed their public
 * key (RSA) cannot be checked, and fail: their states only count when heard from them directly.
 */
export async function verifyState (id: string, signed: SignedState): Promise<boolean> {
  try {
    const key = peerIdFromString(id).publicKey
    if (key == null) return false
    return await key.verify(signedBytes(signed.body), signed.sig)
  } catch {
    return false
  }
}
