import type { Kysely, Transaction } from 'kysely'
import type { Database } from './schema.js'

/**
 * Runs `fn` in a transaction: a new one, or the caller's when `db` already is
 * one. Stores built on a route's transaction (so the change and its audit row
 * commit together) then join it instead of failing, as Kysely refuses nested
 * `transaction()` calls.
 */
export function inTransaction<T>(db: Kysely<Database>, fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  return db.isTransaction ? fn(db as Transaction<Database>) : db.transaction().execute(fn)
}
