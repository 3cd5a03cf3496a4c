import type { Kysely } from 'kysely'

// Retention deletes by age: indexes so that pruning is a range scan, not a
// sequential scan of the biggest tables.
// Migrations are never edited after they land: add a new numbered file instead.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('idx_device_metrics_recorded_at').on('device_metrics').column('recorded_at').execute()
  await db.schema.createIndex('idx_sessions_expires_at').on('sessions').column('expires_at').execute()
  await db.schema.createIndex('idx_sessions_revoked_at').on('sessions').column('revoked_at').execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const name of ['idx_sessions_revoked_at', 'idx_sessions_expires_at', 'idx_device_metrics_recorded_at']) await db.schema.dropIndex(name).ifExists().execute()
}
