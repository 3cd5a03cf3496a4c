import type { Config } from '../server/config/config-schema.js'
import { openDatabase } from '../server/db/open-database.js'
import { migrateToLatest } from '../server/db/migrate.js'

export async function runMigrateCommand(config: Config): Promise<void> {
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir })
  try {
    const applied = await migrateToLatest(database.db)
    process.stdout.write(applied.length ? `applied ${applied.join(', ')} to ${database.description}\n` : `${database.description} is up to date\n`)
  } finally {
    await database.close()
  }
}
