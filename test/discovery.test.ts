import test from 'ava'
import { TypedEventEmitter, peerDiscoverySymbol, type PeerDiscovery, type PeerDiscoveryEvents, type PeerInfo } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { LanBus, lanDiscovery } from '../sim/lan-bus.js'
import { relayed } from '../src/discovery/relayed.js'
import { memoryOptions, tcpOptions, start, until, next, sleep } from './helpers.js'

test('two peers that dial each other at the same moment end up with one connection, and it works', async t => {
  // Both list the other as bootstrap, so both dial at once regardless of the id tie-break.
  const portA = 20000 + Math.floor(Math.random() * 20000)
  const portB = portA + 1
  const a = await start(t, tcpOptions({ name: 'a', listen: [`/ip4/127.0.0.1/tcp/${portA}`], bootstrap: [`/ip4/127.0.0.1/tcp/${portB}`], bootstrapInterval: 100 }))
  const b = await start(t, tcpOptions({ name: 'b', listen: [`/ip4/127.0.0.1/tcp/${portB}`], bootstrap: [`/ip4/127.0.0.1/tcp/${portA}`], bootstrapInterval: 100 }))
  await until(() => a.peer(b.id) != null && b.peer(a.id) != null, 10_000, 'a and b did not meet')
  await sleep(1000) // let any duplicate open and be pruned
  t.is(a.libp2p.getConnections(b.libp2p.peerId).length, 1)
  t.is(b.libp2p.getConnections(a.libp2p.peerId).length, 1)
  const got: number[] = []
  b.on('whisper', e => got.push(e.data as number))
  for (let i = 0; i < 100; i++) await a.whisper(b.id, i)
  await until(() => got.length === 100, 5000, 'whispers lost after pruning')
  t.deepEqual(got, Array.from({ length: 100 }, (_, i) => i))
})

test('a dropped connection is re-established from repeated discovery sightings alone', async t => {
  // No bootstrap and no peer exchange to fall back on: only the LAN's periodic announcements.
  // libp2p reports a peer to 'peer:discovery' only once, so this needs every sighting relayed.
  const bus = new LanBus({ reannounceInterval: 200 })
  // An outage between the two: while it lasts, neither can connect to the other.
  let outage = false
  const connectionGater = { denyDialPeer: () => outage, denyInboundEncryptedConnection: () => outage }
  const a = await start(t, memoryOptions({ name: 'a', discovery: [lanDiscovery(bus)], connectionGater }))
  const b = await start(t, memoryOptions({ name: 'b', discovery: [lanDiscovery(bus)], connectionGater }))
  await until(() => a.peer(b.id) != null && b.peer(a.id) != null, 10_000, 'a and b did not meet')
  const lost = next(a, 'exit', e => e.peer.id === b.id)
  outage = true
  await a.libp2p.hangUp(b.libp2p.peerId)
  t.is((await lost).reason, 'lost')
  outage = false
  const back = await next(a, 'enter', e => e.peer.id === b.id, 10_000)
  t.is(back.peer.name, 'b')
})

/** A discovery service the test drives by hand: `report(info)` is one sighting. */
class ManualDiscovery extends TypedEventEmitter<PeerDiscoveryEvents> implements PeerDiscovery {
  readonly [peerDiscoverySymbol] = this
  readonly [Symbol.toStringTag] = 'test/manual-discovery'
  report (info: PeerInfo): void { this.safeDispatchEvent('peer', { detail: info }) }
}

test('a peer whose first dial failed is dialled again on a later sighting', async t => {
  // The first sighting names an address where nothing listens, so the dial fails; libp2p keeps
  // the peer in its store and never reports it to 'peer:discovery' again. Later sightings with
  // the right address must still lead to a connection, or a LAN peer that was busy once is
  // never met.
  const manual = new ManualDiscovery()
  const a = await start(t, memoryOptions({ name: 'a', discovery: [() => manual] }))
  const b = await start(t, memoryOptions({ name: 'b' }))
  const id = peerIdFromString(b.id)
  manual.report({ id, multiaddrs: [multiaddr(`/memory/nobody-listens-${process.pid}`)] })
  await sleep(1500) // past the tie-break delay, whichever side of it a is on
  t.is(a.peer(b.id), undefined)
  const met = next(a, 'enter', e => e.peer.id === b.id, 10_000)
  const timer = setInterval(() => { manual.report({ id, multiaddrs: b.addresses().map(s => multiaddr(s)) }) }, 200)
  t.teardown(() => { clearInterval(timer) })
  t.is((await met).peer.name, 'b')
})

test('libp2p hears a repeated sighting only when it brings a new peer or new addresses; the dialer hears every one', async t => {
  class Repeater extends TypedEventEmitter<PeerDiscoveryEvents> implements PeerDiscovery {
    readonly [peerDiscoverySymbol] = this
    tell (peer: PeerInfo): void { this.safeDispatchEvent('peer', { detail: peer }) }
  }
  const inner = new Repeater()
  const sightings = new EventTarget()
  const service = relayed(() => inner, sightings)({})
  let toDialer = 0
  const toLibp2p: string[] = []
  sightings.addEventListener('peer', () => { toDialer++ })
  service.addEventListener('peer', evt => { toLibp2p.push(evt.detail.multiaddrs.map(String).join()) })
  const id = peerIdFromString('12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA')
  const at = (port: number): PeerInfo => ({ id, multiaddrs: [multiaddr(`/ip4/10.0.0.1/tcp/${port}`)] })
  for (let i = 0; i < 5; i++) inner.tell(at(4001))
  inner.tell(at(4002)) // the peer restarted on another port
  inner.tell(at(4002))
  t.is(toDialer, 7)
  t.deepEqual(toLibp2p, ['/ip4/10.0.0.1/tcp/4001', '/ip4/10.0.0.1/tcp/4002'])
})
