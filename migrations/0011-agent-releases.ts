import { sql, type Kysely } from 'kysely'

// Agent releases the gateway has served (content-addressed by sha512, signed),
// the agent each device runs, and the agent version each fleet or device is
// targeted at. Targets live in their own table so a rollout engine can take
// them over without touching fleets or devices.
// Migrations are never edited after they land: add a new numbered file instead.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('agent_releases')
    .addColumn('sha512', 'text', (c) => c.primaryKey())
    .addColumn('version', 'text', (c) => c.notNull())
    .addColumn('arch', 'text', (c) => c.notNull())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('min_gateway_version', 'text', (c) => c.notNull())
    // The signed JSON text and its ed25519 signature, as devices receive them.
    .addColumn('manifest', 'text', (c) => c.notNull())
    .addColumn('signature', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute()
  // Not unique: a changed source built under the same version is a second release, and both stay servable.
  await db.schema.createIndex('idx_agent_releases_version_arch').on('agent_releases').columns(['version', 'arch', 'created_at']).execute()

  await db.schema
    .createTable('device_agents')
    .addColumn('device_id', 'uuid', (c) => c.primaryKey().references('devices.id').onDelete('cascade'))
    .addColumn('version', 'text', (c) => c.notNull())
    .addColumn('arch', 'text')
    .addColumn('reported_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute()

  await db.schema
    .createTable('agent_version_targets')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('fleet_id', 'uuid', (c) => c.references('fleets.id').onDelete('cascade'))
    .addColumn('device_id', 'uuid', (c) => c.references('devices.id').onDelete('cascade'))
    .addColumn('version', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('agent_version_targets_one_scope', sql`(fleet_id is null) <> (device_id is null)`)
    .execute()
  await db.schema.createIndex('idx_agent_version_targets_fleet').on('agent_version_targets').column('fleet_id').unique().where('fleet_id', 'is not', null).execute()
  await db.schema.createIndex('idx_agent_version_targets_device').on('agent_version_targets').column('device_id').unique().where('device_id', 'is not', null).execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('agent_version_targets').ifExists().execute()
  await db.schema.dropTable('device_agents').ifExists().execute()
  await db.schema.dropTable('agent_releases').ifExists().execute()
}
