import { sql, type Kysely } from 'kysely'

// Agents report each phase of applying a release (downloading, installing,
// verifying) where they used to say only `deploying`, which older agents
// still send. Deployments carry how a release replaces the running one
// (update strategy) and whether update locks may be overridden.
// Migrations are never edited after they land: add a new numbered file instead.

const PHASED = sql`status in ('pending', 'deploying', 'downloading', 'installing', 'verifying', 'running', 'failed', 'rolled_back')`
const UNPHASED = sql`status in ('pending', 'deploying', 'running', 'failed', 'rolled_back')`

export async function up(db: Kysely<any>): Promise<void> {
  // 0002 declared the check inline, so it has PostgreSQL's generated name.
  await sql`alter table device_software_status drop constraint if exists device_software_status_status_check`.execute(db)
  await sql`alter table device_software_status add constraint device_software_status_status_check check (${PHASED})`.execute(db)
  await db.schema
    .alterTable('deployments')
    .addColumn('update_strategy', 'text', (c) => c.check(sql`update_strategy in ('download-then-kill', 'kill-then-download')`))
    .execute()
  await db.schema
    .alterTable('deployments')
    .addColumn('override_lock', 'boolean', (c) => c.notNull().defaultTo(false))
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('deployments').dropColumn('override_lock').execute()
  await db.schema.alterTable('deployments').dropColumn('update_strategy').execute()
  await sql`update device_software_status set status = 'deploying' where status in ('downloading', 'installing', 'verifying')`.execute(db)
  await sql`alter table device_software_status drop constraint if exists device_software_status_status_check`.execute(db)
  await sql`alter table device_software_status add constraint device_software_status_status_check check (${UNPHASED})`.execute(db)
}
