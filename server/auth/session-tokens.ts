import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose'
import type { Kysely } from 'kysely'
import type { Database, Role } from '../db/schema.js'

export interface AuthenticatedUser {
  id: string
  username: string
  role: Role
  /** Session id when authenticated by a console session (JWT); token id for API tokens. */
  credentialId: string
  /** `ssh`: a person on the gateway's jump host (server/ssh-access), tracked as a live connection. */
  via: 'session' | 'api_token' | 'ssh'
}

export interface IssuedSession {
  token: string
  sessionId: string
  expiresAt: Date
}

/**
 * Where a session may be used: the console (and its API), or exactly one
 * device host. A session is valid in one scope only.
 */
export type SessionScope = { kind: 'console' } | { kind: 'device'; host: string }

export const CONSOLE_SCOPE: SessionScope = Object.freeze({ kind: 'console' })

const ISSUER = 'edgetainer'

/**
 * Console/API sessions: a JWT (HS256) naming a row in `sessions`. The row is
 * what makes logout and refresh-rotation real: a revoked or expired row
 * refuses the JWT even while its signature is still valid.
 *
 * Device-host sessions (the hand-off to auth_required services) are rows of
 * their own, bound to one host and to the console session they came from:
 * they die with it (logout, refresh, expiry, password change), and neither
 * kind is accepted where the other belongs.
 */
export function createSessionTokens(deps: { db: Kysely<Database>; signingKey: Buffer; ttlSeconds: number }) {
  const { db, signingKey, ttlSeconds } = deps
  // A key of its own for CSRF tokens, so one is never a valid JWT signature (nor the reverse).
  const csrfKey = createHmac('sha256', signingKey).update('edgetainer csrf-token v1').digest()

  async function insertAndSign(row: { userId: string; expiresAt: Date; ip?: string; userAgent?: string; boundHost?: string; parentId?: string }): Promise<IssuedSession> {
    const sessionId = randomBytes(16).toString('base64url')
    await db
      .insertInto('sessions')
      .values({
        id: sessionId,
        user_id: row.userId,
        expires_at: row.expiresAt,
        ip_address: row.ip ?? null,
        user_agent: row.userAgent?.slice(0, 300) ?? null,
        revoked_at: null,
        bound_host: row.boundHost ?? null,
        parent_session_id: row.parentId ?? null,
      })
      .execute()
    const claims: Record<string, string> = { sid: sessionId }
    if (row.boundHost) claims.host = row.boundHost
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(ISSUER)
      .setSubject(row.userId)
      .setIssuedAt()
      .setExpirationTime(Math.floor(row.expiresAt.getTime() / 1000))
      .sign(signingKey)
    return { token, sessionId, expiresAt: row.expiresAt }
  }

  function issue(userId: string, meta: { ip?: string; userAgent?: string } = {}): Promise<IssuedSession> {
    return insertAndSign({ userId, expiresAt: new Date(Date.now() + ttlSeconds * 1000), ...meta })
  }

  /**
   * A new session for one device host, handed over from a live console
   * session. It expires with its parent at the latest.
   */
  function issueForHost(parent: { sessionId: string; userId: string; expiresAt: Date }, host: string, meta: { ip?: string; userAgent?: string } = {}): Promise<IssuedSession> {
    return insertAndSign({ userId: parent.userId, expiresAt: parent.expiresAt, boundHost: host, parentId: parent.sessionId, ...meta })
  }

  /** The signed claims, or undefined for a bad signature, issuer or expiry. */
  async function claimsOf(token: string): Promise<{ sid: string; host: string | undefined } | undefined> {
    try {
      const { payload } = await jwtVerify(token, signingKey, { issuer: ISSUER, algorithms: ['HS256'] })
      if (typeof payload.sid !== 'string') return undefined
      if (payload.host !== undefined && typeof payload.host !== 'string') return undefined
      return { sid: payload.sid, host: payload.host }
    } catch (err) {
      if (err instanceof joseErrors.JOSEError) return undefined
      throw err
    }
  }

  /** The live session row behind a token, if it is valid in this scope. */
  async function lookup(token: string, scope: SessionScope) {
    const claims = await claimsOf(token)
    if (!claims) return undefined
    const wanted = scope.kind === 'console' ? undefined : scope.host
    if (claims.host !== wanted) return undefined
    const row = await db
      .selectFrom('sessions')
      .innerJoin('users', 'users.id', 'sessions.user_id')
      .leftJoin('sessions as parent', 'parent.id', 'sessions.parent_session_id')
      .select([
        'users.id',
        'users.username',
        'users.role',
        'users.disabled',
        'sessions.expires_at',
        'sessions.revoked_at',
        'sessions.bound_host',
        'sessions.parent_session_id',
        'parent.id as parent_id',
        'parent.expires_at as parent_expires_at',
        'parent.revoked_at as parent_revoked_at',
      ])
      .where('sessions.id', '=', claims.sid)
      .executeTakeFirst()
    if (!row || row.revoked_at || row.disabled || row.expires_at.getTime() <= Date.now()) return undefined
    // The row decides the scope too: a claim and a row that disagree are no session.
    if ((row.bound_host ?? undefined) !== wanted) return undefined
    if (row.parent_session_id) {
      if (!row.parent_id || row.parent_revoked_at || !row.parent_expires_at || row.parent_expires_at.getTime() <= Date.now()) return undefined
    }
    return { sessionId: claims.sid, row }
  }

  /** Returns the user, or undefined for a bad, expired or revoked token, or one that belongs to another scope. */
  async function verify(token: string, scope: SessionScope = CONSOLE_SCOPE): Promise<AuthenticatedUser | undefined> {
    const found = await lookup(token, scope)
    if (!found) return undefined
    const { row } = found
    return { id: row.id, username: row.username, role: row.role, credentialId: found.sessionId, via: 'session' }
  }

  /** A console session's parts, for handing it over to a device host. */
  async function consoleSession(token: string): Promise<{ sessionId: string; userId: string; expiresAt: Date } | undefined> {
    const found = await lookup(token, CONSOLE_SCOPE)
    return found && { sessionId: found.sessionId, userId: found.row.id, expiresAt: found.row.expires_at }
  }

  /** The CSRF token for a console session: an HMAC of its id, so nothing needs storing and it ends with the session. */
  function csrfTokenFor(sessionId: string): string {
    return createHmac('sha256', csrfKey).update(sessionId).digest('base64url')
  }

  function csrfTokenValid(sessionId: string, candidate: string): boolean {
    const expected = Buffer.from(csrfTokenFor(sessionId))
    const given = Buffer.from(candidate)
    return given.length === expected.length && timingSafeEqual(given, expected)
  }

  async function revoke(sessionId: string): Promise<void> {
    await db.updateTable('sessions').set({ revoked_at: new Date() }).where('id', '=', sessionId).where('revoked_at', 'is', null).execute()
  }

  async function revokeAllForUser(userId: string): Promise<void> {
    await db.updateTable('sessions').set({ revoked_at: new Date() }).where('user_id', '=', userId).where('revoked_at', 'is', null).execute()
  }

  return { issue, issueForHost, verify, consoleSession, csrfTokenFor, csrfTokenValid, revoke, revokeAllForUser, ttlSeconds }
}

export type SessionTokens = ReturnType<typeof createSessionTokens>
