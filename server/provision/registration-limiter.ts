import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible'
import { TooManyRequestsError } from '../errors.js'

export interface RegistrationLimitOptions {
  /** Registration attempts allowed per source address within the window. */
  maxAttempts?: number
  windowSeconds?: number
}

/**
 * Counts every registration attempt per source address, good or bad. Token
 * values are unguessable; the limit keeps a misbehaving installer (or a
 * scanner) from turning the public endpoint into database load.
 */
export function createRegistrationLimiter(options: RegistrationLimitOptions = {}) {
  const limiter = new RateLimiterMemory({ points: options.maxAttempts ?? 60, duration: options.windowSeconds ?? 600 })

  return {
    async take(address: string): Promise<void> {
      try {
        await limiter.consume(address)
      } catch (res) {
        if (!(res instanceof RateLimiterRes)) throw res
        throw new TooManyRequestsError(Math.max(1, Math.ceil(res.msBeforeNext / 1000)))
      }
    },
  }
}

export type RegistrationLimiter = ReturnType<typeof createRegistrationLimiter>
