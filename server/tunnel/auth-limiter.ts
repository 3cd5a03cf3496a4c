import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible'

/**
 * Failed SSH authentications per source address. A device retrying with the
 * right key is never slowed; a scanner trying keys is cut off for the window.
 */
export function createSshAuthLimiter(options: { maxFailures?: number; windowSeconds?: number } = {}) {
  const limiter = new RateLimiterMemory({ points: options.maxFailures ?? 20, duration: options.windowSeconds ?? 300 })
  return {
    async blocked(address: string): Promise<boolean> {
      const state = await limiter.get(address)
      return Boolean(state && state.remainingPoints <= 0)
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

export type SshAuthLimiter = ReturnType<typeof createSshAuthLimiter>
