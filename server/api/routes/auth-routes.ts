import type { Response } from 'express'
import { z } from 'zod'
import { parse as parseCookie } from 'cookie'
import { CSRF_HEADER, SESSION_COOKIE } from '../../auth/authenticator.js'
import type { HandoffTickets } from '../../auth/handoff-tickets.js'
import { clientAddress, type PasswordLogin } from '../../auth/password-login.js'
import type { SessionTokens, IssuedSession } from '../../auth/session-tokens.js'
import { DomainError } from '../../errors.js'
import type { UserStore } from '../../users/user-store.js'
import type { RouteRegistry } from '../route-registry.js'
import type { LiveAccess } from '../../auth/live-access.js'

const loginBody = z.object({
  username: z.string().min(1).max(100),
  password: z.string().min(1).max(1000),
})

const handoffQuery = z.object({ next: z.string().url().max(4096) })

/** Backslashes and control characters have no place in a URL we redirect to (browsers "fix" them into other hosts). */
const unsafeInUrl = /[\\\u0000-\u001f\u007f]/

/** Login, refresh and `/api/auth/me` return the CSRF token in this header (the console sends it back as `x-csrf-token`). */
const CSRF_RESPONSE_HEADER = CSRF_HEADER

function sessionCookieOf(header: string | undefined): string | undefined {
  if (!header) return undefined
  try {
    return parseCookie(header)[SESSION_COOKIE] || undefined
  } catch {
    return undefined
  }
}

export function registerAuthRoutes(
  api: RouteRegistry,
  deps: {
    users: UserStore
    sessions: SessionTokens
    passwordLogin: PasswordLogin
    /** Closes the terminals and event streams a signed-out session opened, at once rather than at the next re-check. */
    liveAccess: Pick<LiveAccess, 'recheckUser'>
    consoleHost: string
    baseDomain: string
    handoff: HandoffTickets
    /** True for a URL on a device host at the gateway's own scheme and port; hand-offs go nowhere else. */
    isDeviceOrigin(url: URL): boolean
    /** True when the host and path route to an auth_required service (the route table knows). */
    routesToProtectedService(host: string, path: string): Promise<boolean>
  },
) {
  const { users, sessions, passwordLogin } = deps

  /**
   * The console cookie: host-only (no Domain), so no device host ever receives
   * it; device hosts get sessions of their own through the hand-off. The CSRF
   * token for multipart uploads rides along in a response header.
   */
  function setSessionCookies(res: Response, secure: boolean, session: IssuedSession | undefined) {
    const options = { httpOnly: true, sameSite: 'lax' as const, secure, path: '/' }
    res.set('Cache-Control', 'no-store')
    if (!session) {
      res.clearCookie(SESSION_COOKIE, options)
      return
    }
    res.cookie(SESSION_COOKIE, session.token, { ...options, expires: session.expiresAt })
    res.set(CSRF_RESPONSE_HEADER, sessions.csrfTokenFor(session.sessionId))
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
      if (user.via !== 'session') throw new DomainError('NOT_A_SESSION', 'API tokens do not refresh; create a new token instead')
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
      await deps.liveAccess.recheckUser(user.id, 'the session ended (signed out)')
      setSessionCookies(res, req.secure, undefined)
      await audit('auth.logout', 'user', user.id)
      return undefined
    },
  })

  api.publicRoute({
    method: 'get',
    path: '/api/auth/handoff',
    summary: 'Browser redirect that signs the console user in to one auth_required device service host, with a new session valid on that host only',
    tag: 'auth',
    access: 'public',
    query: handoffQuery,
    async handler({ req, res, query }) {
      const target = new URL(query.next)
      const invalid = (why: string) => new DomainError('VALIDATION_FAILED', `next: ${why}`, 'next')
      if (unsafeInUrl.test(query.next)) throw invalid('must not contain backslashes or control characters')
      if (target.username || target.password) throw invalid('must not carry credentials')
      // The landing redirects to this path on the device host; `//x` there would be another host.
      if (target.pathname.startsWith('//')) throw invalid('path must not start with //')
      if (!deps.isDeviceOrigin(target)) throw invalid("must be a URL on a device service host, at this gateway's scheme and port")
      // Only the cookie counts here: this is a browser navigation, never an API call.
      const token = sessionCookieOf(req.get('cookie'))
      const parent = token ? await sessions.consoleSession(token) : undefined
      if (!parent) {
        res.set('Cache-Control', 'no-store').redirect(302, `/login?next=${encodeURIComponent(req.originalUrl)}`)
        return undefined
      }
      // Sessions are minted only where one is needed, and the host gets a session of its own, never the console's.
      if (!(await deps.routesToProtectedService(target.hostname, target.pathname))) throw invalid('no service that needs a sign-in answers at this address')
      const hostSession = await sessions.issueForHost(parent, target.hostname, { ip: req.ip, userAgent: req.get('user-agent') })
      const ticket = deps.handoff.issue(hostSession.token, target.hostname)
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
    async handler({ res, user }) {
      const view = await users.get(user.id)
      if (user.via !== 'session') return { ...view, authenticated_via: user.via }
      // The console reads its CSRF token here (multipart uploads need it); it is worthless without the session cookie.
      const csrfToken = sessions.csrfTokenFor(user.credentialId)
      res.set(CSRF_RESPONSE_HEADER, csrfToken).set('Cache-Control', 'no-store')
      return { ...view, authenticated_via: user.via, csrf_token: csrfToken }
    },
  })
}
