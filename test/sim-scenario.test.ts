import test from 'ava'
import { plan, parseDuration, ScenarioError } from '../sim/scenario.js'

const base = {
  peers: 20,
  duration: '30s',
  groups: { chat: 'all', ops: 0.5 },
  traffic: { shouts: [{ group: 'chat', rate: 2 }] },
  faults: [
    { at: '2s', type: 'crash', peer: 1, rejoinAfter: '5s' },
    { at: 3, type: 'freeze', peer: [2, 4], for: 2 },
    { at: '4s', type: 'partition', segments: { a: '0-4', b: 'rest' }, for: '3s' },
    { at: '10s', type: 'churn', for: '5s', rate: 1 }
  ]
}

test('the same seed plans the same run; another seed another one', t => {
  const a = plan(base, { seed: 1 })
  t.deepEqual(plan(base, { seed: 1 }), a)
  const b = plan(base, { seed: 2 })
  t.notDeepEqual([b.groups, b.actions], [a.groups, a.actions])
})

test('a plan expands faults into timed actions and puts signal targets in processes of their own', t => {
  const p = plan(base, { seed: 3 })
  t.is(p.durationMs, 30_000)
  t.deepEqual(p.solo, [1, 2, 4])
  t.is(p.groups.chat.length, 20)
  t.is(p.groups.ops.length, 10)
  t.deepEqual(p.actions.filter(a => a.type === 'crash' || (a.type === 'rejoin' && a.peer === 1)).map(a => a.at), [2000, 7000])
  t.deepEqual(p.actions.filter(a => a.type === 'thaw').map(a => a.at), [5000, 5000])
  const part = p.actions.find(a => a.type === 'partition')
  t.deepEqual(part?.type === 'partition' ? part.segments.a : null, [0, 1, 2, 3, 4])
  t.is(part?.type === 'partition' ? part.segments.b.length : 0, 15)
  t.deepEqual(p.actions.filter(a => a.type === 'heal').map(a => a.at), [7000])
  // Churn: 5 leaves, each of a peer no other fault names, each rejoining later.
  const churn = p.actions.filter(a => a.type === 'leave')
  t.is(churn.length, 5)
  for (const l of churn) {
    if (l.type !== 'leave') continue
    t.true(l.churn)
    t.false([1, 2, 4].includes(l.peer))
    t.true(p.actions.some(a => a.type === 'rejoin' && a.peer === l.peer && a.at > l.at))
  }
})

test('overrides from the command line win over the file', t => {
  const p = plan(base, { peers: 40, duration: '2m', seed: 9, workers: 3 })
  t.is(p.peers, 40)
  t.is(p.durationMs, 120_000)
  t.is(p.seed, 9)
  t.is(p.workers, 3)
})

test('a bad scenario is a ScenarioError naming what is wrong', t => {
  const bad: Array<[unknown, RegExp]> = [
    [[], /JSON object/],
    [{ pears: 3 }, /unknown scenario key "pears"/],
    [{ peers: 1 }, /peers must be an integer >= 2/],
    [{ duration: 'soon' }, /not a duration/],
    [{ faults: [{ at: 1, type: 'explode', peer: 0 }] }, /unknown fault type/],
    [{ peers: 5, faults: [{ at: 1, type: 'crash', peer: 7 }] }, /peer 7 is not in 0..4/],
    [{ duration: 10, faults: [{ at: 11, type: 'heal' }] }, /after the end/],
    [{ faults: [{ at: 1, type: 'partition', segments: { a: 'rest' } }] }, /at least two segments/],
    [{ traffic: { shouts: [{ group: 'nope', rate: 1 }] } }, /must name one of the groups/]
  ]
  for (const [input, message] of bad) t.throws(() => plan(input), { instanceOf: ScenarioError, message }, JSON.stringify(input))
})

test('durations read as seconds, "s", "m" or "ms"', t => {
  t.is(parseDuration(60, 'x'), 60_000)
  t.is(parseDuration('1.5s', 'x'), 1500)
  t.is(parseDuration('2m', 'x'), 120_000)
  t.is(parseDuration('250ms', 'x'), 250)
  t.throws(() => parseDuration('-1', 'x'), { instanceOf: ScenarioError })
})

test('memory transport: one process, no signal targets; a slow consumer there is a typed error', t => {
  const p = plan({ ...base, transport: 'memory', workers: 3 }, { seed: 3 })
  t.is(p.transport, 'memory')
  t.is(p.workers, 1)
  t.deepEqual(p.solo, [])
  t.is(plan(base, { transport: 'memory' }).transport, 'memory')
  const err = t.throws(() => plan({ ...base, transport: 'memory', faults: [{ at: 1, type: 'slow', peer: 1, for: 2, delayMs: 5 }] }), { instanceOf: ScenarioError })
  t.regex(err?.message ?? '', /not supported with transport memory/)
  t.throws(() => plan({ ...base, transport: 'udp' }), { instanceOf: ScenarioError })
})

test('latency: a default for every link and timed rules between two sets of peers', t => {
  const p = plan({ ...base, faults: [], latency: { ms: 5, jitter: 1 } })
  t.deepEqual(p.latency, { ms: 5, jitter: 1 })
  t.deepEqual(plan({ ...base, faults: [] }).latency, { ms: 0, jitter: 0 })
  const q = plan({ ...base, faults: [{ at: '2s', type: 'latency', ms: 50, jitter: 10, between: ['0-4', 'rest'], for: '3s' }, { at: '4s', type: 'latency', ms: 9 }] })
  const rules = q.actions.filter(a => a.type === 'latency')
  t.deepEqual(rules.map(a => a.type === 'latency' ? [a.at, a.id, a.ms, a.a.length, a.b.length] : null), [[2000, 0, 50, 5, 15], [4000, 1, 9, 20, 20], [5000, 0, null, 5, 15]])
  for (const bad of [{ ms: 5, jitter: 6 }, { ms: -1 }, { ms: 5, between: ['0-4'] }, { ms: 5, between: [[99], 'rest'] }]) {
    t.throws(() => plan({ ...base, faults: [{ at: 1, type: 'latency', ...bad }] }), { instanceOf: ScenarioError }, JSON.stringify(bad))
  }
  t.throws(() => plan({ ...base, latency: { ms: 'fast' } }), { instanceOf: ScenarioError })
})

test('request traffic is planned like whispers', t => {
  const p = plan({ ...base, traffic: { requests: { rate: 3 } } })
  t.deepEqual(p.requests, { rate: 3, bytes: 200 })
  t.is(plan(base).requests, null)
  t.throws(() => plan({ ...base, traffic: { requests: { rate: -1 } } }), { instanceOf: ScenarioError })
})
