import test from 'ava'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { execFileSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { simulate } from '../sim/cli.js'
import { formatSummary } from '../sim/summary.js'

// A run that overruns is aborted (its processes killed, simulate rejects) well before ava's own
// timeout: a test that only timed out would leave the run going, and its worker processes would
// keep the test file's process, and so ava, alive.
const within = (t: { timeout: (ms: number) => void }, ms: number): AbortSignal => {
  t.timeout(ms + 20_000)
  return AbortSignal.timeout(ms)
}

test.serial('a small scenario: every fault is noticed by every peer, every shout arrives where no fault excuses a loss, and the report is written', async t => {
  const signal = within(t, 200_000)
  const dir = await mkdtemp(join(tmpdir(), 'shoal-sim-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const scenario = JSON.parse(await readFile(new URL('../../sim/scenarios/small.json', import.meta.url), 'utf8'))
  const { result: r, files } = await simulate(scenario, {}, { report: join(dir, 'out'), signal })
  t.log('\n' + formatSummary(r))

  t.true(r.formation.converged)
  // One row per fault in the scenario: crash, freeze, leave, partition.
  t.deepEqual(r.faults.map(f => f.type.split(' ')[0]).sort(), ['crash', 'freeze', 'leave'])
  for (const f of r.faults) {
    t.true(f.observers > 0, `${f.type}: nobody to notice it`)
    t.is(f.noticed, f.observers, `${f.type} noticed by ${f.noticed}/${f.observers}`)
  }
  const crash = r.faults.find(f => f.type === 'crash')
  t.true(Number.isFinite(crash?.backAllMs), 'the crashed peer, restarted, is back in every view')
  const leave = r.faults.find(f => f.type === 'leave')
  t.true((leave?.reasons.left ?? 0) > 0, 'a graceful leave is reported as left')

  t.true(r.shouts.expected > 0)
  t.is(r.shouts.delivered, r.shouts.expected, r.shouts.lost.join('; '))
  t.is(r.shouts.duplicates, 0)
  t.true(r.shouts.latencyMs.count > 0)

  // The files: valid JSON with the same figures, and a page with a plot per figure and nothing to fetch.
  t.truthy(files)
  const json = JSON.parse(await readFile(files!.json, 'utf8'))
  t.is(json.shouts.delivered, r.shouts.delivered)
  t.is(json.scenario.name, 'small')
  const html = await readFile(files!.html, 'utf8')
  for (const id of ['membership', 'latency', 'delivery', 'traffic']) t.regex(html, new RegExp(`<figure id="plot-${id}"><svg`))
  t.notRegex(html, /<script/)
  t.notRegex(html.replace(/xmlns(:xlink)?="http[^"]+"/g, ''), /(src|href)="https?:/)
  // The raw events: one array a line, in time order, the crashed peer's exit among them.
  const events = (await readFile(join(dir, 'out', 'events.ndjson'), 'utf8')).trim().split('\n').map(l => JSON.parse(l))
  t.true(events.length > 0)
  t.true(events.every((e, i) => i === 0 || e[0] >= events[i - 1][0]), 'events in time order')
  const crashed = scenario.faults.find((f: any) => f.type === 'crash').peer
  t.true(events.some(e => e[2] === 'exit' && e[3] === crashed && e[4] === 'lost'), 'the crash is in the events')
  t.is(json.peerIds.length, scenario.peers)
  t.true(r.resources.loopLagMs != null && r.resources.loopLagMs.count > 0, 'the processes\' event-loop delay was sampled')
})

// Serial: two simulations at once starve each other of CPU. Seen failing once at 24 peers (32 views never came back after the heal; notes/issue-4.md).
test.serial('a partition is noticed across it, and after the heal every view comes back and every shout arrives', async t => {
  const signal = within(t, 150_000)
  const scenario = JSON.parse(await readFile(new URL('../../sim/scenarios/partition.json', import.meta.url), 'utf8'))
  const { result: r } = await simulate(scenario, {}, { report: null, signal })
  t.log('\n' + formatSummary(r))
  t.true(r.formation.converged)
  const p = r.faults.find(f => f.type.startsWith('partition'))
  t.true((p?.observers ?? 0) > 0)
  t.is(p?.noticed, p?.observers)
  t.true(Number.isFinite(p?.backAllMs), 'after the heal every view comes back')
  t.is(r.shouts.delivered, r.shouts.expected, r.shouts.lost.join('; '))
})

test.serial('memory transport: every peer in one process; link latency shifts the latency figures, and crash, freeze and leave are noticed', async t => {
  const signal = within(t, 100_000)
  const scenario = JSON.parse(await readFile(new URL('../../sim/scenarios/memory.json', import.meta.url), 'utf8'))
  const { result: r } = await simulate(scenario, {}, { report: null, signal })
  t.log('\n' + formatSummary(r))
  t.true(r.formation.converged)
  t.is(r.resources.processes, 1)
  t.deepEqual(r.faults.map(f => f.type).sort(), ['crash', 'freeze', 'leave'])
  for (const f of r.faults) {
    t.true(f.observers > 0, `${f.type}: nobody to notice it`)
    t.is(f.noticed, f.observers, `${f.type} noticed by ${f.noticed}/${f.observers}`)
  }
  t.is(r.faults.find(f => f.type === 'crash')?.reasons.lost, r.faults.find(f => f.type === 'crash')?.observers, 'a crash says no goodbye')
  t.true((r.faults.find(f => f.type === 'leave')?.reasons.left ?? 0) > 0)
  t.is(r.shouts.delivered, r.shouts.expected, r.shouts.lost.join('; '))
  t.true(r.requests.expected > 0)
  t.is(r.requests.delivered, r.requests.expected, r.requests.lost.join('; '))
  // Every link is 20 ± 5 ms one way (in one process it would otherwise be a few ms): a whisper
  // takes at least 15 ms, a request's round trip at least 30; the 80 ms rule shows in the tail.
  t.true(r.whispers.latencyMs.p50 >= 15, `whisper p50 ${r.whispers.latencyMs.p50} ms`)
  t.true(r.requests.latencyMs.p50 >= 30, `request p50 ${r.requests.latencyMs.p50} ms`)
  t.true(r.requests.latencyMs.p90 >= 120, `request p90 ${r.requests.latencyMs.p90} ms`)
})

test.serial('an aborted run rejects at once with a typed error and leaves no process behind', async t => {
  t.timeout(60_000)
  const scenario = JSON.parse(await readFile(new URL('../../sim/scenarios/small.json', import.meta.url), 'utf8'))
  const controller = new AbortController()
  const pids: number[] = []
  const started = Date.now()
  // Abort during formation, while worker processes are up (and one is about to be frozen by the scenario later).
  const run = simulate(scenario, { duration: '60s' }, { report: null, signal: controller.signal, log: () => {} })
  await new Promise(resolve => setTimeout(resolve, 3000))
  const children = (): number[] => execFileSync('ps', ['-o', 'pid=', '--ppid', String(process.pid)], { encoding: 'utf8' }).split(/\s+/).filter(x => x !== '').map(Number)
  pids.push(...children())
  controller.abort(new Error('test deadline'))
  const err = await t.throwsAsync(run, { name: 'ScenarioAbortedError' })
  t.regex(err?.message ?? '', /test deadline/)
  t.true(Date.now() - started < 20_000, `took ${Date.now() - started} ms`)
  t.true(pids.length > 0, 'the run had worker processes')
  t.deepEqual(children().filter(pid => pids.includes(pid)), [], 'every worker process is gone')
})
