import test from 'ava'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = async (name: string): Promise<string> => {
  const file = fileURLToPath(new URL(`../examples/${name}.js`, import.meta.url))
  const { stdout } = await promisify(execFile)(process.execPath, [file], { timeout: 30_000 })
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
