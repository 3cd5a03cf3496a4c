import type { Kysely } from 'kysely'
import type { Database } from '../db/schema.js'

export interface AuditEntry {
  actorUserId: string | null
  actor: string
  action: string
  targetType: string
  targetId?: string | null
  /** Never put secret values here: the audit log is readable by every admin. */
  details?: Record<string, unknown>
  ip?: string | null
}

export interface AuditFilter {
  action?: string
  targetType?: string
  targetId?: string
  actorUserId?: string
  limit: number
  offset: number
}

export function createAuditLog(deps: { db: Kysely<Database> }) {
  const { db } = deps

  /** With `executor` (a transaction), the row commits or rolls back with the change it records. */
  async function record(entry: AuditEntry, executor: Kysely<Database> = db): Promise<void> {
    await executor
      .insertInto('audit_log')
      .values({
        actor_user_id: entry.actorUserId,
        actor: entry.actor,
        action: entry.action,
        target_type: entry.targetType,
        target_id: entry.targetId ?? null,
        details: entry.details ? JSON.stringify(entry.details) : null,
        ip_address: entry.ip ?? null,
      })
      .execute()
  }

  async function list(filter: AuditFilter) {
    let query = db.selectFrom('audit_log')
    if (filter.action) query = query.where('action', '=', filter.action)
    if (filter.targetType) query = query.where('target_type', '=', filter.targetType)
    if (filter.targetId) query = query.where('target_id', '=', filter.targetId)
    if (filter.actorUserId) query = query.where('actor_user_id', '=', filter.actorUserId)
    const [items, count] = await Promise.all([
      query.selectAll().orderBy('created_at', 'desc').orderBy('id').limit(filter.limit).offset(filter.offset).execute(),
      query.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
    ])
    return { items, total: Number(count.n) }
  }

  return { record, list }
}

export type AuditLog = ReturnType<typeof createAuditLog>
