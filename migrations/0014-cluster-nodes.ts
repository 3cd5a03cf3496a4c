import { sql, type Kysely } from 'kysely'

// Several gateway nodes on one database (issue 17):
// - gateway_nodes: each running node registers itself and heartbeats, so others
//   can tell a live node from one that died without a clean shutdown;
// - devices.owner_node / session_epoch: which node holds the device's tunnel, and
//   a counter bumped on every connect, so a late disconnect from an older session
//   (on any node) can never mark a newer session's device offline.
// Migrations are never edited after they land: add a new numbered file instead.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('gateway_nodes')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('peer_url', 'text')
    .addColumn('heartbeat_interval_ms', 'integer', (c) => c.notNull())
    .addColumn('started_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('heartbeat_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute()
  await db.schema.alterTable('devices').addColumn('owner_node', 'text').execute()
  await db.schema.alterTable('devices').addColumn('session_epoch', 'integer', (c) => c.notNull().defaultTo(0)).execute()
  await db.schema.createIndex('idx_devices_owner_node').on('devices').column('owner_node').execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('idx_devices_owner_node').ifExists().execute()
  await db.schema.alterTable('devices').dropColumn('session_epoch').execute()
  await db.schema.alterTable('devices').dropColumn('owner_node').execute()
  await db.schema.dropTable('gateway_nodes').ifExists().execute()
}
