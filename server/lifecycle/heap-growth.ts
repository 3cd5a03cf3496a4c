import v8 from 'node:v8'

/**
 * How far V8 lets the old generation grow past what the last full collection
 * kept, before it starts the next one: here 1.5 times.
 *
 * V8 picks that factor itself from how fast its collector runs against how
 * fast the program allocates. Under a sustained stream (a bulk download
 * through a tunnel) the gateway allocates fast, and V8 can settle near its
 * lowest factor: in bench/tunnel (--trace-gc) the limit stood about 25 MB
 * above a 95 MB heap, and a full collection started again 20–60 ms after
 * the last one ended, 5–15 a second at 5–15 ms each. A gateway caught in
 * that loop moved 390–440 MiB/s through one tunnel instead of 650–700, at
 * 2.5–3 ms of CPU per MiB instead of 1; whether a process fell into it was
 * down to chance. With the factor fixed at 1.5, no full collection ran
 * during the downloads traced, and every round ran at 610–743 MiB/s
 * (docs/deploy.md). The cost is memory: between two collections the heap
 * may hold half its live size again in garbage.
 *
 * A V8 flag set at run time rather than on the command line, so that every
 * way of starting the gateway (`edgetainer server`, its workers, the image,
 * the tests and the benchmarks) runs with the same heap. V8 reads it each
 * time it sets the next limit.
 */
export const HEAP_GROWING_PERCENT = 50

export function setHeapGrowth(percent = HEAP_GROWING_PERCENT): void {
  v8.setFlagsFromString(`--heap-growing-percent=${percent}`)
}
