import { sql, type Kysely } from 'kysely'

// Software versions, per-device deployment status and queued container restarts.
// Migrations are never edited after they land: add a new numbered file instead.

const now = sql`now()`
const uuid = sql`gen_random_uuid()`

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('software')
    .addColumn('description', 'text')
    .addColumn('git_ref', 'text')
    .execute()
  await db.schema.alterTable('software').addCheckConstraint('software_source', sql`source in ('manual', 'git')`).execute()

  // Versions are immutable: a change of compose or default env inserts a row, nothing updates one.
  await db.schema
    .createTable('software_versions')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('software_id', 'uuid', (c) => c.notNull().references('software.id').onDelete('cascade'))
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('version', 'text', (c) => c.notNull())
    .addColumn('docker_compose_yaml', 'text', (c) => c.notNull())
    // {vars: {NAME: {value, secret, description}}, services: {svc: {...}}}; secret values sealed.
    .addColumn('env_vars', 'jsonb', (c) => c.notNull())
    .addColumn('created_by', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addUniqueConstraint('software_versions_label', ['software_id', 'version'])
    .addUniqueConstraint('software_versions_seq', ['software_id', 'seq'])
    .execute()

  // One deployment per software and target, so a second deploy updates it instead of stacking.
  await sql`create unique index deployments_software_fleet on deployments (software_id, fleet_id) where fleet_id is not null`.execute(db)
  await sql`create unique index deployments_software_device on deployments (software_id, device_id) where device_id is not null`.execute(db)

  // Keyed by device and software, not by deployment: the agent reports what it runs, whichever deployment put it there.
  await db.schema
    .createTable('device_software_status')
    .addColumn('device_id', 'uuid', (c) => c.notNull().references('devices.id').onDelete('cascade'))
    .addColumn('software_id', 'uuid', (c) => c.notNull().references('software.id').onDelete('cascade'))
    .addColumn('version', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) =>
      c.notNull().check(sql`status in ('pending', 'deploying', 'running', 'failed', 'rolled_back')`),
    )
    .addColumn('error', 'text')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addPrimaryKeyConstraint('device_software_status_pk', ['device_id', 'software_id'])
    .execute()

  await db.schema
    .createTable('container_restarts')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('device_id', 'uuid', (c) => c.notNull().references('devices.id').onDelete('cascade'))
    .addColumn('container_name', 'text', (c) => c.notNull())
    .addColumn('requested_by', 'text', (c) => c.notNull())
    .addColumn('requested_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('consumed_at', 'timestamptz')
    .execute()
  await sql`create index idx_container_restarts_pending on container_restarts (device_id) where consumed_at is null`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('container_restarts').ifExists().execute()
  await db.schema.dropTable('device_software_status').ifExists().execute()
  await sql`drop index if exists deployments_software_device`.execute(db)
  await sql`drop index if exists deployments_software_fleet`.execute(db)
  await db.schema.dropTable('software_versions').ifExists().execute()
  await db.schema.alterTable('software').dropConstraint('software_source').execute()
  await db.schema.alterTable('software').dropColumn('git_ref').dropColumn('description').execute()
}
