import type { PGlite } from '@electric-sql/pglite'
import {
  CompiledQuery,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  type QueryResult,
  type TransactionSettings,
} from 'kysely'
import { Mutex } from 'async-mutex'
import { DatabaseUnavailableError } from './database-errors.js'

/**
 * Kysely dialect for embedded PGlite. PGlite is one connection, so the driver
 * hands it out under a mutex: a transaction holds it from BEGIN to COMMIT and
 * no other query can slip in between.
 */
export class PGliteDialect implements Dialect {
  readonly #pglite: PGlite
  constructor(pglite: PGlite) {
    this.#pglite = pglite
  }
  createAdapter() {
    return new PostgresAdapter()
  }
  createDriver(): Driver {
    return new PGliteDriver(this.#pglite)
  }
  createIntrospector(db: Kysely<any>) {
    return new PostgresIntrospector(db)
  }
  createQueryCompiler() {
    return new PostgresQueryCompiler()
  }
}

class PGliteDriver implements Driver {
  readonly #connection: PGliteConnection
  readonly #mutex = new Mutex()
  #release: (() => void) | undefined

  constructor(pglite: PGlite) {
    this.#connection = new PGliteConnection(pglite)
  }
  async init() {}
  async acquireConnection(): Promise<DatabaseConnection> {
    this.#release = await this.#mutex.acquire()
    return this.#connection
  }
  async beginTransaction(conn: DatabaseConnection, settings: TransactionSettings) {
    const isolation = settings.isolationLevel ? ` isolation level ${settings.isolationLevel}` : ''
    await conn.executeQuery(CompiledQuery.raw(`begin${isolation}`))
  }
  async commitTransaction(conn: DatabaseConnection) {
    await conn.executeQuery(CompiledQuery.raw('commit'))
  }
  async rollbackTransaction(conn: DatabaseConnection) {
    await conn.executeQuery(CompiledQuery.raw('rollback'))
  }
  async releaseConnection() {
    const release = this.#release
    this.#release = undefined
    release?.()
  }
  async destroy() {}
}

class PGliteConnection implements DatabaseConnection {
  readonly #pglite: PGlite
  constructor(pglite: PGlite) {
    this.#pglite = pglite
  }
  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    let result
    try {
      result = await this.#pglite.query<R>(query.sql, query.parameters as unknown[])
    } catch (err) {
      // A closed or aborted embedded database is an outage (503), not a bug in the request (500).
      if (this.#pglite.closed || err instanceof WebAssembly.RuntimeError || /PGlite is closed/.test((err as Error)?.message ?? '')) {
        throw new DatabaseUnavailableError(`embedded database unavailable: ${(err as Error)?.message?.split('\n')[0]}`, { cause: err })
      }
      throw err
    }
    const affected = result.affectedRows === undefined ? undefined : BigInt(result.affectedRows)
    return { rows: result.rows, numAffectedRows: affected }
  }
  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming queries are not supported on PGlite')
  }
}
