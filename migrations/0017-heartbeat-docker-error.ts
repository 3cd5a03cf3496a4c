import type { Kysely } from 'kysely'

// Agents send heartbeats while dockerd does not answer, saying why no container could be read
// (they used to skip the heartbeat). The newest one is kept with the latest sample: device views
// show it, and a rollout does not count soak time on a device whose containers cannot be seen.
// Migrations are never edited after they land: add a new numbered file instead.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('device_metrics_latest').addColumn('docker_error', 'text').execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('device_metrics_latest').dropColumn('docker_error').execute()
}
