import type { Request } from 'express'
import { parse as parseCookie } from 'cookie'
import { API_TOKEN_PREFIX, type ApiTokens } from './api-tokens.js'
import { CONSOLE_SCOPE, type AuthenticatedUser, type SessionScope, type SessionTokens } from './session-tokens.js'
import { ForbiddenError, DomainError } from '../errors.js'
import { isJsonMediaType, isMultipartFormData } from '../http/media-type.js'

export const SESSION_COOKIE = 'edgetainer_session'
/** The header the console sends its CSRF token in (multipart uploads need it). */
export const CSRF_HEADER = 'x-csrf-token'

const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * Resolves the caller from `Authorization: Bearer` (JWT or API token) or a
 * session cookie. Device hosts serve untrusted pages, so a cookie alone never
 * proves intent. A cookie-authenticated write must:
 * - come from the exact console origin (scheme, host, port; Origin, else Referer);
 * - carry JSON (which no cross-origin page can send without a CORS preflight we
 *   never grant), or, for multipart uploads, the session's CSRF token.
 * Bearer callers are not browsers acting on ambient credentials; no such rule applies.
 *
 * `consoleOrigins` is worked out once by the composition root (the listener's
 * own origin and a configured public URL) and read lazily, since ports are
 * known only after listen().
 */
export function createAuthenticator(deps: { sessions: SessionTokens; apiTokens: ApiTokens; consoleOrigins: () => ReadonlySet<string> }) {
  const { sessions, apiTokens } = deps

  function isConsoleOrigin(origin: string): boolean {
    return deps.consoleOrigins().has(origin)
  }

  /** The request's origin: the Origin header, else the origin of the Referer. */
  function sourceOrigin(req: Request): string | undefined {
    const origin = req.get('origin')
    if (origin) return origin
    const referer = req.get('referer')
    if (!referer) return undefined
    try {
      return new URL(referer).origin
    } catch {
      return undefined
    }
  }

  function assertCookieWriteAllowed(req: Request, user: AuthenticatedUser) {
    const origin = sourceOrigin(req)
    if (!origin || !isConsoleOrigin(origin)) {
      throw new ForbiddenError('cross-site request refused: cookie-authenticated writes must come from the console origin', 'CSRF_CHECK_FAILED')
    }
    const contentType = req.get('content-type')
    if (isJsonMediaType(contentType)) return
    if (isMultipartFormData(contentType)) {
      const csrf = req.get(CSRF_HEADER)
      if (csrf === undefined) throw new ForbiddenError(`multipart uploads signed in by cookie need the ${CSRF_HEADER} header (from /api/auth/me)`, 'CSRF_TOKEN_REQUIRED')
      if (!sessions.csrfTokenValid(user.credentialId, csrf)) throw new ForbiddenError(`the ${CSRF_HEADER} header does not match this session`, 'CSRF_TOKEN_INVALID')
      return
    }
    throw new DomainError('UNSUPPORTED_MEDIA_TYPE', 'cookie-authenticated writes must send Content-Type: application/json')
  }

  /** Bearer: an API token, or a session JWT valid in one of the given scopes. */
  async function fromBearer(token: string, scopes: SessionScope[]): Promise<AuthenticatedUser | undefined> {
    if (token.startsWith(API_TOKEN_PREFIX)) return apiTokens.verify(token)
    for (const scope of scopes) {
      const user = await sessions.verify(token, scope)
      if (user) return user
    }
    return undefined
  }

  function bearerToken(header: string | undefined): string | null | undefined {
    if (!header) return undefined
    return /^Bearer\s+(\S+)$/i.exec(header)?.[1] ?? null
  }

  /** The session JWT carried by a request's cookie, if any. A header `cookie` cannot parse is no credential. */
  function sessionCookie(cookieHeader: string | undefined): string | undefined {
    if (!cookieHeader) return undefined
    try {
      return parseCookie(cookieHeader)[SESSION_COOKIE] || undefined
    } catch {
      return undefined
    }
  }

  /** For the console's own routes: console sessions and API tokens only. */
  async function authenticate(req: Request): Promise<AuthenticatedUser | undefined> {
    const bearer = bearerToken(req.get('authorization'))
    if (bearer !== undefined) return bearer ? fromBearer(bearer, [CONSOLE_SCOPE]) : undefined
    const cookieToken = sessionCookie(req.get('cookie'))
    if (!cookieToken) return undefined
    const user = await sessions.verify(cookieToken, CONSOLE_SCOPE)
    if (user && !safeMethods.has(req.method)) assertCookieWriteAllowed(req, user)
    return user
  }

  /**
   * For WebSocket upgrades and the subdomain proxy: the cookie or a Bearer
   * header, with no write rule (the terminal checks the console origin
   * itself). With `deviceHost`, a cookie must hold a session bound to that
   * host; without it, a console session. A Bearer JWT of the console also
   * works on device hosts (scripts), never the reverse.
   */
  async function authenticateHeaders(headers: { authorization?: string; cookie?: string }, options: { deviceHost?: string } = {}): Promise<AuthenticatedUser | undefined> {
    const deviceScope: SessionScope | undefined = options.deviceHost ? { kind: 'device', host: options.deviceHost } : undefined
    const bearer = bearerToken(headers.authorization)
    // Another scheme (a device app's own Basic auth, say) is not ours: the cookie decides.
    if (bearer) return fromBearer(bearer, deviceScope ? [CONSOLE_SCOPE, deviceScope] : [CONSOLE_SCOPE])
    const cookieToken = sessionCookie(headers.cookie)
    return cookieToken ? sessions.verify(cookieToken, deviceScope ?? CONSOLE_SCOPE) : undefined
  }

  return { authenticate, authenticateHeaders, isConsoleOrigin }
}

export type Authenticator = ReturnType<typeof createAuthenticator>
