import type { Response } from 'express'
import { z } from 'zod'
import { parse as parseCookie } from 'cookie'
import { SESSION_COOKIE } from '../../auth/authenticator.js'
import type { HandoffTickets } from '../../auth/handoff-tickets.js'
import { clientAddress, type PasswordLogin } from '../../auth/password-login.js'
import type { SessionTokens, IssuedSession } from '../../auth/session-tokens.js'
import { HttpError } from '../../errors.js'
import type { UserStore } from '../../users/user-store.js'
import type { RouteRegistry } from '../route-registry.js'

const loginBody = z.object({
  username: z.string().min(1).max(100),
  password: z.string().min(1).max(1000),
})

const handoffQuery = z.object({ next: z.string().url().max(4096) })

export function registerAuthRoutes(
  api: RouteRegistry,
  deps: {
    users: UserStore
    sessions: SessionTokens
    passwordLogin: PasswordLogin
    consoleHost: string
    baseDomain: string
    handoff: HandoffTickets
    /** True for hosts the subdomain proxy serves; hand-offs go nowhere else. */
    isDeviceHost(host: string): boolean
  },
) {
  const { users, sessions, passwordLogin } = deps

  /** The console cookie for the console host, and for `.<base>` so auth_required device services see it too. */
  function setSessionCookies(res: Response, secure: boolean, session: IssuedSession | undefined) {
    const options = { httpOnly: true, sameSite: 'lax' as const, secure, path: '/' }
    const domains = [undefined, deps.consoleHost === deps.baseDomain || deps.consoleHost.endsWith(`.${deps.baseDomain}`) ? deps.baseDomain : undefined]
    for (const domain of new Set(domains)) {
      if (session) res.cookie(SESSION_COOKIE, session.token, { ...options, domain, expires: session.expiresAt })
      else res.clearCookie(SESSION_COOKIE, { ...options, domain })
    }
  }

  api.publicRoute({
    method: 'post',
    path: '/api/auth/login',
    summary: 'Log in; returns a session JWT and sets the console cookie',
    tag: 'auth',
    access: 'public',
    body: loginBody,
    async handler({ req, res, body }) {
      // Limits, the bounded password check, rehash and audit live in password-login.ts.
      const address = clientAddress(req)
      const user = await passwordLogin.login({ username: body.username, password: body.password, address })
      const session = await sessions.issue(user.id, { ip: address, userAgent: req.get('user-agent') })
      setSessionCookies(res, req.secure, session)
      return {
        token: session.token,
        expires_at: session.expiresAt,
        user: { id: user.id, username: user.username, email: user.email, role: user.role },
      }
    },
  })

  api.route({
    method: 'post',
    path: '/api/auth/refresh',
    summary: 'Exchange the current session for a fresh one (the old token is revoked)',
    tag: 'auth',
    access: 'viewer',
    async handler({ req, res, user }) {
      if (user.via !== 'session') throw new HttpError(400, 'NOT_A_SESSION', 'API tokens do not refresh; create a new token instead')
      const session = await sessions.issue(user.id, { ip: req.ip, userAgent: req.get('user-agent') })
      await sessions.revoke(user.credentialId)
      setSessionCookies(res, req.secure, session)
      return { token: session.token, expires_at: session.expiresAt }
    },
  })

  api.route({
    method: 'post',
    path: '/api/auth/logout',
    summary: 'Revoke the current session token and clear the cookie',
    tag: 'auth',
    access: 'viewer',
    status: 204,
    async handler({ req, res, user, audit }) {
      if (user.via === 'session') await sessions.revoke(user.credentialId)
      setSessionCookies(res, req.secure, undefined)
      await audit('auth.logout', 'user', user.id)
      return undefined
    },
  })

  api.publicRoute({
    method: 'get',
    path: '/api/auth/handoff',
    summary: 'Browser redirect that carries the console session to a device service host (auth_required services)',
    tag: 'auth',
    access: 'public',
    query: handoffQuery,
    async handler({ req, res, query }) {
      const target = new URL(query.next)
      if (!['http:', 'https:'].includes(target.protocol) || !deps.isDeviceHost(target.hostname)) {
        throw new HttpError(400, 'VALIDATION_FAILED', 'next: must be a URL on a device service host', 'next')
      }
      // Only the cookie counts here: this is a browser navigation, never an API call.
      const token = parseCookie(req.get('cookie') ?? '')[SESSION_COOKIE]
      if (!token || !(await sessions.verify(token))) {
        res.redirect(302, `/login?next=${encodeURIComponent(req.originalUrl)}`)
        return undefined
      }
      const ticket = deps.handoff.issue(token, target.hostname)
      const landing = new URL('/.edgetainer/handoff', target)
      landing.searchParams.set('ticket', ticket)
      landing.searchParams.set('next', `${target.pathname}${target.search}`)
      res.set('Cache-Control', 'no-store').redirect(302, landing.toString())
      return undefined
    },
  })

  api.route({
    method: 'get',
    path: '/api/auth/me',
    summary: 'The current user',
    tag: 'auth',
    access: 'viewer',
    async handler({ user }) {
      const view = await users.get(user.id)
      return { ...view, authenticated_via: user.via }
    },
  })
}
