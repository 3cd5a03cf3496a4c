import { randomBytes } from 'node:crypto'
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose'
import type { Kysely } from 'kysely'
import type { Database, Role } from '../db/schema.js'

export interface AuthenticatedUser {
  id: string
  username: string
  role: Role
  /** Session id when authenticated by a console session (JWT); token id for API tokens. */
  credentialId: string
  via: 'session' | 'api_token'
}

export interface IssuedSession {
  token: string
  sessionId: string
  expiresAt: Date
}

const ISSUER = 'edgetainer'

/**
 * Console/API sessions: a JWT (HS256) naming a row in `sessions`. The row is
 * what makes logout and refresh-rotation real: a revoked or expired row
 * refuses the JWT even while its signature is still valid.
 */
export function createSessionTokens(deps: { db: Kysely<Database>; signingKey: Buffer; ttlSeconds: number }) {
  const { db, signingKey, ttlSeconds } = deps

  async function issue(userId: string, meta: { ip?: string; userAgent?: string } = {}): Promise<IssuedSession> {
    const sessionId = randomBytes(16).toString('base64url')
    const expiresAt = new Date(Date.now() + ttlSeconds * 1000)
    await db
      .insertInto('sessions')
      .values({ id: sessionId, user_id: userId, expires_at: expiresAt, ip_address: meta.ip ?? null, user_agent: meta.userAgent?.slice(0, 300) ?? null, revoked_at: null })
      .execute()
    const token = await new SignJWT({ sid: sessionId })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(ISSUER)
      .setSubject(userId)
      .setIssuedAt()
      .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
      .sign(signingKey)
    return { token, sessionId, expiresAt }
  }

  /** Returns the user, or undefined for a bad, expired or revoked token. */
  async function verify(token: string): Promise<AuthenticatedUser | undefined> {
    let sessionId: string
    try {
      const { payload } = await jwtVerify(token, signingKey, { issuer: ISSUER, algorithms: ['HS256'] })
      if (typeof payload.sid !== 'string') return undefined
      sessionId = payload.sid
    } catch (err) {
      if (err instanceof joseErrors.JOSEError) return undefined
      throw err
    }
    const row = await db
      .selectFrom('sessions')
      .innerJoin('users', 'users.id', 'sessions.user_id')
      .select(['users.id', 'users.username', 'users.role', 'users.disabled', 'sessions.expires_at', 'sessions.revoked_at'])
      .where('sessions.id', '=', sessionId)
      .executeTakeFirst()
    if (!row || row.revoked_at || row.disabled || row.expires_at.getTime() <= Date.now()) return undefined
    return { id: row.id, username: row.username, role: row.role, credentialId: sessionId, via: 'session' }
  }

  async function revoke(sessionId: string): Promise<void> {
    await db.updateTable('sessions').set({ revoked_at: new Date() }).where('id', '=', sessionId).where('revoked_at', 'is', null).execute()
  }

  async function revokeAllForUser(userId: string): Promise<void> {
    await db.updateTable('sessions').set({ revoked_at: new Date() }).where('user_id', '=', userId).where('revoked_at', 'is', null).execute()
  }

  return { issue, verify, revoke, revokeAllForUser, ttlSeconds }
}

export type SessionTokens = ReturnType<typeof createSessionTokens>
