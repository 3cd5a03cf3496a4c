import type { Kysely } from 'kysely'
import type { Database, Role, UserRow } from '../db/schema.js'
import { ConflictError, NotFoundError } from '../errors.js'
import { hashPassword } from '../auth/passwords.js'

export interface UserView {
  id: string
  username: string
  email: string | null
  role: Role
  disabled: boolean
  created_at: Date
  updated_at: Date
}

const viewColumns = ['id', 'username', 'email', 'role', 'disabled', 'created_at', 'updated_at'] as const

/**
 * `hash` is the gateway's bounded password hasher (its cost, its concurrency limit); the CLI, which
 * runs alone, hashes directly at OWASP cost.
 */
export function createUserStore(deps: { db: Kysely<Database>; hash?: (password: string) => Promise<string> }) {
  const { db } = deps
  const hash = deps.hash ?? ((password: string) => hashPassword(password))

  async function create(input: { username: string; email?: string | null; password: string; role: Role }): Promise<UserView> {
    const existing = await db.selectFrom('users').select('id').where('username', '=', input.username).executeTakeFirst()
    if (existing) throw new ConflictError(`user ${input.username} already exists`, 'USER_EXISTS', 'username')
    return db
      .insertInto('users')
      .values({ username: input.username, email: input.email ?? null, role: input.role, password_hash: await hash(input.password) })
      .returning(viewColumns)
      .executeTakeFirstOrThrow()
  }

  async function get(id: string): Promise<UserView> {
    const user = await db.selectFrom('users').select(viewColumns).where('id', '=', id).executeTakeFirst()
    if (!user) throw new NotFoundError('USER_NOT_FOUND', 'user')
    return user
  }

  function findByUsername(username: string): Promise<UserRow | undefined> {
    return db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst()
  }

  async function list(q: { limit: number; offset: number }) {
    const [items, count] = await Promise.all([
      db.selectFrom('users').select(viewColumns).orderBy('username').limit(q.limit).offset(q.offset).execute(),
      db.selectFrom('users').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
    ])
    return { items, total: Number(count.n) }
  }

  async function activeAdminCount(): Promise<number> {
    const row = await db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('role', '=', 'admin')
      .where('disabled', '=', false)
      .executeTakeFirstOrThrow()
    return Number(row.n)
  }

  async function update(id: string, patch: { email?: string | null; password?: string; role?: Role; disabled?: boolean }): Promise<UserView> {
    const current = await get(id)
    const losesAdmin = current.role === 'admin' && !current.disabled && ((patch.role && patch.role !== 'admin') || patch.disabled === true)
    if (losesAdmin && (await activeAdminCount()) <= 1) throw new ConflictError('the last active admin cannot be demoted or disabled', 'LAST_ADMIN')
    const values: Record<string, unknown> = { updated_at: new Date() }
    if (patch.email !== undefined) values.email = patch.email
    if (patch.role !== undefined) values.role = patch.role
    if (patch.disabled !== undefined) values.disabled = patch.disabled
    if (patch.password !== undefined) values.password_hash = await hash(patch.password)
    return db.updateTable('users').set(values).where('id', '=', id).returning(viewColumns).executeTakeFirstOrThrow()
  }

  async function remove(id: string): Promise<UserView> {
    const current = await get(id)
    if (current.role === 'admin' && !current.disabled && (await activeAdminCount()) <= 1) {
      throw new ConflictError('the last active admin cannot be deleted', 'LAST_ADMIN')
    }
    await db.deleteFrom('users').where('id', '=', id).execute()
    return current
  }

  /**
   * Ends a user's console sessions and, with `apiTokens`, deletes their API tokens:
   * after a new password nothing issued under the old one may keep working.
   */
  async function revokeCredentials(id: string, what: { apiTokens: boolean }): Promise<{ sessions: number; apiTokens: number }> {
    const sessions = await db.updateTable('sessions').set({ revoked_at: new Date() }).where('user_id', '=', id).where('revoked_at', 'is', null).executeTakeFirst()
    const tokens = what.apiTokens ? await db.deleteFrom('api_tokens').where('user_id', '=', id).executeTakeFirst() : undefined
    return { sessions: Number(sessions.numUpdatedRows), apiTokens: Number(tokens?.numDeletedRows ?? 0n) }
  }

  async function isEmpty(): Promise<boolean> {
    return !(await db.selectFrom('users').select('id').limit(1).executeTakeFirst())
  }

  /**
   * Swaps in a stronger hash of the same password (rehash on login). Only if
   * the stored hash is still the one just verified: a concurrent password
   * change wins. Not a password change, so nothing else is touched.
   */
  async function replacePasswordHash(id: string, verifiedHash: string, newHash: string): Promise<boolean> {
    const result = await db.updateTable('users').set({ password_hash: newHash }).where('id', '=', id).where('password_hash', '=', verifiedHash).executeTakeFirst()
    return Number(result.numUpdatedRows) > 0
  }

  return { create, get, findByUsername, list, update, remove, revokeCredentials, isEmpty, replacePasswordHash }
}

export type UserStore = ReturnType<typeof createUserStore>
