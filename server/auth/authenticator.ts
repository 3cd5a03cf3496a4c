import type { Request } from 'express'
import { parse as parseCookie } from 'cookie'
import { API_TOKEN_PREFIX, type ApiTokens } from './api-tokens.js'
import type { AuthenticatedUser, SessionTokens } from './session-tokens.js'
import { ForbiddenError } from '../errors.js'

export const SESSION_COOKIE = 'edgetainer_session'

const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * Resolves the caller from `Authorization: Bearer` (JWT or API token) or the
 * console session cookie. Cookie-authenticated writes must come from a page
 * on our own hosts (Origin, else Referer): that is the CSRF defence, since
 * SameSite=Lax alone still lets top-level cross-site POSTs through on old browsers.
 */
export function createAuthenticator(deps: { sessions: SessionTokens; apiTokens: ApiTokens; consoleHost: string; baseDomain: string }) {
  const { sessions, apiTokens, consoleHost, baseDomain } = deps

  function isOwnHost(hostname: string): boolean {
    return hostname === consoleHost || hostname === baseDomain || hostname.endsWith(`.${baseDomain}`)
  }

  function originAllowed(req: Request): boolean {
    const source = req.get('origin') ?? req.get('referer')
    if (!source) return false
    try {
      return isOwnHost(new URL(source).hostname)
    } catch {
      return false
    }
  }

  async function fromBearer(token: string): Promise<AuthenticatedUser | undefined> {
    return token.startsWith(API_TOKEN_PREFIX) ? apiTokens.verify(token) : sessions.verify(token)
  }

  /** The session JWT carried by a request's cookie, if any. */
  function sessionCookie(cookieHeader: string | undefined): string | undefined {
    if (!cookieHeader) return undefined
    return parseCookie(cookieHeader)[SESSION_COOKIE] || undefined
  }

  async function authenticate(req: Request): Promise<AuthenticatedUser | undefined> {
    const header = req.get('authorization')
    if (header) {
      const match = /^Bearer\s+(\S+)$/i.exec(header)
      return match ? fromBearer(match[1]!) : undefined
    }
    const cookieToken = sessionCookie(req.get('cookie'))
    if (!cookieToken) return undefined
    const user = await sessions.verify(cookieToken)
    if (user && !safeMethods.has(req.method) && !originAllowed(req)) {
      throw new ForbiddenError('cross-site request refused: the Origin header does not name this gateway', 'CSRF_CHECK_FAILED')
    }
    return user
  }

  /** For the WebSocket upgrade and the subdomain proxy: the cookie or a Bearer header, no CSRF rule (reads). */
  async function authenticateHeaders(headers: { authorization?: string; cookie?: string }): Promise<AuthenticatedUser | undefined> {
    const match = headers.authorization ? /^Bearer\s+(\S+)$/i.exec(headers.authorization) : null
    if (match) return fromBearer(match[1]!)
    const cookieToken = sessionCookie(headers.cookie)
    return cookieToken ? sessions.verify(cookieToken) : undefined
  }

  return { authenticate, authenticateHeaders, isOwnHost }
}

export type Authenticator = ReturnType<typeof createAuthenticator>
