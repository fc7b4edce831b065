import test from 'ava'
import { mkdtemp, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runQuick, formatQuick } from '../sim/quick.js'

test('the quick simulated mesh converges, delivers every shout exactly once and reports it', async t => {
  t.timeout(60_000)
  const json = join(await mkdtemp(join(tmpdir(), 'shoal-quick-')), 'quick.json')
  const r = await runQuick({ peers: 8, transport: 'memory', shouts: 10, whispers: 20, json })
  t.log('\n' + formatQuick(r))
  t.is(r.shout.expected, 10 * 7)
  t.is(r.shout.delivered, r.shout.expected)
  t.is(r.shout.duplicates, 0)
  t.is(r.whisper.roundTrips, 20)
  t.true(r.leave.seenByAll)
  t.deepEqual(JSON.parse(await readFile(json, 'utf8')), JSON.parse(JSON.stringify(r)))
})
