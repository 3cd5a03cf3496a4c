import type { Kysely } from 'kysely'

// Sessions bound to one device host (the hand-off to auth_required services).
// A row with bound_host is valid on that host only, and only while its parent
// console session lives: logout, refresh, expiry or a password change of the
// console session ends it too.
// Migrations are never edited after they land: add a new numbered file instead.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('sessions')
    .addColumn('bound_host', 'text')
    .execute()
  await db.schema
    .alterTable('sessions')
    .addColumn('parent_session_id', 'text', (c) => c.references('sessions.id').onDelete('cascade'))
    .execute()
  await db.schema.createIndex('idx_sessions_parent_session_id').on('sessions').column('parent_session_id').execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('idx_sessions_parent_session_id').ifExists().execute()
  await db.schema.alterTable('sessions').dropColumn('parent_session_id').execute()
  await db.schema.alterTable('sessions').dropColumn('bound_host').execute()
}
