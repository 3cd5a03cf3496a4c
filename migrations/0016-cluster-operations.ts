import { sql, type Kysely } from 'kysely'

// Operating several gateway nodes on one database (issue 17):
// - acme_http_challenges: the HTTP-01 answers of orders in flight. The CA's
//   validation request reaches whichever node the load balancer picks, not
//   necessarily the one that placed the order, so every node must answer it;
// Migrations are never edited after they land: add a new numbered file instead.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('acme_http_challenges')
    .addColumn('token', 'text', (c) => c.primaryKey())
    .addColumn('key_authorization', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('acme_http_challenges').ifExists().execute()
}
