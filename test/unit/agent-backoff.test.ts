import t from 'tap'
import { backoffDelay, createBackoff, sleep } from '../../agent/tunnel/backoff.js'

t.test('full jitter: uniformly between 0 and min(cap, base · 2^attempt)', async (t) => {
  const options = { baseMs: 100, capMs: 5000 }
  t.equal(backoffDelay(0, { ...options, random: () => 0.999999 }), 99)
  t.equal(backoffDelay(3, { ...options, random: () => 0.5 }), 400)
  t.equal(backoffDelay(10, { ...options, random: () => 0.999999 }), 4999, 'capped')
  t.equal(backoffDelay(1000, { ...options, random: () => 0.5 }), 2500, 'huge attempts do not overflow')
  t.equal(backoffDelay(5, { ...options, random: () => 0 }), 0, 'can retry at once')
  for (let attempt = 0; attempt < 40; attempt++) {
    const d = backoffDelay(attempt, options)
    t.ok(d >= 0 && d < Math.min(5000, 100 * 2 ** attempt), `attempt ${attempt}: ${d}`)
  }
})

t.test('delays spread a fleet out instead of synchronising it', async (t) => {
  const delays = Array.from({ length: 1000 }, () => backoffDelay(6, { baseMs: 1000, capMs: 60_000 }))
  const buckets = [0, 0, 0, 0]
  for (const d of delays) buckets[Math.floor(d / 15_000)]!++
  t.ok(buckets.every((n) => n > 150), `every quarter of the window gets a share: ${buckets.join(', ')}`)
})

t.test('the counter grows with failures and resets after a success', async (t) => {
  const b = createBackoff({ baseMs: 100, capMs: 10_000, random: () => 0.999999 })
  t.same([b.next(), b.next(), b.next()], [99, 199, 399])
  b.reset()
  t.equal(b.next(), 99)
})

t.test('sleep ends early when aborted', async (t) => {
  const abort = new AbortController()
  const started = Date.now()
  setTimeout(() => abort.abort(), 20)
  await sleep(10_000, abort.signal)
  t.ok(Date.now() - started < 5000)
})
