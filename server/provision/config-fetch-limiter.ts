import { createAddressLimiter } from '../limits/address-limiter.js'
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
  const limiter = createAddressLimiter({ points: options.maxFailures ?? 20, windowSeconds: options.windowSeconds ?? 900 })

  return {
    async assertAllowed(address: string): Promise<void> {
      const wait = await limiter.retryAfter(address)
      if (wait !== undefined) throw new TooManyRequestsError(wait)
    },
    async recordFailure(address: string): Promise<void> {
      await limiter.count(address)
    },
  }
}

export type ConfigFetchLimiter = ReturnType<typeof createConfigFetchLimiter>
