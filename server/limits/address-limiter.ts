import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible'

/**
 * Counts events per source address within a window (rate-limiter-flexible's
 * memory store): the public endpoints' limiters are each one of these, with
 * their own rule for what counts.
 */
export function createAddressLimiter(options: { points: number; windowSeconds: number }) {
  const limiter = new RateLimiterMemory({ points: options.points, duration: options.windowSeconds })

  /** Seconds until the address may try again, or undefined while it still has points. */
  async function retryAfter(address: string): Promise<number | undefined> {
    const state = await limiter.get(address)
    return state && state.remainingPoints <= 0 ? Math.max(1, Math.ceil(state.msBeforeNext / 1000)) : undefined
  }

  /** Counts one event; returns the seconds to wait when this one went over the limit. */
  async function count(address: string): Promise<number | undefined> {
    try {
      await limiter.consume(address)
      return undefined
    } catch (res) {
      if (!(res instanceof RateLimiterRes)) throw res
      return Math.max(1, Math.ceil(res.msBeforeNext / 1000))
    }
  }

  return { retryAfter, count }
}

export type AddressLimiter = ReturnType<typeof createAddressLimiter>
