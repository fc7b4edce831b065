// The per-peer limit primitives on their own (the behaviour with real nodes is in hostile.test).
import test from 'ava'
import { RateLimiter } from '../src/limits/rate.js'
import { ByteBudget } from '../src/limits/byte-budget.js'
import { Penalties } from '../src/limits/penalties.js'
import { Limits } from '../src/limits/limits.js'
import type { NodeStats } from '../src/types.js'
import { resolveOptions } from '../src/options.js'
import { ConfigError } from '../src/errors.js'

test('a token bucket allows its burst, then its rate, per key', t => {
  const r = new RateLimiter(10, 20)
  let ok = 0
  for (let i = 0; i < 50; i++) if (r.take('a', 1, 0)) ok++
  t.is(ok, 20, 'burst')
  t.true(r.take('b', 1, 0), 'another key has its own bucket')
  t.false(r.take('a', 1, 50))
  t.true(r.take('a', 1, 100), 'refilled at 10 a second')
  t.false(r.take('a', 1, 100))
  t.false(r.take('a', 5, 400), 'a cost larger than what refilled')
  t.true(r.take('a', 3, 400))
})

test('a token bucket can be asked whether it holds tokens without spending any (the check before a signature is verified)', t => {
  const r = new RateLimiter(10, 2)
  t.true(r.holds('a', 1, 0), 'an unknown key starts full')
  t.true(r.holds('a', 1, 0), 'asking took nothing')
  t.true(r.take('a', 1, 0))
  t.true(r.take('a', 1, 0))
  t.false(r.holds('a', 1, 0), 'empty')
  t.false(r.holds('a', 1, 50))
  t.true(r.holds('a', 1, 100), 'refilled at 10 a second')
  t.true(r.take('a', 1, 100), 'and asking did not spend the refill')
})

test('an author\'s spent shout rate (asked for shouts others pass on) costs nothing to ask and charges no one', t => {
  const stats = { rateLimited: 0 } as unknown as NodeStats
  const penalties = new Penalties()
  const limits = new Limits({ shoutRate: 3, messageRate: 100, byteRate: 1e9, maxQueuedBytes: 1e6, stallMs: 1000, stats, penalties, onQuarantine: () => {}, report: () => {} })
  t.teardown(() => { limits.stop() })
  for (let i = 0; i < 5; i++) t.false(limits.spent('a'), 'asking took nothing')
  for (let i = 0; i < 3; i++) t.true(limits.admit('a', 'shout', 100))
  t.true(limits.spent('a'))
  t.false(limits.spent('b'), 'per author')
  t.is(stats.rateLimited, 0, 'not counted: the author is only claimed')
  t.is(penalties.of('a'), 0, 'nor penalised')
})

test('a token bucket says how long the nth of a line of takers waits (what shout pacing refuses past sendTimeout)', t => {
  const r = new RateLimiter(10, 2)
  t.is(r.until('a', 2, 0), 0, 'an unknown key starts full')
  t.is(r.until('a', 5, 0), 300, 'past the burst: 3 more at 10 a second')
  t.true(r.take('a', 2, 0))
  t.is(r.until('a', 1, 50), 50)
  t.is(r.until('a', 3, 100), 200, 'the cap does not bite: each is taken as it accrues')
})

test('a token bucket keeps a bounded number of keys: refilled ones are forgotten first, a limited one is kept', t => {
  const r = new RateLimiter(10, 20, 3)
  for (let i = 0; i < 20; i++) r.take('busy', 1, 0)
  r.take('idle1', 1, 0)
  r.take('idle2', 1, 0)
  // At 100 ms the idle buckets are full again (nothing lost by forgetting them); busy's is not.
  t.true(r.take('new', 1, 100))
  t.false(r.take('busy', 2, 100), 'the limited key kept its (nearly empty) bucket')
  t.true(r.take('busy', 1, 100))
})

test('a byte budget: one message always fits, the backlog is capped, and a stall is told from slow progress', async t => {
  const b = new ByteBudget(100)
  t.true(b.take('p', 500, 0), 'one message alone, however large')
  t.false(b.take('p', 1, 0))
  b.release('p', 500, true, 10)
  t.is(b.of('p'), 0)
  t.true(b.take('p', 60, 1000))
  t.true(b.take('p', 40, 1000))
  t.false(b.take('p', 1, 1000))
  t.is(b.stalledFor('p', 3000), 2000, 'nothing left since the backlog began')
  b.release('p', 40, false, 3000)
  t.is(b.stalledFor('p', 3000), 2000, 'a send given up on is no progress')
  b.release('p', 20, true, 3500)
  t.is(b.stalledFor('p', 3600), 100)
  const woken = b.changed('p', 10_000)
  b.release('p', 40, true)
  await woken
  t.is(b.of('p'), 0)
})

test('penalties decay by half every half-life', t => {
  const p = new Penalties(1000)
  p.add('x', 80, 0)
  t.is(p.of('x', 0), 80)
  t.is(Math.round(p.of('x', 1000)), 40)
  p.add('x', 10, 1000)
  t.is(Math.round(p.of('x', 2000)), 25)
  t.is(p.of('y', 0), 0)
})

test('quarantine: entered at 80 points (reported once), left once the points decay below 40', t => {
  const p = new Penalties(1000)
  t.false(p.add('x', 79, 0))
  t.false(p.quarantined('x', 0))
  t.true(p.add('x', 1, 0), 'entered')
  t.false(p.add('x', 10, 0), 'reported once')
  t.true(p.quarantined('x', 1000), '45 points: still in')
  t.false(p.quarantined('x', 1300), 'below 40: out')
  t.false(p.add('x', 1, 1300), 'a point more does not put it back')
})

test('limit options: defaults, and bad values are ConfigErrors', t => {
  const o = resolveOptions({}, 'x')
  t.deepEqual([o.maxInboundShouts, o.maxInboundMessages, o.maxInboundBytes, o.maxQueuedBytes], [20, 50_000, 64 * 1024 * 1024, 8 * 1024 * 1024])
  t.is(resolveOptions({ maxMessageSize: 4 * 1024 * 1024 }, 'x').maxQueuedBytes, 16 * 1024 * 1024)
  for (const key of ['maxInboundShouts', 'maxInboundMessages', 'maxInboundBytes', 'maxQueuedBytes']) {
    t.throws(() => resolveOptions({ [key]: 0 }, 'x'), { instanceOf: ConfigError })
    t.throws(() => resolveOptions({ [key]: 'many' as any }, 'x'), { instanceOf: ConfigError })
  }
})
