import v8 from 'node:v8'

/**
 * How far V8 lets the old generation grow past what the last full collection
 * kept before it starts the next one, kept at no less than 64 MB of room (and
 * between 1.5 and 4 times the heap).
 *
 * V8 picks that factor itself from how fast its collector runs against how
 * fast the program allocates. Under a sustained stream (a bulk download
 * through a tunnel) the gateway allocates fast, and V8 can settle near its
 * lowest factor: in bench/tunnel (--trace-gc) the limit stood about 25 MB
 * above a 95 MB heap, and a full collection started again 20–60 ms after the
 * last one ended, 5–15 a second at 5–15 ms each. A gateway caught in that loop
 * moved 390–440 MiB/s through one tunnel instead of 650–700, at 2.5–3 ms of
 * CPU per MiB instead of 1; whether a process fell into it was down to chance.
 *
 * What counts is the room in megabytes, not the ratio: V8 starts marking
 * early whenever the room left is less than its young generation (up to
 * 32 MB here). A fixed 1.5 times cured a 95 MB heap, but not a worker of
 * `--workers N` on PostgreSQL, whose heap is a third of that: its downloads
 * stayed at 2.3–2.9 ms of CPU per MiB, 0.9–1.5 with a factor of 4. So the
 * factor follows the heap: 64 MB of room, at least half the heap, at most 3
 * times it. The cost is memory: between two full collections the heap may
 * hold that much garbage (docs/deploy.md, Sizing).
 *
 * A V8 flag set at run time rather than on the command line, so that every
 * way of starting the gateway (`edgetainer server`, its workers, the image,
 * the tests and the benchmarks) runs with the same heap. V8 reads it each
 * time it sets the next limit.
 */
export const HEAP_HEADROOM_BYTES = 64 * 1024 * 1024
const MIN_PERCENT = 50
const MAX_PERCENT = 300

/** The growing factor, as V8's percent, that leaves `headroom` bytes of room above a heap of `heapBytes`. */
export function heapGrowingPercent(heapBytes: number, headroom = HEAP_HEADROOM_BYTES): number {
  const percent = Math.ceil((100 * headroom) / Math.max(1, heapBytes) / 10) * 10
  return Math.min(MAX_PERCENT, Math.max(MIN_PERCENT, percent))
}

/** Sets the factor now and again every `intervalMs` as the heap changes; close() stops the timer. */
export function startHeapGrowth(options: { intervalMs?: number } = {}) {
  let current = 0
  const apply = () => {
    const percent = heapGrowingPercent(v8.getHeapStatistics().used_heap_size)
    if (percent === current) return
    current = percent
    v8.setFlagsFromString(`--heap-growing-percent=${percent}`)
  }
  apply()
  const timer = setInterval(apply, options.intervalMs ?? 10_000).unref()
  return {
    /** The percent in force (for tests). */
    get percent() {
      return current
    },
    close() {
      clearInterval(timer)
    },
  }
}
