import { sql, type Kysely } from 'kysely'

// Device labels (and the labels a registration token gives the devices it registers),
// phased rollouts with their per-device progress, and per-device release pins that the
// deployment resolver consults before deployments.
// Migrations are never edited after they land: add a new numbered file instead.

const now = sql`now()`
const uuid = sql`gen_random_uuid()`
const emptyObject = sql`'{}'::jsonb`

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('devices').addColumn('labels', 'jsonb', (c) => c.notNull().defaultTo(emptyObject)).execute()
  await db.schema.alterTable('registration_tokens').addColumn('labels', 'jsonb', (c) => c.notNull().defaultTo(emptyObject)).execute()

  await db.schema
    .createTable('rollouts')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('software_id', 'uuid', (c) => c.notNull().references('software.id').onDelete('cascade'))
    .addColumn('version', 'text', (c) => c.notNull())
    .addColumn('fleet_id', 'uuid', (c) => c.references('fleets.id').onDelete('cascade'))
    .addColumn('selector', 'text')
    .addColumn('device_ids', 'jsonb')
    .addColumn('strategy', 'text', (c) => c.notNull().check(sql`strategy in ('immediate', 'manual', 'canary', 'rolling')`))
    .addColumn('settings', 'jsonb', (c) => c.notNull())
    .addColumn('status', 'text', (c) =>
      c.notNull().defaultTo('draft').check(sql`status in ('draft', 'running', 'paused', 'completed', 'cancelled', 'failed', 'rolled_back')`),
    )
    .addColumn('reason', 'text')
    .addColumn('current_wave', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('wave_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('failure_baseline', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_by', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('started_at', 'timestamptz')
    .addColumn('finished_at', 'timestamptz')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute()
  await db.schema.createIndex('idx_rollouts_status').on('rollouts').column('status').execute()
  await db.schema.createIndex('idx_rollouts_software').on('rollouts').column('software_id').execute()
  // One active rollout per fleet and software; the store answers a clear 409 before this fires.
  await db.schema
    .createIndex('uq_rollouts_active_fleet_software')
    .on('rollouts')
    .columns(['fleet_id', 'software_id'])
    .unique()
    .where(sql.ref('status'), 'in', sql`('draft', 'running', 'paused')`)
    .execute()

  await db.schema
    .createTable('rollout_devices')
    .addColumn('rollout_id', 'uuid', (c) => c.notNull().references('rollouts.id').onDelete('cascade'))
    .addColumn('device_id', 'uuid', (c) => c.notNull().references('devices.id').onDelete('cascade'))
    .addColumn('wave', 'integer', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull().defaultTo('pending'))
    .addColumn('reason', 'text')
    .addColumn('previous_version', 'text')
    .addColumn('attempt', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('released_at', 'timestamptz')
    .addColumn('healthy_since', 'timestamptz')
    .addColumn('state_since', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addPrimaryKeyConstraint('rollout_devices_pk', ['rollout_id', 'device_id'])
    .execute()
  await db.schema.createIndex('idx_rollout_devices_device').on('rollout_devices').column('device_id').execute()
  await db.schema.createIndex('idx_rollout_devices_state').on('rollout_devices').columns(['rollout_id', 'state']).execute()

  // What a rollout told a device to run; the resolver reads these before deployments. A null version: run none.
  await db.schema
    .createTable('device_targets')
    .addColumn('device_id', 'uuid', (c) => c.notNull().references('devices.id').onDelete('cascade'))
    .addColumn('software_id', 'uuid', (c) => c.notNull().references('software.id').onDelete('cascade'))
    .addColumn('version', 'text')
    .addColumn('attempt', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('rollout_id', 'uuid', (c) => c.references('rollouts.id').onDelete('set null'))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addPrimaryKeyConstraint('device_targets_pk', ['device_id', 'software_id'])
    .execute()
  await db.schema.createIndex('idx_device_targets_software').on('device_targets').column('software_id').execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['device_targets', 'rollout_devices', 'rollouts']) await db.schema.dropTable(table).ifExists().execute()
  await db.schema.alterTable('registration_tokens').dropColumn('labels').execute()
  await db.schema.alterTable('devices').dropColumn('labels').execute()
}
