import test from 'ava'
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { ExecutionContext } from 'ava'

const bin = fileURLToPath(new URL('../src/cli/main.js', import.meta.url))

interface Proc { proc: ChildProcessWithoutNullStreams, lines: string[], waitFor: (re: RegExp, ms?: number) => Promise<string>, exited: Promise<number | null> }

function shoal (t: ExecutionContext, args: string[]): Proc {
  const proc = spawn(process.execPath, [bin, ...args], { stdio: 'pipe' })
  t.teardown(() => { if (proc.exitCode === null) proc.kill('SIGKILL') })
  const lines: string[] = []
  const waiters: Array<{ re: RegExp, resolve: (l: string) => void }> = []
  createInterface({ input: proc.stdout }).on('line', line => {
    lines.push(line)
    for (const w of [...waiters]) if (w.re.test(line)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(line) }
  })
  proc.stderr.on('data', d => { lines.push(`stderr: ${String(d)}`) })
  const exited = new Promise<number | null>(resolve => { proc.on('exit', code => { resolve(code) }) })
  const waitFor = async (re: RegExp, ms = 15_000): Promise<string> => {
    const already = lines.find(l => re.test(l))
    if (already != null) return already
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`no line matching ${re} within ${ms} ms; got:\n${lines.join('\n')}`)) }, ms)
      waiters.push({ re, resolve: l => { clearTimeout(timer); resolve(l) } })
    })
  }
  return { proc, lines, waitFor, exited }
}

const LOCAL = ['--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns']

test('two chat processes see each other, shout, whisper, and see each other leave', async t => {
  t.timeout(60_000)
  const key = ['--key', 'ab'.repeat(32)] // the lobby end-to-end encrypted: the same path, sealed
  const alice = shoal(t, ['chat', '--name', 'alice', ...key, ...LOCAL])
  await alice.waitFor(/in lobby \(lobby end-to-end encrypted\)/)
  const addr = (await alice.waitFor(/listening on \/ip4\/127\.0\.0\.1/)).split(' ').pop() as string
  const bob = shoal(t, ['chat', '--name', 'bob', '--header', 'role=tester', ...key, ...LOCAL, '--bootstrap', addr])
  await alice.waitFor(/\* bob entered/)
  await bob.waitFor(/\* alice entered/)
  alice.proc.stdin.write('hello from alice\n')
  await bob.waitFor(/^\[lobby\] alice: hello from alice$/)
  bob.proc.stdin.write('/w alice psst, alice\n')
  await alice.waitFor(/^\(whisper\) bob: psst, alice$/)
  bob.proc.stdin.write('/w nobody hi\n')
  await bob.waitFor(/! no peer called nobody/)
  bob.proc.stdin.write('/peers\n')
  await bob.waitFor(/^ {2}alice .* groups=lobby$/)
  bob.proc.stdin.end() // end of input: bob leaves gracefully
  t.is(await bob.exited, 0)
  await alice.waitFor(/\* bob left$/)
  alice.proc.kill('SIGINT') // Ctrl-C also leaves gracefully
  t.is(await alice.exited, 0)
})

test('shoal peers --json lists a running peer with its headers and groups', async t => {
  t.timeout(30_000)
  const carol = shoal(t, ['chat', '--name', 'carol', '--group', 'ops', '--header', 'role=db', ...LOCAL])
  const addr = (await carol.waitFor(/listening on \/ip4\/127\.0\.0\.1/)).split(' ').pop() as string
  const peers = shoal(t, ['peers', '--json', '--wait', '1500ms', ...LOCAL, '--bootstrap', addr])
  t.is(await peers.exited, 0)
  const found = JSON.parse(peers.lines.join('\n'))
  const entry = found.find((p: any) => p.name === 'carol')
  t.deepEqual(entry?.groups, ['ops'])
  t.deepEqual(entry?.headers, { role: 'db' })
})

test('bad flags and unknown commands exit 2 with usage; bad config exits 1 with a one-line message', async t => {
  const bad = shoal(t, ['chat', '--frobnicate'])
  t.is(await bad.exited, 2)
  const unknown = shoal(t, ['dance'])
  t.is(await unknown.exited, 2)
  const badKey = shoal(t, ['chat', '--key', 'nope', ...LOCAL])
  t.is(await badKey.exited, 1)
  t.regex(badKey.lines.join('\n'), /stderr: shoal: a group key must be 64 hex characters/)
  const missing = shoal(t, ['peers', '--config', '/nonexistent/shoal.json'])
  t.is(await missing.exited, 1)
  t.regex(missing.lines.join(''), /cannot read config file/)
})
