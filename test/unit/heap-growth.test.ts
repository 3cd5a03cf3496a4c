import t from 'tap'
import { HEAP_HEADROOM_BYTES, heapGrowingPercent, startHeapGrowth } from '../../server/lifecycle/heap-growth.js'

/** server/lifecycle/heap-growth.ts: the room V8 leaves above the heap before its next full collection. */

const MB = 1024 * 1024

t.test('the factor leaves at least the headroom, between 1.5 and 4 times the heap', async (t) => {
  t.equal(heapGrowingPercent(32 * MB), 200, 'a 32 MB heap (a worker on PostgreSQL) may double')
  t.equal(heapGrowingPercent(95 * MB), 70, 'a 95 MB heap (PGlite in the process) may grow by 70%: 66 MB of room')
  t.equal(heapGrowingPercent(500 * MB), 50, 'a large heap keeps half its size in room')
  t.equal(heapGrowingPercent(4 * MB), 300, 'a tiny heap may grow to four times its size, no more')
  t.equal(heapGrowingPercent(0), 300, 'no heap reading: the most room')
  for (const heap of [1, 10, 33, 64, 65, 100, 127, 128, 129, 1000].map((n) => n * MB)) {
    const percent = heapGrowingPercent(heap)
    t.ok(percent >= 50 && percent <= 300, `${heap / MB} MB: ${percent}% within bounds`)
    if (percent < 300) t.ok((heap * percent) / 100 >= HEAP_HEADROOM_BYTES || percent === 50, `${heap / MB} MB: at least the headroom, or half the heap`)
  }
})

t.test('startHeapGrowth sets a factor at once and stops on close', async (t) => {
  const growth = startHeapGrowth({ intervalMs: 60_000 })
  t.ok(growth.percent >= 50 && growth.percent <= 300, `in force: ${growth.percent}%`)
  growth.close()
})
