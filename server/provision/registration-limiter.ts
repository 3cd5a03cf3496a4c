import { createAddressLimiter } from '../limits/address-limiter.js'
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
  const limiter = createAddressLimiter({ points: options.maxAttempts ?? 60, windowSeconds: options.windowSeconds ?? 600 })

  return {
    async take(address: string): Promise<void> {
      const wait = await limiter.count(address)
      if (wait !== undefined) throw new TooManyRequestsError(wait)
    },
  }
}

export type RegistrationLimiter = ReturnType<typeof createRegistrationLimiter>
