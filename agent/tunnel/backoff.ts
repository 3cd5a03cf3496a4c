/**
 * Reconnect delays: exponential with full jitter (a uniformly random delay
 * between 0 and min(cap, base · 2^attempt)). After a gateway restart a fleet
 * spreads its reconnects over the whole window instead of arriving in waves.
 */
export interface BackoffOptions {
  baseMs: number
  capMs: number
  /** Injected for tests; Math.random otherwise. */
  random?: () => number
}

export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** Math.min(attempt, 30))
  return Math.floor((options.random ?? Math.random)() * ceiling)
}

/** Counts consecutive failures; a success starts again from the base. */
export function createBackoff(options: BackoffOptions) {
  let attempt = 0
  return {
    next(): number {
      return backoffDelay(attempt++, options)
    },
    reset(): void {
      attempt = 0
    },
    get attempt() {
      return attempt
    },
  }
}

/** A delay that a close() can cut short. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const timer = setTimeout(done, ms)
    function done() {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, { once: true })
  })
}
