import type { Kysely } from 'kysely'
import type { Database } from '../db/schema.js'

export interface LogQuery {
  since?: Date
  container?: string
  limit: number
  offset: number
}

/**
 * Reads what devices shipped into `device_logs`: container log lines, deploy
 * results, container state changes and agent notices, oldest first in the
 * device's own order.
 */
export function createDeviceLogStore(deps: { db: Kysely<Database> }) {
  const { db } = deps

  async function list(deviceUuid: string, q: LogQuery) {
    let base = db.selectFrom('device_logs').where('device_id', '=', deviceUuid)
    if (q.since) base = base.where('created_at', '>=', q.since)
    if (q.container) base = base.where('container', '=', q.container)
    const [rows, count] = await Promise.all([
      base
        .select(['id', 'log_type', 'container', 'message', 'created_at', 'seq'])
        .orderBy('created_at')
        .orderBy('seq')
        .limit(q.limit)
        .offset(q.offset)
        .execute(),
      base.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
    ])
    const items = rows.map((r) => ({ ...r, seq: r.seq === null ? null : Number(r.seq) }))
    return { items, total: Number(count.n) }
  }

  return { list }
}

export type DeviceLogStore = ReturnType<typeof createDeviceLogStore>
