/**
 * A compact fingerprint of a membership view: who is in it and at which version. Two nodes with
 * the same view compute the same digest, so anti-entropy costs a few bytes per round while views
 * agree, and only the versions and the states that differ when they do.
 */
export interface ViewDigest { count: number, hash: number }

export function viewDigest (members: Iterable<readonly [id: string, ver: number]>): ViewDigest {
  // A sum of one hash per entry: the same for any order, so no sort, and no string built of
  // the whole view (both showed in profiles at 500 peers, where this runs twice a sync round).
  let count = 0
  let lo = 0
  let hi = 0
  for (const [id, ver] of members) {
    const h = mix(idHash(id), ver)
    lo = (lo + (h >>> 0)) >>> 0
    hi = (hi + Math.floor(h / 2 ** 32)) & 0x1fffff
    count++
  }
  return { count, hash: hi * 2 ** 32 + lo }
}

/**
 * A peer id as anti-entropy's 'versions' frame names it: 53 bits, so two ids of one view collide
 * by chance about once in 10^12 meshes of 500. A collision (or an id ground to collide) only
 * makes one exchange skip one peer; news of it still travels the usual way.
 */
export function idHash (id: string): number {
  let h = idHashes.get(id)
  if (h == null) {
    // Peer ids come and go with churn; past this many, start afresh rather than grow for ever.
    if (idHashes.size >= 65_536) idHashes.clear()
    h = cyrb53(id)
    idHashes.set(id, h)
  }
  return h
}

// Shared by every node in the process: the simulator's hundreds of nodes hold the same ids.
const idHashes = new Map<string, number>()

/** One 53-bit hash of a 53-bit id hash and a version (a safe integer), as cyrb53 mixes. */
function mix (id: number, ver: number): number {
  let h1 = 0xdeadbeef
  let h2 = 0x41c6ce57
  for (const w of [id >>> 0, Math.floor(id / 2 ** 32), ver >>> 0, Math.floor(ver / 2 ** 32)]) {
    h1 = Math.imul(h1 ^ w, 2654435761)
    h2 = Math.imul(h2 ^ w, 1597334677)
  }
  return finish(h1, h2)
}

/** A fast, well-mixed 53-bit string hash (public domain, bryc); not for anything adversarial. */
function cyrb53 (str: string): number {
  let h1 = 0xdeadbeef
  let h2 = 0x41c6ce57
  for (let i = 0; i < str.length; i++) {
    const ch = str.charCodeAt(i)
    h1 = Math.imul(h1 ^ ch, 2654435761)
    h2 = Math.imul(h2 ^ ch, 1597334677)
  }
  return finish(h1, h2)
}

function finish (h1: number, h2: number): number {
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909)
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909)
  return 4294967296 * (2097151 & h2) + (h1 >>> 0)
}
