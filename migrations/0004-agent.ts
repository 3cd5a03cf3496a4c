import { sql, type Kysely } from 'kysely'

// Registration tokens, what the device agent reports (metrics, outbox cursors)
// and container-aware device logs.
// Migrations are never edited after they land: add a new numbered file instead.

const now = sql`now()`
const uuid = sql`gen_random_uuid()`

const metricColumns = (t: any) =>
  t
    .addColumn('recorded_at', 'timestamptz', (c: any) => c.notNull())
    .addColumn('cpu_percent', 'double precision')
    .addColumn('memory_used_bytes', 'double precision')
    .addColumn('memory_total_bytes', 'double precision')
    .addColumn('disk_used_bytes', 'double precision')
    .addColumn('disk_total_bytes', 'double precision')
    .addColumn('uptime_seconds', 'double precision')
    .addColumn('load_1', 'double precision')
    .addColumn('net_rx_bytes', 'double precision')
    .addColumn('net_tx_bytes', 'double precision')
    .addColumn('containers', 'jsonb', (c: any) => c.notNull())

export async function up(db: Kysely<any>): Promise<void> {
  // Only the token's sha256 is kept; the value is shown once. Options feed Ignition rendering.
  await db.schema
    .createTable('registration_tokens')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('fleet_id', 'uuid', (c) => c.notNull().references('fleets.id').onDelete('cascade'))
    .addColumn('name', 'text')
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('prefix', 'text', (c) => c.notNull())
    .addColumn('max_uses', 'integer', (c) => c.notNull().check(sql`max_uses > 0`))
    .addColumn('uses', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('revoked_at', 'timestamptz')
    .addColumn('options', 'jsonb', (c) => c.notNull())
    .addColumn('created_by', 'text')
    .addColumn('last_used_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addCheckConstraint('registration_tokens_uses', sql`uses >= 0 and uses <= max_uses`)
    .execute()
  await db.schema.createIndex('idx_registration_tokens_fleet_id').on('registration_tokens').column('fleet_id').execute()

  // Which token brought a device in: a retry with the same key and token gets the same device back.
  await db.schema
    .createTable('device_registrations')
    .addColumn('device_id', 'uuid', (c) => c.primaryKey().references('devices.id').onDelete('cascade'))
    .addColumn('token_id', 'uuid', (c) => c.references('registration_tokens.id').onDelete('set null'))
    .addColumn('remote_address', 'text')
    .addColumn('registered_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute()
  await db.schema.createIndex('idx_device_registrations_token_id').on('device_registrations').column('token_id').execute()

  // Heartbeat metrics: every sample (history, pruned by age) and the newest one per device.
  await metricColumns(
    db.schema
      .createTable('device_metrics')
      .addColumn('id', 'bigserial', (c) => c.primaryKey())
      .addColumn('device_id', 'uuid', (c) => c.notNull().references('devices.id').onDelete('cascade')),
  ).execute()
  await db.schema.createIndex('idx_device_metrics_device_time').on('device_metrics').columns(['device_id', 'recorded_at']).execute()
  await metricColumns(
    db.schema.createTable('device_metrics_latest').addColumn('device_id', 'uuid', (c) => c.primaryKey().references('devices.id').onDelete('cascade')),
  ).execute()

  // The last outbox entry stored per device: a batch resent after a lost reply is not stored twice.
  await db.schema
    .createTable('agent_outbox_cursors')
    .addColumn('device_id', 'uuid', (c) => c.primaryKey().references('devices.id').onDelete('cascade'))
    .addColumn('outbox_id', 'text', (c) => c.notNull())
    .addColumn('last_seq', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute()

  // Logs shipped by the agent name their container and keep the device's order (outbox seq).
  await db.schema.alterTable('device_logs').addColumn('container', 'text').addColumn('seq', 'bigint').execute()
  await db.schema.createIndex('idx_device_logs_device_container_time').on('device_logs').columns(['device_id', 'container', 'created_at']).execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('idx_device_logs_device_container_time').ifExists().execute()
  await db.schema.alterTable('device_logs').dropColumn('seq').dropColumn('container').execute()
  for (const table of ['agent_outbox_cursors', 'device_metrics_latest', 'device_metrics', 'device_registrations', 'registration_tokens']) {
    await db.schema.dropTable(table).ifExists().execute()
  }
}
