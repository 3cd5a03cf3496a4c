import { sql, type Kysely } from 'kysely'

// Live logs and the `before` cursor need one strict order in which log rows
// arrive, across gateway nodes sharing the database: `created_at` is the
// device's clock (and not unique), `seq` is per outbox and the id a UUID.
// `arrival` is a sequence the database hands out at insert; a follower asks
// for rows past the last one it sent, and a cursor names one row exactly.
// The device page's "Release and containers" panel shows what a device says it
// runs: the newest heartbeat's software list is kept beside its containers.
// Migrations are never edited after they land: add a new numbered file instead.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table device_logs add column arrival bigserial`.execute(db)
  await db.schema.createIndex('idx_device_logs_device_arrival').on('device_logs').columns(['device_id', 'arrival']).execute()
  await db.schema.createIndex('idx_device_logs_device_container_arrival').on('device_logs').columns(['device_id', 'container', 'arrival']).execute()
  await db.schema.alterTable('device_metrics_latest').addColumn('running_software', 'jsonb').execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('device_metrics_latest').dropColumn('running_software').execute()
  await db.schema.dropIndex('idx_device_logs_device_container_arrival').ifExists().execute()
  await db.schema.dropIndex('idx_device_logs_device_arrival').ifExists().execute()
  await db.schema.alterTable('device_logs').dropColumn('arrival').execute()
}
