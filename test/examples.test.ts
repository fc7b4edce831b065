import test from 'ava'
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = async (name: string, args: string[] = []): Promise<string> => {
  const file = fileURLToPath(new URL(`../examples/${name}.js`, import.meta.url))
  const { stdout } = await promisify(execFile)(process.execPath, [file, ...args], { timeout: 30_000 })
  return stdout
}

test('examples/request-reply: a reply, a remote error, a refused input, an unknown service', async t => {
  const out = await run('request-reply')
  t.regex(out, /colour = teal/)
  t.regex(out, /kv\.get\("size"\) failed remotely: no such key: size/)
  t.regex(out, /kv\.get\(42\) failed remotely: invalid request: key must be a string/)
  t.regex(out, /kv\.put: nobody serves it there/)
})

test('examples/work-queue: every job reaches the sink once after dedupe, though a worker died holding jobs', async t => {
  const out = await run('work-queue')
  t.regex(out, /30 jobs done, 30 distinct results at the sink, sum of squares 8555 \(expected 8555\)/)
  t.regex(out, /redelivered to w[12] \(delivery 2\)/)
})

test('examples/telemetry: the filtered member sees only alerts, the other everything', async t => {
  const out = await run('telemetry')
  t.is(out.match(/^pager: alert from sensor:/gm)?.length, 3)
  t.notRegex(out, /pager: reading/)
  t.regex(out, /dashboard got 20 messages; pager dropped 17 by its filter/)
})

test('examples/chat --demo: members with the key read each other, the keyless one nothing; a non-chat line is refused', async t => {
  const out = await run('chat', ['--demo'])
  t.regex(out, /^\[bob\] alice: hi bob$/m)
  t.regex(out, /^\[alice\] bob: hi alice, only we can read this$/m)
  t.regex(out, /^\[alice\] bob: sealed with the new key$/m)
  t.notRegex(out, /^\[eve\]/m)
  t.notRegex(out, /eve here/)
  t.regex(out, /bob's app was refused: invalid shout: a chat line is \{ text \}/)
  t.regex(out, /eve could not read 3 messages; alice dropped 1 unsealed or forged/)
})

test('examples/chat in two processes ("two terminals"): a typed line reaches the other side; /quit and end of input exit', async t => {
  const key = (await run('chat', ['--new-key'])).trim()
  t.regex(key, /^[0-9a-f]{64}$/)
  const file = fileURLToPath(new URL('../examples/chat.js', import.meta.url))
  const spawnChat = (args: string[]): ChildProcessWithoutNullStreams => {
    const child = spawn(process.execPath, [file, '--no-mdns', '--key', key, ...args])
    t.teardown(() => { child.kill() })
    return child
  }
  // stderr is kept so that a failure says why the child failed, not only that it did.
  const lines = (child: ChildProcessWithoutNullStreams): { wait: (re: RegExp) => Promise<string>, stderr: () => string } => {
    let buf = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => { buf += d.toString() })
    child.stderr.on('data', (d: Buffer) => { err += d.toString() })
    return {
      stderr: () => err,
      wait: async re => {
        for (let i = 0; i < 2000; i++) {
          const m = buf.match(re)
          if (m != null) return m[0]
          await new Promise(resolve => setTimeout(resolve, 10))
        }
        throw new Error(`no ${String(re)} in: ${buf}\nstderr: ${err}`)
      }
    }
  }
  const alice = spawnChat(['--name', 'alice', '--listen', '/ip4/127.0.0.1/tcp/0'])
  const aliceOut = lines(alice)
  await aliceOut.wait(/in room 'chat', end-to-end encrypted/)
  const addr = (await aliceOut.wait(/listening on (\S+)/)).split(' ').pop() as string
  const bob = spawnChat(['--name', 'bob', '--listen', '/ip4/127.0.0.1/tcp/0', '--bootstrap', addr])
  const bobOut = lines(bob)
  await aliceOut.wait(/\* bob is here/)
  await bobOut.wait(/\* alice is here/)
  bob.stdin.write('hello from the other terminal\n')
  t.is(await aliceOut.wait(/bob: hello from the other terminal/), 'bob: hello from the other terminal')
  alice.stdin.end('/quit\n')
  await bobOut.wait(/\* alice left/)
  bob.stdin.end()
  const code = await new Promise(resolve => bob.once('exit', resolve))
  t.is(code, 0, `bob exited with ${String(code)}; stderr: ${bobOut.stderr()}`)
})
