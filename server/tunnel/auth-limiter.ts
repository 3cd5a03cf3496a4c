import { createAddressLimiter } from '../limits/address-limiter.js'

/**
 * Failed SSH authentications per source address. A device retrying with the
 * right key is never slowed; a scanner trying keys is cut off for the window.
 */
export function createSshAuthLimiter(options: { maxFailures?: number; windowSeconds?: number } = {}) {
  const limiter = createAddressLimiter({ points: options.maxFailures ?? 20, windowSeconds: options.windowSeconds ?? 300 })
  return {
    async blocked(address: string): Promise<boolean> {
      return (await limiter.retryAfter(address)) !== undefined
    },
    async recordFailure(address: string): Promise<void> {
      await limiter.count(address)
    },
  }
}

export type SshAuthLimiter = ReturnType<typeof createSshAuthLimiter>
