import { sql, type Kysely } from 'kysely'

// Software from git repositories: one git_sources row per git software (how to fetch it, its sealed
// credentials and its sync state), and the commit each imported version came from.
// Migrations are never edited after they land: add a new numbered file instead.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('git_sources')
    .addColumn('software_id', 'uuid', (c) => c.primaryKey().references('software.id').onDelete('cascade'))
    // null: the default search order (compose.yaml, compose.yml, docker-compose.yml, docker-compose.yaml).
    .addColumn('compose_path', 'text')
    // null: `.edgetainer/defaults.env` when the repository has it.
    .addColumn('defaults_path', 'text')
    // 0 turns polling off (webhooks and "sync now" still work).
    .addColumn('poll_interval_seconds', 'integer', (c) => c.notNull().defaultTo(300))
    .addColumn('git_username', 'text')
    // Sealed with the gateway's secret box; never returned by the API.
    .addColumn('token_sealed', 'text')
    .addColumn('webhook_secret_sealed', 'text')
    .addColumn('deploy_key_sealed', 'text')
    .addColumn('deploy_key_public', 'text')
    // known_hosts lines for an SSH remote: given by an admin, or pinned at the first successful fetch.
    .addColumn('ssh_known_hosts', 'text')
    .addColumn('last_sync_at', 'timestamptz')
    .addColumn('last_sync_status', 'text', (c) => c.check(sql`last_sync_status in ('ok', 'error')`))
    .addColumn('last_sync_error', 'text')
    .addColumn('last_commit', 'text')
    // The blobs the newest imported version came from: a new version is made only when one of them changes.
    .addColumn('imported_compose_blob', 'text')
    .addColumn('imported_defaults_blob', 'text')
    .addColumn('next_poll_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute()
  await db.schema.createIndex('idx_git_sources_next_poll').on('git_sources').column('next_poll_at').execute()

  await db.schema
    .alterTable('software_versions')
    .addColumn('commit_sha', 'text')
    .addColumn('commit_author', 'text')
    .addColumn('commit_message', 'text')
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('software_versions').dropColumn('commit_message').dropColumn('commit_author').dropColumn('commit_sha').execute()
  await db.schema.dropTable('git_sources').ifExists().execute()
}
