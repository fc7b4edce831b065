// Real mDNS across a real (virtual) LAN: three network namespaces joined by a bridge, one Shoal
// process in each (test/fixtures/lan-peer.ts), and no bootstrap at all. Needs root and iproute2
// (.ci/run installs it); where the machine forbids network namespaces the test logs why and skips.
//
// Everything created here carries this process's pid in its name. It is removed in a teardown,
// again from an exit hook in case the runner ends the worker first, and leftovers of earlier runs
// whose process is gone are swept before starting. Traffic only goes to the namespaces' own
// addresses (10.88.0.0/24) and to the mDNS multicast group on the bridge.
import test from 'ava'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fixture } from './child.js'
import { sleep } from './helpers.js'

const PEERS = 3
const SUBNET = '10.88.0'
const tag = String(process.pid)
// Interface names are limited to 15 characters: pids have at most 7 digits.
const bridgeName = (pid: string): string => `shbr${pid}`
const vethName = (pid: string, i: number): string => `shv${pid}-${i}`
const nsPrefix = (pid: string): string => `shoal-lan-${pid}-n`

function ip (...args: string[]): { ok: boolean, out: string, err: string } {
  const r = spawnSync('ip', args, { encoding: 'utf8' })
  return { ok: r.status === 0, out: r.stdout ?? '', err: (r.stderr ?? '') + (r.error != null ? String(r.error) : '') }
}

/** Why this machine cannot run the test, decided before it starts; undefined when it can try. */
function cannotRun (): string | undefined {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`
  if (process.getuid?.() !== 0) return 'network namespaces need root (not running as root)'
  const v = spawnSync('ip', ['-V'], { encoding: 'utf8' })
  if (v.error != null || v.status !== 0) return "the 'ip' command (iproute2) is missing"
  return undefined
}

const isPermissionError = (text: string): boolean => /operation not permitted|permission denied|EPERM|EACCES/i.test(text)

const namespaces = (): string[] => ip('netns', 'list').out.split('\n').map(l => l.split(' ')[0] ?? '').filter(n => n !== '')

/** Removes what the run with this pid created (idempotent, synchronous so an exit hook can call it). */
function teardownNet (pid: string): void {
  for (const ns of namespaces()) if (ns.startsWith(nsPrefix(pid))) ip('netns', 'del', ns)
  for (let i = 1; i <= PEERS; i++) ip('link', 'del', vethName(pid, i)) // normally gone with its namespace
  ip('link', 'del', bridgeName(pid))
}

/** Removes leftovers of earlier runs that were killed before they could clean up. */
function sweepStale (): void {
  const pids = new Set<string>()
  for (const ns of namespaces()) {
    const m = /^shoal-lan-(\d+)-n\d+$/.exec(ns)
    if (m?.[1] != null) pids.add(m[1])
  }
  for (const line of ip('-o', 'link', 'show', 'type', 'bridge').out.split('\n')) {
    const m = /^\d+: shbr(\d+):/.exec(line)
    if (m?.[1] != null) pids.add(m[1])
  }
  for (const pid of pids) {
    if (pid === tag) continue
    let alive = true
    try { process.kill(Number(pid), 0) } catch (err: any) { alive = err.code === 'EPERM' }
    if (!alive) teardownNet(pid)
  }
}

/** Builds the bridge and the namespaces; returns what failed, or undefined. */
function setupNet (): string | undefined {
  const br = bridgeName(tag)
  const steps: string[][] = [['link', 'add', br, 'type', 'bridge'], ['link', 'set', br, 'up']]
  for (let i = 1; i <= PEERS; i++) {
    const ns = nsPrefix(tag) + i
    steps.push(
      ['netns', 'add', ns],
      ['link', 'add', vethName(tag, i), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns],
      ['link', 'set', vethName(tag, i), 'master', br, 'up'],
      ['-n', ns, 'addr', 'add', `${SUBNET}.1${i}/24`, 'dev', 'eth0'],
      ['-n', ns, 'link', 'set', 'eth0', 'up'],
      ['-n', ns, 'link', 'set', 'lo', 'up'],
      // Without it the namespace has no route for 224.0.0.251 and mDNS fails silently.
      ['-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', 'eth0']
    )
  }
  for (const args of steps) {
    const r = ip(...args)
    if (!r.ok) return `ip ${args.join(' ')}: ${r.err.trim()}`
  }
  return undefined
}

/** `p`, or `fallback` if it has not settled within `ms` (the timer does not outlive the race). */
async function within<T, F> (p: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<F>(resolve => { timer = setTimeout(() => { resolve(fallback) }, ms) })
  try { return await Promise.race([p, late]) } finally { clearTimeout(timer) }
}

interface Line { ev: string, t: number, [key: string]: any }

/** One lan-peer process inside a namespace, its output parsed into lines one can wait for. */
class Peer {
  readonly lines: Line[] = []
  readonly stderr: string[] = []
  readonly proc: ChildProcess
  readonly exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  readonly spawnedAt = Date.now()
  id = ''
  readonly #waiters = new Set<() => void>()

  constructor (readonly name: string, ns: string) {
    // `ip netns exec` execs node in place, so proc.pid is node's own pid.
    this.proc = spawn('ip', ['netns', 'exec', ns, process.execPath, fixture('lan-peer'), '--name', name], { stdio: 'pipe' })
    this.exited = new Promise(resolve => { this.proc.once('exit', (code, signal) => { resolve({ code, signal }); this.#wake() }) })
    this.proc.on('error', err => { this.stderr.push(`spawn error: ${err.message}`) })
    this.proc.stdin!.on('error', () => {}) // writing to a peer that died shows up in the assertions
    createInterface({ input: this.proc.stdout! }).on('line', line => {
      try {
        const msg = JSON.parse(line) as Line
        if (msg.ev === 'ready') this.id = msg.id
        this.lines.push(msg)
      } catch {
        this.stderr.push(`stdout (not JSON): ${line}`)
      }
      this.#wake()
    })
    createInterface({ input: this.proc.stderr! }).on('line', line => { this.stderr.push(line) })
  }

  get running (): boolean { return this.proc.exitCode === null && this.proc.signalCode === null }

  send (cmd: Record<string, unknown>): void { this.proc.stdin!.write(JSON.stringify(cmd) + '\n') }

  events (ev: string, match: (l: Line) => boolean = () => true): Line[] { return this.lines.filter(l => l.ev === ev && match(l)) }

  /** Resolves with `cond()` once it is truthy; rejects after `ms`, or as soon as the process exits. */
  async until<T> (cond: () => T | undefined | false, ms: number, what: string): Promise<T> {
    return await new Promise((resolve, reject) => {
      const check = (): boolean => {
        const v = cond()
        if (v !== undefined && v !== false) { done(); resolve(v); return true }
        if (!this.running) {
          done()
          reject(new Error(`${this.name} exited (${this.proc.exitCode ?? this.proc.signalCode}) before: ${what}`))
          return true
        }
        return false
      }
      const timer = setTimeout(() => { done(); reject(new Error(`${this.name}: ${what}: not seen within ${ms} ms`)) }, ms)
      const done = (): void => { clearTimeout(timer); this.#waiters.delete(check) }
      if (!check()) this.#waiters.add(check)
    })
  }

  /** Resolves with the `ev` line answering the last command (`sent` or `error`). */
  async result (cmd: string): Promise<Line> {
    return await this.until(() => this.lines.find(l => (l.ev === 'sent' || l.ev === 'error') && l.cmd === cmd), 10_000, `result of ${cmd}`)
  }

  #wake (): void { for (const w of [...this.#waiters]) w() }
}

const reason = cannotRun()
const title = 'three hosts on a LAN find each other by mDNS alone, shout, whisper and leave'

if (reason != null) {
  console.log(`lan.test: SKIPPED: ${reason}`)
  test.skip(`${title} (SKIPPED: ${reason})`, () => {})
} else {
  test.serial(title, async t => {
    t.timeout(60_000)
    const peers: Peer[] = []
    let cleaned = false
    const cleanup = (): void => {
      if (cleaned) return
      cleaned = true
      for (const p of peers) if (p.running) p.proc.kill('SIGKILL')
      teardownNet(tag)
    }
    // Should the runner end this worker before teardowns run, still remove the namespaces.
    process.once('exit', cleanup)
    t.teardown(async () => {
      if (!t.passed) showLogs()
      for (const p of peers) if (p.running) p.proc.kill('SIGKILL')
      // A namespace only goes away with its last process: wait for them before deleting it.
      await within(Promise.all(peers.map(async p => await p.exited)), 5000, undefined)
      cleanup()
      process.removeListener('exit', cleanup)
      const left = namespaces().filter(ns => ns.startsWith(nsPrefix(tag)))
      if (left.length > 0) t.log(`WARNING: namespaces left behind: ${left.join(', ')}`)
    })
    const showLogs = (): void => {
      for (const p of peers) {
        t.log(`--- ${p.name} stdout:\n${p.lines.map(l => JSON.stringify(l)).join('\n')}`)
        if (p.stderr.length > 0) t.log(`--- ${p.name} stderr:\n${p.stderr.slice(-40).join('\n')}`)
      }
    }

    sweepStale()
    const failed = setupNet()
    if (failed != null) {
      if (!isPermissionError(failed)) { t.fail(`could not build the virtual LAN: ${failed}`); return }
      t.log(`SKIPPED: this machine forbids network namespaces or bridges (${failed})`)
      t.pass()
      return
    }

    for (let i = 1; i <= PEERS; i++) peers.push(new Peer(`n${i}`, nsPrefix(tag) + i))
    await Promise.all(peers.map(async p => await p.until(() => p.id !== '', 15_000, 'ready')))
    const [n1, n2, n3] = peers as [Peer, Peer, Peer]
    const byId = new Map(peers.map(p => [p.id, p]))
    const readyAt = (p: Peer): number => (p.events('ready')[0] as Line).t
    for (const p of peers) t.log(`${p.name} ready ${readyAt(p) - p.spawnedAt} ms after spawn`)

    // 1. Discovery by mDNS alone: every peer sees both others enter, once each.
    const t0 = Math.max(...peers.map(readyAt))
    await Promise.all(peers.map(async p => await p.until(
      () => peers.every(o => o === p || p.events('enter', l => l.id === o.id).length > 0),
      30_000, 'enter of both other peers')))
    for (const p of peers) {
      const enters = p.events('enter')
      t.is(enters.length, PEERS - 1, `${p.name} saw each other peer enter exactly once`)
      for (const e of enters) {
        t.is(byId.get(e.id)?.name, e.name, `${p.name}: enter carries the right name`)
        t.deepEqual(e.groups, ['lan'], `${p.name}: ${e.name} is in 'lan'`)
        t.true(e.addresses.some((a: string) => a.startsWith(`/ip4/${SUBNET}.`)), `${p.name} knows ${e.name} by a LAN address`)
      }
      t.log(`${p.name} saw ${enters.map(e => `${e.name} ${e.t - readyAt(p)} ms`).join(', ')} after its own start`)
    }
    const allSeen = Math.max(...peers.flatMap(p => p.events('enter').map(e => e.t)))
    t.log(`discovery: all ${PEERS} saw each other ${allSeen - t0} ms after the last peer started, ${allSeen - peers[0]!.spawnedAt} ms after spawning the first`)
    t.log(`n1 as announced to n2: ${(n2.events('enter', l => l.id === n1.id)[0] as Line).addresses.join(' ')}`)

    // 2. A shout from n1 reaches n2 and n3 exactly once, and not n1 itself (echo is off).
    const shoutAt = Date.now()
    n1.send({ cmd: 'shout', data: 'hello lan' })
    const isShout = (l: Line): boolean => l.from === n1.id && l.group === 'lan' && l.data === 'hello lan'
    await Promise.all([n2, n3].map(async p => await p.until(() => p.events('shout', isShout).length > 0, 10_000, 'the shout from n1')))
    t.log(`shout n1 -> n2, n3 delivered within ${Date.now() - shoutAt} ms`)
    t.is((await n1.result('shout')).ev, 'sent', 'n1 shouted without error')
    await sleep(1500) // room for a duplicate to show up
    t.is(n2.events('shout').length, 1, 'n2 got the shout exactly once')
    t.is(n3.events('shout').length, 1, 'n3 got the shout exactly once')
    t.is(n1.events('shout').length, 0, 'n1 did not hear its own shout')

    // 3. A whisper n2 -> n3 reaches n3, and only n3.
    n2.send({ cmd: 'whisper', to: n3.id, data: { secret: 42 } })
    const whisper = await n3.until(() => n3.events('whisper', l => l.from === n2.id)[0], 10_000, 'the whisper from n2')
    t.deepEqual(whisper.data, { secret: 42 })
    t.is((await n2.result('whisper')).ev, 'sent', 'n2 whispered without error')
    t.is(n3.events('whisper').length, 1)
    t.is(n1.events('whisper').length, 0)

    // 4. A graceful stop of n1: n2 and n3 see it leave (not lost); its process exits by itself.
    const stopAt = Date.now()
    n1.send({ cmd: 'stop' })
    const exitAt = async (p: Peer): Promise<Line> => await p.until(() => p.events('exit', l => l.id === n1.id)[0], 10_000, 'exit of n1')
    const [e2, e3] = await Promise.all([exitAt(n2), exitAt(n3)])
    t.is(e2.reason, 'left', 'n2 saw n1 leave')
    t.is(e3.reason, 'left', 'n3 saw n1 leave')
    const status = await within(n1.exited, 15_000, 'still running 15 s after stop')
    t.deepEqual(status, { code: 0, signal: null }, 'n1 exited by itself with code 0 after stop')
    t.log(`n1 stopped: exit seen at n2 after ${e2.t - stopAt} ms, at n3 after ${e3.t - stopAt} ms; stop() took ${(n1.events('stopped')[0]?.t ?? NaN) - stopAt} ms, process ended after ${Date.now() - stopAt} ms`)
    t.is(n2.events('exit').length, 1)
    t.is(n3.events('exit').length, 1)
    t.true(n2.running && n3.running, 'the other peers keep running')
  })
}
