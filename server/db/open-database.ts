import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { Kysely, PostgresDialect, sql, type PostgresPool, type PostgresPoolClient } from 'kysely'
import pg from 'pg'
import type { Logger } from '../logger.js'
import { DatabaseUnavailableError, isConnectionFailure } from './database-errors.js'
import { PGliteDialect } from './pglite-dialect.js'
import { lockDataDir } from './data-dir-lock.js'
import type { Database } from './schema.js'

export { DatabaseUnavailableError }

export type Dialect = 'postgres' | 'pglite'

export interface DatabaseHandle {
  readonly db: Kysely<Database>
  readonly dialect: Dialect
  /** A short description for logs, without credentials. */
  readonly description: string
  ping(): Promise<void>
  close(): Promise<void>
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
export async function openDatabase(options: {
  databaseUrl?: string
  dataDir: string
  pgliteDir?: string
  /** A PGlite data dir dump (`dumpDataDir()`) to start a `memory://` database from; tests start from an already migrated one. */
  pgliteSeed?: Blob
  logger?: Logger
}): Promise<DatabaseHandle> {
  if (options.databaseUrl) {
    const description = describePostgres(options.databaseUrl)
    const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 10, connectionTimeoutMillis: 5000 })
    const onClientError = (err: Error) => options.logger?.warn({ err: err.message, database: description }, 'database connection lost')
    // An idle client that loses its server emits on the pool; a checked-out one (held
    // by a transaction between queries) emits on itself, with no listener of pg's: both
    // would end the process unhandled.
    pool.on('error', onClientError)
    pool.on('connect', (client) => client.on('error', onClientError))
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: outageAwarePool(pool) }) })
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
      const e = ((err as Error).cause ?? err) as NodeJS.ErrnoException
      throw new DatabaseUnavailableError(`cannot connect to ${description}: ${e.code ?? e.message.split('\n')[0]}`)
    }
    return handle
  }
  const dir = options.pgliteDir ?? path.join(options.dataDir, 'pglite')
  if (!dir.startsWith('memory://')) mkdirSync(dir, { recursive: true, mode: 0o700 })
  // Before PGlite touches the directory: a second process on it would corrupt it.
  const lock = dir.startsWith('memory://') ? undefined : lockDataDir(dir)
  let pglite: PGlite
  try {
    pglite = await PGlite.create(dir, options.pgliteSeed ? { loadDataDir: options.pgliteSeed } : {})
  } catch (err) {
    lock?.release()
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
      try {
        await db.destroy()
        await pglite.close()
      } finally {
        lock?.release()
      }
    },
  }
}

/**
 * The pool as Kysely sees it, with every connection failure (refused, reset,
 * server shutting down) turned into DatabaseUnavailableError, so the error
 * handler answers 503 without guessing where an ECONNREFUSED came from.
 */
function outageAwarePool(pool: pg.Pool): PostgresPool {
  const unavailable = (err: unknown) =>
    isConnectionFailure(err) ? new DatabaseUnavailableError(`database unavailable: ${(err as Error).message?.split('\n')[0] ?? 'unknown'}`, { cause: err }) : err
  // Kysely keys its connection objects by client, so each pg client keeps one wrapper.
  const wrappers = new WeakMap<pg.PoolClient, PostgresPoolClient>()
  return {
    async connect() {
      let client: pg.PoolClient
      try {
        client = await pool.connect()
      } catch (err) {
        throw unavailable(err)
      }
      let wrapper = wrappers.get(client)
      if (!wrapper) {
        const query = client.query.bind(client) as (...args: unknown[]) => unknown
        wrapper = {
          query: ((...args: unknown[]) => {
            const result = query(...args)
            // A Cursor (streaming) is returned as is; promises get their failure classified.
            return isThenable(result) ? result.then(undefined, (err: unknown) => Promise.reject(unavailable(err))) : result
          }) as PostgresPoolClient['query'],
          release: () => client.release(),
        }
        wrappers.set(client, wrapper)
      }
      return wrapper
    },
    end: () => pool.end(),
  }
}

function isThenable(value: unknown): value is Promise<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function'
}
