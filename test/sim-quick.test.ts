import test from 'ava'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runQuick, formatQuick } from '../sim/quick.js'

test('the quick simulated mesh converges, delivers every shout exactly once, and writes its JSON', async t => {
  t.timeout(30_000)
  const dir = await mkdtemp(join(tmpdir(), 'shoal-quick-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const json = join(dir, 'nested', 'quick.json')
  const peers = 6
  const shouts = 10
  const whispers = 20
  const r = await runQuick({ peers, transport: 'memory', shouts, whispers, json, seed: 7 })
  t.log('\n' + formatQuick(r))

  t.deepEqual(r.problems, [])
  t.true(r.ok)
  t.true(r.convergence.converged)
  t.true(r.convergence.groupComplete)
  t.is(r.convergence.duplicateEnters, 0)

  t.is(r.shout.sent, shouts)
  t.is(r.shout.expected, shouts * (peers - 1))
  t.is(r.shout.delivered, r.shout.expected)
  t.is(r.shout.ratio, 1)
  t.is(r.shout.duplicates, 0)
  t.is(r.shout.selfDeliveries, 0)
  t.is(r.shout.wrongSender, 0)
  t.is(r.shout.latencyMs.count, shouts * (peers - 1))

  t.is(r.whisper.completed, whispers)
  t.is(r.whisper.failed, 0)

  t.true(r.leave.seenByAll)
  t.deepEqual(r.leave.reasons, { left: peers - 1, lost: 0 })
  t.is(r.unexpectedExits, 0)

  const written = JSON.parse(await readFile(json, 'utf8'))
  t.deepEqual(written, JSON.parse(JSON.stringify(r)))
  t.is(written.shout.ratio, 1)
})
