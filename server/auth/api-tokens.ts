import { createHash, randomBytes } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { Database } from '../db/schema.js'
import type { AuthenticatedUser } from './session-tokens.js'

/** API tokens start with this, so a Bearer value is told apart from a JWT without trying both. */
export const API_TOKEN_PREFIX = 'et_'

function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

export interface ApiTokenView {
  id: string
  user_id: string
  prefix: string
  description: string | null
  expires_at: Date | null
  last_used_at: Date | null
  created_at: Date
}

const viewColumns = ['id', 'user_id', 'prefix', 'description', 'expires_at', 'last_used_at', 'created_at'] as const

/** Long-lived tokens for scripts and CI. Stored only as sha256; the plaintext is returned once, at creation. */
export function createApiTokens(deps: { db: Kysely<Database> }) {
  const { db } = deps

  async function create(userId: string, options: { description?: string; expiresAt?: Date }): Promise<{ token: string; view: ApiTokenView }> {
    const token = API_TOKEN_PREFIX + randomBytes(32).toString('base64url')
    const view = await db
      .insertInto('api_tokens')
      .values({
        user_id: userId,
        token: hashToken(token),
        prefix: token.slice(0, API_TOKEN_PREFIX.length + 6),
        description: options.description ?? null,
        expires_at: options.expiresAt ?? null,
        last_used_at: null,
      })
      .returning(viewColumns)
      .executeTakeFirstOrThrow()
    return { token, view }
  }

  async function verify(token: string): Promise<AuthenticatedUser | undefined> {
    const row = await db
      .selectFrom('api_tokens')
      .innerJoin('users', 'users.id', 'api_tokens.user_id')
      .select(['api_tokens.id as token_id', 'api_tokens.expires_at', 'api_tokens.last_used_at', 'users.id', 'users.username', 'users.role', 'users.disabled'])
      .where('api_tokens.token', '=', hashToken(token))
      .executeTakeFirst()
    if (!row || row.disabled) return undefined
    if (row.expires_at && row.expires_at.getTime() <= Date.now()) return undefined
    // Record use at most once a minute: a busy script must not turn every read into a write.
    if (!row.last_used_at || Date.now() - row.last_used_at.getTime() > 60_000) {
      await db.updateTable('api_tokens').set({ last_used_at: new Date() }).where('id', '=', row.token_id).execute()
    }
    return { id: row.id, username: row.username, role: row.role, credentialId: row.token_id, via: 'api_token' }
  }

  function list(userId: string): Promise<ApiTokenView[]> {
    return db.selectFrom('api_tokens').select(viewColumns).where('user_id', '=', userId).orderBy('created_at', 'desc').execute()
  }

  async function remove(userId: string, tokenId: string): Promise<boolean> {
    const result = await db.deleteFrom('api_tokens').where('id', '=', tokenId).where('user_id', '=', userId).executeTakeFirst()
    return result.numDeletedRows > 0n
  }

  return { create, verify, list, remove }
}

export type ApiTokens = ReturnType<typeof createApiTokens>
