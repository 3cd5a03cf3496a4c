import { sql, type Kysely } from 'kysely'

// ACME accounts and the certificates the gateway terminates TLS with.
// Migrations are never edited after they land: add a new numbered file instead.

const now = sql`now()`

export async function up(db: Kysely<any>): Promise<void> {
  // One account per ACME directory; the key is sealed with the gateway's master key.
  await db.schema
    .createTable('acme_accounts')
    .addColumn('directory_url', 'text', (c) => c.primaryKey())
    .addColumn('email', 'text')
    .addColumn('account_url', 'text', (c) => c.notNull())
    .addColumn('key_sealed', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute()

  // One row per certificate, named by its main host (console host, device host or `*.<base>`).
  // A row without cert_pem is a first issuance that has not succeeded yet.
  await db.schema
    .createTable('tls_certificates')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('hosts', 'jsonb', (c) => c.notNull())
    .addColumn('directory_url', 'text')
    .addColumn('cert_pem', 'text')
    .addColumn('key_sealed', 'text')
    .addColumn('serial', 'text')
    .addColumn('issuer', 'text')
    .addColumn('not_before', 'timestamptz')
    .addColumn('not_after', 'timestamptz')
    .addColumn('renew_after', 'timestamptz')
    .addColumn('ari_next_check', 'timestamptz')
    .addColumn('failures', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .addColumn('next_attempt_at', 'timestamptz')
    // Several gateways may share the database: the lease keeps them from ordering the same name twice.
    .addColumn('lease_owner', 'text')
    .addColumn('lease_until', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute()
  await db.schema.createIndex('idx_tls_certificates_updated_at').on('tls_certificates').column('updated_at').execute()
  await db.schema.createIndex('idx_tls_certificates_renew_after').on('tls_certificates').column('renew_after').execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('tls_certificates').ifExists().execute()
  await db.schema.dropTable('acme_accounts').ifExists().execute()
}
