import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible'
import { TooManyRequestsError } from '../errors.js'

export interface ConfigFetchLimitOptions {
  /** Lookups of unknown or unusable tokens allowed per source address within the window. */
  maxFailures?: number
  windowSeconds?: number
}

/**
 * The config route is public: its token is the credential. Only failed
 * lookups count, per source address, so a site where a batch of boxes boots
 * behind one NAT address is never throttled, while guessing tokens is (on top
 * of their 256 bits). A success does not reset the count: holding one good
 * token must not buy unlimited guesses.
 */
export function createConfigFetchLimiter(options: ConfigFetchLimitOptions = {}) {
  const limiter = new RateLimiterMemory({ points: options.maxFailures ?? 20, duration: options.windowSeconds ?? 900 })

  return {
    async assertAllowed(address: string): Promise<void> {
      const state = await limiter.get(address)
      if (state && state.remainingPoints <= 0) throw new TooManyRequestsError(Math.max(1, Math.ceil(state.msBeforeNext / 1000)))
    },
    async recordFailure(address: string): Promise<void> {
      try {
        await limiter.consume(address)
      } catch (res) {
        if (!(res instanceof RateLimiterRes)) throw res
      }
    },
  }
}

export type ConfigFetchLimiter = ReturnType<typeof createConfigFetchLimiter>
