import pg from 'pg'
import type { Logger } from '../logger.js'

/**
 * The PostgreSQL pool that cluster-wide limiters count in (rate-limiter-flexible
 * takes a pg pool, not kysely). Small on purpose: a count is one short
 * statement. Without a database URL (PGlite, one process) there is none and
 * limiters count in memory.
 */
export function createSharedLimitStore(deps: { databaseUrl: string | undefined; logger: Logger }) {
  const pool = deps.databaseUrl ? new pg.Pool({ connectionString: deps.databaseUrl, max: 2, connectionTimeoutMillis: 5000, application_name: 'edgetainer-limits' }) : undefined
  // A lost idle connection is reported here; unheard it would end the process. The limiters fall back to memory meanwhile.
  pool?.on('error', (err) => deps.logger.warn({ err: err.message }, 'limiter database connection lost'))
  pool?.on('connect', (client) => client.on('error', (err) => deps.logger.warn({ err: err.message }, 'limiter database connection lost')))
  return {
    pool,
    async close() {
      await pool?.end()
    },
  }
}
