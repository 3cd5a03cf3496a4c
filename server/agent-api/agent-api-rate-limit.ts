import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible'
import { TooManyRequestsError } from '../errors.js'
import type { DeviceSession } from '../tunnel/device-session.js'

export interface AgentRateLimitOptions {
  /** Requests one device may make to the agent API within the window. */
  points?: number
  windowSeconds?: number
}

/**
 * A per-device request budget for the in-tunnel agent API, keyed by the
 * device's id (its tunnel session, never anything in the request). A
 * compromised or looping agent gets 429 with Retry-After, which the agent
 * honours, instead of turning its tunnel into database load. The default
 * (600 a minute) is ten times what a healthy agent uses under a log flood.
 */
export function createAgentRateLimit(sessionOf: (req: Request) => DeviceSession, options: AgentRateLimitOptions = {}): RequestHandler {
  const limiter = new RateLimiterMemory({ points: options.points ?? 600, duration: options.windowSeconds ?? 60 })
  return (req: Request, _res: Response, next: NextFunction) => {
    let key: string
    try {
      key = sessionOf(req).device.id
    } catch (err) {
      return next(err)
    }
    limiter.consume(key).then(
      () => next(),
      (res: unknown) => {
        if (!(res instanceof RateLimiterRes)) return next(res)
        next(new TooManyRequestsError(Math.max(1, Math.ceil(res.msBeforeNext / 1000)), 'too many agent API requests from this device; retry later'))
      },
    )
  }
}
