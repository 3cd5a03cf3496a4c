import { Migrator, type Kysely, type MigrationResultSet } from 'kysely'
import { migrations } from '../../migrations/index.js'
import type { Database } from './schema.js'

export class MigrationError extends Error {
  override name = 'MigrationError'
}

/** Brings the schema up to date; returns the names of the migrations it applied. */
export async function migrateToLatest(db: Kysely<Database>): Promise<string[]> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } })
  const result: MigrationResultSet = await migrator.migrateToLatest()
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error')
    const reason = result.error instanceof Error ? result.error.message.split('\n')[0] : String(result.error)
    throw new MigrationError(`migration ${failed?.migrationName ?? '(unknown)'} failed: ${reason}`)
  }
  return (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName)
}
