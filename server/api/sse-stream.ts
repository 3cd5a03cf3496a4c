import type { Request, Response } from 'express'
import type { Authenticator } from '../auth/authenticator.js'
import type { LiveAccess } from '../auth/live-access.js'
import type { Role } from '../db/schema.js'
import type { AuthenticatedUser } from '../auth/session-tokens.js'

export interface SseStream {
  /** One event; `id` becomes the client's Last-Event-ID. Resolves once the socket takes more (back-pressure). */
  send(event: string, data: unknown, id?: string): Promise<void>
  readonly closed: boolean
  /** Resolves when the stream ends: the client left, or its access ended. */
  readonly done: Promise<void>
  /** Ends the stream from the server side. */
  close(): void
  /** Runs when the stream ends, whoever ended it. */
  onClose(fn: () => void): void
}

/**
 * A Server-Sent Events response that lives as long as the caller's access:
 * headers that keep proxies from buffering, a comment line every
 * `keepAliveMs` so idle connections are not cut, and a live-access watch
 * that ends the stream (with an `access.revoked` event) on logout, a revoked
 * token, a disabled account or a demotion below `requiredRole`. Shared by
 * every streaming route, so they all end the same way.
 */
export function openSseStream(deps: {
  req: Request
  res: Response
  user: AuthenticatedUser
  requiredRole: Role
  authenticator: Authenticator
  liveAccess: LiveAccess
  keepAliveMs: number
  /** The comment text sent on idle streams (`ping`, `keep-alive`). */
  keepAliveComment: string
}): SseStream {
  const { req, res } = deps
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    Connection: 'keep-alive',
    // nginx buffers responses by default, which would hold events back.
    'X-Accel-Buffering': 'no',
  })
  res.socket?.setNoDelay(true)
  // Reconnect after 3 s if the stream drops.
  res.write('retry: 3000\n: connected\n\n')

  let closed = false
  const closers: (() => void)[] = []
  let resolveDone!: () => void
  const done = new Promise<void>((resolve) => (resolveDone = resolve))

  const close = () => {
    if (closed) return
    closed = true
    clearInterval(ping)
    untrack()
    for (const fn of closers.splice(0)) fn()
    res.end()
    resolveDone()
  }
  const ping = setInterval(() => res.write(`: ${deps.keepAliveComment}\n\n`), deps.keepAliveMs)
  const credentials = { authorization: req.get('authorization'), cookie: req.get('cookie') }
  const untrack = deps.liveAccess.track({
    user: deps.user,
    requiredRole: deps.requiredRole,
    reverify: () => deps.authenticator.authenticateHeaders(credentials),
    close: (reason) => {
      res.write(`event: access.revoked\ndata: ${JSON.stringify({ reason })}\n\n`)
      close()
    },
  })
  req.on('close', close)
  res.on('close', close)
  res.on('error', close)

  return {
    async send(event, data, id) {
      if (closed) return
      // An id or event name with a line break would split the frame; ours never have one, but say so in code.
      const head = `${id ? `id: ${id.replace(/[\r\n]/g, '')}\n` : ''}event: ${event.replace(/[\r\n]/g, '')}\n`
      if (!res.write(`${head}data: ${JSON.stringify(data)}\n\n`)) {
        await new Promise<void>((resolve) => {
          const go = () => {
            res.off('drain', go)
            resolve()
          }
          res.on('drain', go)
          closers.push(go)
        })
      }
    },
    get closed() {
      return closed
    },
    done,
    close,
    onClose(fn) {
      if (closed) fn()
      else closers.push(fn)
    },
  }
}
