import type { ConnectionGater, PeerDiscovery, PrivateKey, Transport } from '@libp2p/interface'
import { PROFILES, type PresenceProfile, type PresenceTuning } from './presence/profile.js'
import { ConfigError } from './errors.js'
import { LIMITS, headersProblem } from './codec/frame.js'
import { meshKeyBytes, meshServiceTag, type MeshKey } from './trust/mesh-key.js'

export interface MdnsOptions {
  /** Milliseconds between mDNS queries (default 5000). */
  interval?: number
  /** DNS-SD service name; nodes only see nodes with the same tag (default `_shoal._udp.local`). */
  serviceTag?: string
}

export interface NodeOptions {
  /** Human-readable name (default: hostname-pid). */
  name?: string
  /** Small key/value map every peer can read. */
  headers?: Record<string, string>
  /** Multiaddrs to listen on (default `/ip4/0.0.0.0/tcp/0`); `/memory/<name>` uses the in-process transport. */
  listen?: string[]
  /** LAN discovery with mDNS (default true). */
  mdns?: boolean | MdnsOptions
  /** Static peers to dial and keep dialling, for networks where multicast is blocked. */
  bootstrap?: string[]
  /** Groups joined at start. */
  groups?: string[]
  /** Path to a JSON file holding any of these options; `true` means `./shoal.config.json`. */
  config?: string | true
  /** Deliver this node's own shouts to itself too (default false). */
  echo?: boolean
  /** Largest message payload in bytes, inbound and outbound (default 1 MiB). */
  maxMessageSize?: number
  /** Peers beyond this many are not dialled when discovered, and their connections are refused (default 200). */
  maxPeers?: number
  /**
   * Partial mesh for large meshes: each node keeps connections to about this many random peers
   * (plus a few members of each of its groups) instead of to every peer, and presence news is
   * relayed through them. Per-node cost then stays flat as the mesh grows, at the price of one or
   * two more hops for news. Default: none, a full mesh (every peer connected to every other, up
   * to `maxPeers`), which detects failures fastest up to about a hundred peers.
   */
  degree?: number
  /**
   * Shouts accepted per second from one sender; the excess is dropped and reported (default 20).
   * This node paces its own shouts below it too (see ShoutPacer), so give every member the same value.
   */
  maxInboundShouts?: number
  /** Direct messages (whispers, requests, jobs) accepted per second from one peer (default 50000: above the ~13 000 requests a second one node handles here, so only a backstop). */
  maxInboundMessages?: number
  /** Inbound bytes per second from one peer, shouts and direct messages together (default 64 MiB). */
  maxInboundBytes?: number
  /** Bytes that may wait to go out to one peer that reads slowly (default 8 MiB, or 4 × maxMessageSize if larger). */
  maxQueuedBytes?: number
  /** Milliseconds a whisper may wait for an unreachable or congested peer, and a shout for its turn (default 5000). */
  sendTimeout?: number
  /** Milliseconds a request waits for its reply unless the call says otherwise (default 10000). */
  requestTimeout?: number
  /** Milliseconds join/leave wait for every peer to acknowledge the change (default 3000). */
  ackTimeout?: number
  /** Milliseconds between re-dials of bootstrap peers that are not connected (default 5000). */
  bootstrapInterval?: number
  /** Identity key; pass one to keep the same peer id across restarts (default: a new Ed25519 key). */
  privateKey?: PrivateKey
  /**
   * Failure-detection timing for the kind of network (default 'lan'): 'wifi' tolerates lossy
   * links longer, 'local' is fast for many nodes on one machine (tests, the simulator).
   */
  profile?: PresenceProfile
  /** Overrides for single timings of the profile. */
  presence?: Partial<PresenceTuning>
  /** Extra libp2p peer discovery services: the seam the simulator uses for its virtual LAN. */
  discovery?: Array<(components: any) => PeerDiscovery>
  /** libp2p's connection gater: refuse peers or addresses (the simulator's partitions use it). */
  connectionGater?: ConnectionGater
  /** libp2p transports (default TCP and memory): the seam the simulator's link latency and freezes use. */
  transports?: Array<(components: any) => Transport>
  /**
   * libp2p's per-connection ping, which closes a connection whose ping fails (default false:
   * Shoal's own probes detect dead peers, with suspicion and refutation instead of a hard cut).
   */
  connectionMonitor?: boolean
  /**
   * Private mesh: a shared secret (64 hex characters from `generateMeshKey()`, a libp2p
   * `swarm.key` text, or 32 bytes). Only nodes holding the same key can connect; with mDNS on and
   * no `serviceTag` given, members announce under a tag derived from the key.
   */
  meshKey?: MeshKey
  /** Peer ids allowed to connect, appear in the view and deliver messages; nobody else is (default: anyone). */
  allow?: string[]
  /** Peer ids refused, however they reach us (default: none). */
  deny?: string[]
}

export interface ResolvedOptions {
  name: string
  headers: Record<string, string>
  listen: string[]
  mdns: false | Required<MdnsOptions>
  bootstrap: string[]
  groups: string[]
  echo: boolean
  maxMessageSize: number
  maxPeers: number
  degree?: number
  maxInboundShouts: number
  maxInboundMessages: number
  maxInboundBytes: number
  maxQueuedBytes: number
  sendTimeout: number
  requestTimeout: number
  ackTimeout: number
  bootstrapInterval: number
  privateKey?: PrivateKey
  presence: PresenceTuning
  discovery: Array<(components: any) => PeerDiscovery>
  connectionGater?: ConnectionGater
  transports?: Array<(components: any) => Transport>
  connectionMonitor: boolean
  /** The mesh key's 32 bytes, if the mesh is private. */
  meshKey?: Uint8Array
  allow?: string[]
  deny?: string[]
}

const CONFIG_KEYS = new Set(['name', 'headers', 'listen', 'mdns', 'bootstrap', 'groups', 'echo', 'maxMessageSize',
  'maxPeers', 'degree', 'maxInboundShouts', 'maxInboundMessages', 'maxInboundBytes', 'maxQueuedBytes', 'sendTimeout', 'requestTimeout', 'ackTimeout', 'bootstrapInterval', 'connectionMonitor', 'profile', 'presence',
  'meshKey', 'allow', 'deny'])

/** Checks a parsed config file: only plain JSON options, no unknown keys (a typo should not pass silently). */
export function checkConfigObject (value: unknown, source: string): NodeOptions {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError(`${source}: must be a JSON object`)
  for (const key of Object.keys(value)) {
    if (!CONFIG_KEYS.has(key)) throw new ConfigError(`${source}: unknown option "${key}"`)
  }
  return value as NodeOptions
}

export function resolveOptions (o: NodeOptions, defaultName: string): ResolvedOptions {
  const mdns = o.mdns ?? true
  const profile = o.profile ?? 'lan'
  if (!Object.hasOwn(PROFILES, profile)) throw new ConfigError(`profile must be one of ${Object.keys(PROFILES).join(', ')}`)
  if (o.presence != null && (typeof o.presence !== 'object' || Array.isArray(o.presence))) throw new ConfigError('presence must be an object of timings')
  for (const key of Object.keys(o.presence ?? {})) {
    if (!Object.hasOwn(PROFILES.lan, key)) throw new ConfigError(`presence: unknown timing "${key}"`)
  }
  const meshKey = o.meshKey != null ? meshKeyBytes(o.meshKey) : undefined
  // A private mesh announces under its own mDNS tag unless the user chose one.
  const meshTag = meshKey != null && mdns !== false && (mdns === true || mdns.serviceTag == null) ? { serviceTag: meshServiceTag(meshKey) } : {}
  const resolved: ResolvedOptions = {
    name: o.name ?? defaultName,
    headers: o.headers ?? {},
    listen: o.listen ?? ['/ip4/0.0.0.0/tcp/0'],
    mdns: mdns === false ? false : { interval: 5000, serviceTag: '_shoal._udp.local', ...meshTag, ...(mdns === true ? {} : mdns) },
    bootstrap: o.bootstrap ?? [],
    groups: o.groups ?? [],
    echo: o.echo ?? false,
    maxMessageSize: o.maxMessageSize ?? 1024 * 1024,
    maxPeers: o.maxPeers ?? 200,
    degree: o.degree,
    maxInboundShouts: o.maxInboundShouts ?? 20,
    maxInboundMessages: o.maxInboundMessages ?? 50_000,
    maxInboundBytes: o.maxInboundBytes ?? 64 * 1024 * 1024,
    maxQueuedBytes: o.maxQueuedBytes ?? Math.max(8 * 1024 * 1024, 4 * (o.maxMessageSize ?? 1024 * 1024)),
    sendTimeout: o.sendTimeout ?? 5000,
    requestTimeout: o.requestTimeout ?? 10_000,
    ackTimeout: o.ackTimeout ?? 3000,
    bootstrapInterval: o.bootstrapInterval ?? 5000,
    privateKey: o.privateKey,
    presence: { ...PROFILES[profile], ...o.presence },
    discovery: o.discovery ?? [],
    connectionGater: o.connectionGater,
    transports: o.transports,
    connectionMonitor: o.connectionMonitor ?? false,
    meshKey,
    allow: o.allow,
    deny: o.deny
  }
  validate(resolved)
  return resolved
}

function validate (o: ResolvedOptions): void {
  const fail = (msg: string): never => { throw new ConfigError(msg) }
  if (typeof o.name !== 'string' || o.name.length === 0 || new TextEncoder().encode(o.name).byteLength > LIMITS.nameBytes) fail('name must be a non-empty string of at most 256 bytes')
  if (typeof o.headers !== 'object' || o.headers === null || Array.isArray(o.headers)) fail('headers must be an object of strings')
  const problem = headersProblem(o.headers)
  if (problem != null) fail(problem)
  for (const key of ['listen', 'bootstrap', 'groups'] as const) {
    if (!Array.isArray(o[key]) || o[key].some(s => typeof s !== 'string')) fail(`${key} must be an array of strings`)
  }
  for (const key of ['maxMessageSize', 'maxPeers', 'maxInboundShouts', 'maxInboundMessages', 'maxInboundBytes', 'maxQueuedBytes', 'sendTimeout', 'requestTimeout', 'ackTimeout', 'bootstrapInterval'] as const) {
    if (!Number.isFinite(o[key]) || o[key] <= 0) fail(`${key} must be a positive number`)
  }
  for (const [key, v] of Object.entries(o.presence)) {
    if (!Number.isFinite(v) || v < 0 || (v === 0 && key !== 'indirectProbes')) fail(`presence.${key} must be a positive number`)
  }
  if (o.degree != null && (!Number.isInteger(o.degree) || o.degree < 2 || o.degree > o.maxPeers)) fail('degree must be an integer from 2 to maxPeers')
  if (o.presence.probeTimeout >= o.presence.probeInterval) fail('presence.probeTimeout must be shorter than presence.probeInterval')
  for (const key of ['allow', 'deny'] as const) {
    if (o[key] != null && (!Array.isArray(o[key]) || o[key].some(s => typeof s !== 'string'))) fail(`${key} must be an array of peer ids`)
  }
  if (o.mdns !== false && (!(o.mdns.interval > 0) || typeof o.mdns.serviceTag !== 'string')) fail('mdns must be true, false or { interval, serviceTag }')
}
