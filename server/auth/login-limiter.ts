import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible'
import { TooManyRequestsError } from '../errors.js'

/**
 * Counts failed logins per source address. After `maxFailures` within the
 * window the address is refused (429 with Retry-After) until the window ends,
 * whether or not its next password would be right.
 */
export function createLoginLimiter(options: { maxFailures?: number; windowSeconds?: number } = {}) {
  const limiter = new RateLimiterMemory({ points: options.maxFailures ?? 10, duration: options.windowSeconds ?? 900 })

  async function assertAllowed(address: string): Promise<void> {
    const state = await limiter.get(address)
    if (state && state.remainingPoints <= 0) throw new TooManyRequestsError(Math.max(1, Math.ceil(state.msBeforeNext / 1000)))
  }

  async function recordFailure(address: string): Promise<void> {
    try {
      await limiter.consume(address)
    } catch (res) {
      if (!(res instanceof RateLimiterRes)) throw res
    }
  }

  async function recordSuccess(address: string): Promise<void> {
    await limiter.delete(address)
  }

  return { assertAllowed, recordFailure, recordSuccess }
}

export type LoginLimiter = ReturnType<typeof createLoginLimiter>
