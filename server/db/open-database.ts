import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { Kysely, PostgresDialect, sql } from 'kysely'
import pg from 'pg'
import { PGliteDialect } from './pglite-dialect.js'
import type { Database } from './schema.js'

export type Dialect = 'postgres' | 'pglite'

export interface DatabaseHandle {
  readonly db: Kysely<Database>
  readonly dialect: Dialect
  /** A short description for logs, without credentials. */
  readonly description: string
  ping(): Promise<void>
  close(): Promise<void>
}

export class DatabaseUnavailableError extends Error {
  override name = 'DatabaseUnavailableError'
}

function describePostgres(url: string): string {
  try {
    const u = new URL(url)
    return `PostgreSQL at ${u.hostname}:${u.port || 5432}${u.pathname}`
  } catch {
    return 'PostgreSQL'
  }
}

/**
 * Opens PostgreSQL when a URL is given, otherwise embedded PGlite under
 * `<dataDir>/pglite` (or in memory for `memory://`). Fails fast, with a
 * one-line reason, when the database cannot be reached.
 */
export async function openDatabase(options: { databaseUrl?: string; dataDir: string; pgliteDir?: string }): Promise<DatabaseHandle> {
  if (options.databaseUrl) {
    const description = describePostgres(options.databaseUrl)
    const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 10, connectionTimeoutMillis: 5000 })
    // An idle client that loses its server must not crash the process.
    pool.on('error', () => {})
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) })
    const handle: DatabaseHandle = {
      db,
      dialect: 'postgres',
      description,
      ping: async () => {
        await sql`select 1`.execute(db)
      },
      close: () => db.destroy(),
    }
    try {
      await handle.ping()
    } catch (err) {
      await db.destroy().catch(() => {})
      const e = err as NodeJS.ErrnoException
      throw new DatabaseUnavailableError(`cannot connect to ${description}: ${e.code ?? e.message.split('\n')[0]}`)
    }
    return handle
  }
  const dir = options.pgliteDir ?? path.join(options.dataDir, 'pglite')
  if (!dir.startsWith('memory://')) mkdirSync(dir, { recursive: true, mode: 0o700 })
  let pglite: PGlite
  try {
    pglite = await PGlite.create(dir)
  } catch (err) {
    throw new DatabaseUnavailableError(`cannot open embedded database in ${dir}: ${(err as Error).message.split('\n')[0]}`)
  }
  const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite) })
  return {
    db,
    dialect: 'pglite',
    description: dir.startsWith('memory://') ? 'embedded PGlite (in memory)' : `embedded PGlite in ${dir}`,
    ping: async () => {
      await sql`select 1`.execute(db)
    },
    close: async () => {
      await db.destroy()
      await pglite.close()
    },
  }
}
