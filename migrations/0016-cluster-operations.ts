import { sql, type Kysely } from 'kysely'

// Operating several gateway nodes on one database (issue 17):
// - acme_http_challenges: the HTTP-01 answers of orders in flight. The CA's
//   validation request reaches whichever node the load balancer picks, not
//   necessarily the one that placed the order, so every node must answer it;
// - rate_limits: limiter counters shared by every node (rate-limiter-flexible's
//   RateLimiterPostgres layout), so a password guesser spreading attempts over
//   N nodes does not get N times the budget.
// Migrations are never edited after they land: add a new numbered file instead.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('acme_http_challenges')
    .addColumn('token', 'text', (c) => c.primaryKey())
    .addColumn('key_authorization', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute()
  await db.schema
    .createTable('rate_limits')
    .addColumn('key', 'varchar(255)', (c) => c.primaryKey())
    .addColumn('points', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('expire', 'bigint')
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('rate_limits').ifExists().execute()
  await db.schema.dropTable('acme_http_challenges').ifExists().execute()
}
