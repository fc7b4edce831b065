import test from 'ava'
import { spawn } from 'node:child_process'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, createNode } from '../src/index.js'
import { memoryOptions, start, next } from './helpers.js'
import { fixture } from './child.js'

test('a process that creates, uses and stops nodes (TCP, mDNS on) exits by itself', async t => {
  t.timeout(30_000)
  const proc = spawn(process.execPath, [fixture('start-stop')], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  proc.stdout.on('data', d => { out += String(d) })
  const t0 = Date.now()
  const code = await new Promise<number | null>(resolve => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); resolve(null) }, 20_000)
    proc.on('exit', c => { clearTimeout(timer); resolve(c) })
  })
  t.is(code, 0, 'process did not exit by itself: something kept the event loop alive after stop()')
  t.true(out.includes('stopped'))
  t.log(`ran and exited in ${Date.now() - t0} ms`)
})

test('options can come from a config file; options in code win over the file', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-'))
  const path = join(dir, 'shoal.config.json')
  await writeFile(path, JSON.stringify({ name: 'from-file', groups: ['filed'], headers: { role: 'file' }, mdns: false, listen: [`/memory/cfg-${process.pid}`] }))
  const a = await start(t, { config: path })
  t.is(a.name, 'from-file')
  t.deepEqual(a.groups(), ['filed'])
  const b = await start(t, { config: path, name: 'from-code', listen: [`/memory/cfg2-${process.pid}`], bootstrap: a.addresses() })
  t.is(b.name, 'from-code')
  const e = await next(a, 'enter')
  t.deepEqual(e.peer.headers, { role: 'file' })
})

test('a bad config file or option is a ConfigError naming the problem', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-'))
  const bad = join(dir, 'bad.json')
  await writeFile(bad, '{ "name": ')
  await t.throwsAsync(createNode({ config: bad }), { instanceOf: ConfigError, message: /not valid JSON/ })
  const typo = join(dir, 'typo.json')
  await writeFile(typo, JSON.stringify({ nmae: 'x' }))
  await t.throwsAsync(createNode({ config: typo }), { instanceOf: ConfigError, message: /unknown option "nmae"/ })
  await t.throwsAsync(createNode({ config: join(dir, 'missing.json') }), { instanceOf: ConfigError, message: /cannot read/ })
  await t.throwsAsync(createNode(memoryOptions({ maxMessageSize: -1 })), { instanceOf: ConfigError })
  await t.throwsAsync(createNode(memoryOptions({ headers: { a: 1 as any } })), { instanceOf: ConfigError })
  // Headers peers would drop from our hello are refused here, not silently at every peer.
  await t.throwsAsync(createNode(memoryOptions({ headers: { big: 'x'.repeat(5000) } })), { instanceOf: ConfigError, message: /4096 bytes/ })
})

test('the README quick-start example runs and prints the conversation', async t => {
  const { execFile } = await import('node:child_process')
  const { fileURLToPath } = await import('node:url')
  const script = fileURLToPath(new URL('../examples/quickstart.js', import.meta.url))
  const out = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, [script], { timeout: 20_000 }, (err, stdout) => { if (err != null) reject(err); else resolve(stdout) })
  })
  t.deepEqual(out.trim().split('\n'), [
    'alice: bob entered (role=sensor)',
    'alice: bob joined lobby',
    "bob: [lobby] alice says { text: 'hello, lobby' }",
    'alice: bob whispers just between us',
    'alice: bob exited (left)'
  ])
})

test('the who-has example (scatter-gather, then a request) runs and prints its answers', async t => {
  const { execFile } = await import('node:child_process')
  const { fileURLToPath } = await import('node:url')
  const script = fileURLToPath(new URL('../examples/who-has.js', import.meta.url))
  const out = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, [script, 'song.mp3'], { timeout: 20_000 }, (err, stdout) => { if (err != null) reject(err); else resolve(stdout) })
  })
  t.deepEqual(out.trim().split('\n'), [
    'who has song.mp3: ana, cy',
    'fetched song.mp3 from ana: la la la',
    'asking ben for song.mp3: RemoteError: no song.mp3 here'
  ])
})
