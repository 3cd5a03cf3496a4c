import { createHash, randomBytes } from 'node:crypto'
import { sql, type Kysely, type Selectable } from 'kysely'
import type { Database, RegistrationTokensTable } from '../db/schema.js'
import { ValidationError, DomainError, NotFoundError } from '../errors.js'
import { tokenOptionsSchema, type TokenOptions } from './token-options.js'

/** Registration tokens start with this, so a pasted value is recognisable at a glance. */
export const REGISTRATION_TOKEN_PREFIX = 'etr_'
export const DEFAULT_TOKEN_TTL_SECONDS = 24 * 3600

export type RegistrationTokenRow = Selectable<RegistrationTokensTable>
export type TokenState = 'active' | 'expired' | 'used_up' | 'revoked'

export interface UsableToken extends Omit<RegistrationTokenRow, 'options'> {
  options: TokenOptions
}

/**
 * Why a token value cannot be used. An unknown value is 404; a known one that
 * no longer works is 410 Gone, with the reason in `code`.
 */
export class RegistrationTokenError extends DomainError {
  constructor(readonly reason: Exclude<TokenState, 'active'> | 'not_found') {
    const messages = {
      not_found: 'registration token not found',
      expired: 'registration token has expired',
      used_up: 'registration token has been used up',
      revoked: 'registration token has been revoked',
    }
    const codes = {
      not_found: 'REGISTRATION_TOKEN_NOT_FOUND',
      expired: 'REGISTRATION_TOKEN_EXPIRED',
      used_up: 'REGISTRATION_TOKEN_USED_UP',
      revoked: 'REGISTRATION_TOKEN_REVOKED',
    } as const
    super(codes[reason], messages[reason], 'token')
  }
}

export function hashRegistrationToken(value: string): string {
  return createHash('sha256').update(value).digest('hex')
}

export function tokenState(row: Pick<RegistrationTokenRow, 'revoked_at' | 'expires_at' | 'uses' | 'max_uses'>, now = Date.now()): TokenState {
  if (row.revoked_at) return 'revoked'
  if (row.uses >= row.max_uses) return 'used_up'
  if (row.expires_at.getTime() <= now) return 'expired'
  return 'active'
}

/** The token as the API lists it: never its value or hash. */
export function tokenView(row: RegistrationTokenRow) {
  return {
    id: row.id,
    fleet_id: row.fleet_id,
    name: row.name,
    prefix: row.prefix,
    max_uses: row.max_uses,
    uses: row.uses,
    expires_at: row.expires_at,
    revoked_at: row.revoked_at,
    state: tokenState(row),
    options: row.options,
    labels: row.labels ?? {},
    created_by: row.created_by,
    created_at: row.created_at,
    last_used_at: row.last_used_at,
  }
}

export interface NewRegistrationToken {
  fleet_id: string
  name?: string | null
  expires_in_seconds?: number
  max_uses?: number
  options?: TokenOptions
  labels?: Record<string, string>
}

/** Registration tokens, stored as sha256 only. Using one is an atomic conditional update. */
export function createRegistrationTokens(deps: { db: Kysely<Database> }) {
  const { db } = deps

  function usable(row: RegistrationTokenRow): UsableToken {
    return { ...row, options: tokenOptionsSchema.parse(row.options ?? {}) }
  }

  async function create(input: NewRegistrationToken, createdBy: string | null) {
    const fleet = await db.selectFrom('fleets').select('id').where('id', '=', input.fleet_id).executeTakeFirst()
    if (!fleet) throw new ValidationError('fleet_id', `no fleet ${input.fleet_id}`)
    const token = REGISTRATION_TOKEN_PREFIX + randomBytes(32).toString('base64url')
    const row = await db
      .insertInto('registration_tokens')
      .values({
        fleet_id: input.fleet_id,
        name: input.name ?? null,
        token_hash: hashRegistrationToken(token),
        prefix: token.slice(0, REGISTRATION_TOKEN_PREFIX.length + 6),
        max_uses: input.max_uses ?? 1,
        expires_at: new Date(Date.now() + (input.expires_in_seconds ?? DEFAULT_TOKEN_TTL_SECONDS) * 1000),
        revoked_at: null,
        options: JSON.stringify(input.options ?? {}),
        labels: JSON.stringify(input.labels ?? {}),
        created_by: createdBy,
        last_used_at: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow()
    return { token, row }
  }

  function list(filter: { fleet_id?: string } = {}): Promise<RegistrationTokenRow[]> {
    let q = db.selectFrom('registration_tokens').selectAll()
    if (filter.fleet_id) q = q.where('fleet_id', '=', filter.fleet_id)
    return q.orderBy('created_at', 'desc').execute()
  }

  async function get(id: string): Promise<RegistrationTokenRow> {
    const row = await db.selectFrom('registration_tokens').selectAll().where('id', '=', id).executeTakeFirst()
    if (!row) throw new NotFoundError('REGISTRATION_TOKEN_NOT_FOUND', 'registration token')
    return row
  }

  /** Revoking is idempotent: a revoked token keeps its first revocation time. */
  async function revoke(id: string): Promise<RegistrationTokenRow> {
    const row = await get(id)
    if (row.revoked_at) return row
    return db.updateTable('registration_tokens').set({ revoked_at: new Date() }).where('id', '=', id).returningAll().executeTakeFirstOrThrow()
  }

  async function byValue(value: string, executor: Kysely<Database> = db): Promise<RegistrationTokenRow | undefined> {
    if (!value.startsWith(REGISTRATION_TOKEN_PREFIX)) return undefined
    return executor.selectFrom('registration_tokens').selectAll().where('token_hash', '=', hashRegistrationToken(value)).executeTakeFirst()
  }

  /** The token with its options if it can still register a device; otherwise a RegistrationTokenError. Uses nothing. */
  async function findUsable(value: string, executor: Kysely<Database> = db): Promise<UsableToken> {
    const row = await byValue(value, executor)
    if (!row) throw new RegistrationTokenError('not_found')
    const state = tokenState(row)
    if (state !== 'active') throw new RegistrationTokenError(state)
    return usable(row)
  }

  /**
   * Takes one use, atomically: of two concurrent callers for the last use, one gets it and the other a used_up error.
   * Inside a caller's transaction (`executor`), a rollback gives the use back.
   */
  async function consume(value: string, executor: Kysely<Database> = db): Promise<UsableToken> {
    const row = await executor
      .updateTable('registration_tokens')
      .set({ uses: sql`uses + 1`, last_used_at: new Date() })
      .where('token_hash', '=', hashRegistrationToken(value))
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', new Date())
      .where(sql<boolean>`uses < max_uses`)
      .returningAll()
      .executeTakeFirst()
    if (row) return usable(row)
    await findUsable(value, executor)
    throw new RegistrationTokenError('used_up')
  }

  /** Gives a use back when the registration it was taken for failed. */
  async function release(id: string): Promise<void> {
    await db.updateTable('registration_tokens').set({ uses: sql`uses - 1` }).where('id', '=', id).where('uses', '>', 0).execute()
  }

  return { create, list, get, revoke, findUsable, consume, release, byValue }
}

export type RegistrationTokens = ReturnType<typeof createRegistrationTokens>
