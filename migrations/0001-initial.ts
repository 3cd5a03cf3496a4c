import { sql, type Kysely } from 'kysely'

// Migrations are never edited after they land: add a new numbered file instead.

const now = sql`now()`
const uuid = sql`gen_random_uuid()`

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('users')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('username', 'text', (c) => c.notNull().unique())
    .addColumn('email', 'text', (c) => c.unique())
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull().check(sql`role in ('admin', 'operator', 'viewer')`))
    .addColumn('disabled', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute()

  await db.schema
    .createTable('sessions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('revoked_at', 'timestamptz')
    .addColumn('ip_address', 'text')
    .addColumn('user_agent', 'text')
    .execute()
  await db.schema.createIndex('idx_sessions_user_id').on('sessions').column('user_id').execute()

  await db.schema
    .createTable('api_tokens')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('token', 'text', (c) => c.notNull().unique())
    .addColumn('prefix', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('expires_at', 'timestamptz')
    .addColumn('last_used_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute()
  await db.schema.createIndex('idx_api_tokens_user_id').on('api_tokens').column('user_id').execute()

  await db.schema
    .createTable('fleets')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('description', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute()

  await db.schema
    .createTable('devices')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('device_id', 'text', (c) => c.notNull().unique())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('fleet_id', 'uuid', (c) => c.references('fleets.id').onDelete('set null'))
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('offline'))
    .addColumn('last_seen', 'timestamptz')
    .addColumn('ip_address', 'text')
    .addColumn('os_version', 'text')
    .addColumn('hardware_info', 'jsonb')
    .addColumn('ssh_port', 'integer', (c) => c.unique())
    .addColumn('subdomain', 'text', (c) => c.notNull().unique())
    .addColumn('subdomain_enabled', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('public_key', 'text')
    .addColumn('public_key_fingerprint', 'text', (c) => c.unique())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute()
  await db.schema.createIndex('idx_devices_fleet_id').on('devices').column('fleet_id').execute()
  await db.schema.createIndex('idx_devices_status').on('devices').column('status').execute()
  await db.schema.createIndex('idx_devices_last_seen').on('devices').column('last_seen').execute()

  await db.schema
    .createTable('software')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('repo_url', 'text')
    .addColumn('current_version', 'text')
    .addColumn('versions', 'jsonb')
    .addColumn('docker_compose_yaml', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute()

  await db.schema
    .createTable('deployments')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('software_id', 'uuid', (c) => c.notNull().references('software.id').onDelete('cascade'))
    .addColumn('fleet_id', 'uuid', (c) => c.references('fleets.id').onDelete('cascade'))
    .addColumn('device_id', 'uuid', (c) => c.references('devices.id').onDelete('cascade'))
    .addColumn('version', 'text', (c) => c.notNull())
    .addColumn('pinned', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('env_vars', 'jsonb')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addCheckConstraint('deployments_one_target', sql`(fleet_id is null) <> (device_id is null)`)
    .execute()
  await db.schema.createIndex('idx_deployments_software_id').on('deployments').column('software_id').execute()
  await db.schema.createIndex('idx_deployments_fleet_id').on('deployments').column('fleet_id').execute()
  await db.schema.createIndex('idx_deployments_device_id').on('deployments').column('device_id').execute()

  for (const [table, owner, ownerTable] of [
    ['fleet_env_vars', 'fleet_id', 'fleets'],
    ['device_env_vars', 'device_id', 'devices'],
  ] as const) {
    await db.schema
      .createTable(table)
      .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
      .addColumn(owner, 'uuid', (c) => c.notNull().references(`${ownerTable}.id`).onDelete('cascade'))
      .addColumn('container_name', 'text', (c) => c.notNull())
      .addColumn('env_vars', 'jsonb', (c) => c.notNull())
      .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
      .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
      .addUniqueConstraint(`${table}_owner_container`, [owner, 'container_name'])
      .execute()
  }

  await db.schema
    .createTable('device_logs')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('device_id', 'uuid', (c) => c.notNull().references('devices.id').onDelete('cascade'))
    .addColumn('log_type', 'text', (c) => c.notNull())
    .addColumn('message', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute()
  await db.schema.createIndex('idx_device_logs_device_id').on('device_logs').column('device_id').execute()
  await db.schema.createIndex('idx_device_logs_created_at').on('device_logs').column('created_at').execute()

  await db.schema
    .createTable('exposed_services')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('device_id', 'uuid', (c) => c.notNull().references('devices.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('container_name', 'text', (c) => c.notNull())
    .addColumn('internal_port', 'integer', (c) => c.notNull())
    .addColumn('external_port', 'integer')
    .addColumn('protocol', 'text', (c) => c.notNull().defaultTo('http').check(sql`protocol in ('http', 'tcp')`))
    .addColumn('url_path', 'text')
    .addColumn('auth_required', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('enabled', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addUniqueConstraint('exposed_services_device_name', ['device_id', 'name'])
    .execute()
  await db.schema.createIndex('idx_exposed_services_device_id').on('exposed_services').column('device_id').execute()

  await db.schema
    .createTable('audit_log')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('actor_user_id', 'uuid', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('target_type', 'text', (c) => c.notNull())
    .addColumn('target_id', 'text')
    .addColumn('details', 'jsonb')
    .addColumn('ip_address', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute()
  await db.schema.createIndex('idx_audit_log_created_at').on('audit_log').column('created_at').execute()
  await db.schema.createIndex('idx_audit_log_target').on('audit_log').columns(['target_type', 'target_id']).execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of [
    'audit_log',
    'exposed_services',
    'device_logs',
    'device_env_vars',
    'fleet_env_vars',
    'deployments',
    'software',
    'devices',
    'fleets',
    'api_tokens',
    'sessions',
    'users',
  ]) {
    await db.schema.dropTable(table).ifExists().execute()
  }
}
