import { sql, type Kysely } from 'kysely'
import { DomainError } from '../errors.js'
import type { Database } from './schema.js'

/** Where a kind of port is recorded: device tunnel ports, and the gateway-side ports of `tcp` services. */
const PORT_COLUMNS = {
  devices: 'ssh_port',
  exposed_services: 'external_port',
} as const

/**
 * The lowest port of `range` that no row of `table` holds. Callers run it in
 * a transaction under their allocation lock, so two gateways sharing one
 * database never hand out the same port.
 */
export async function lowestFreePort(db: Kysely<Database>, table: keyof typeof PORT_COLUMNS, range: { start: number; end: number }): Promise<number> {
  const row = await sql<{ port: number }>`
    select p::int as port from generate_series(${range.start}::int, ${range.end}::int) p
    where not exists (select 1 from ${sql.table(table)} t where ${sql.ref(`t.${PORT_COLUMNS[table]}`)} = p)
    order by p limit 1`.execute(db)
  const port = row.rows[0]?.port
  if (port === undefined) throw new DomainError('PORT_RANGE_EXHAUSTED', `every port in ${range.start}-${range.end} is assigned`)
  return port
}
