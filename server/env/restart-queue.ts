import type { Kysely } from 'kysely'
import type { Database } from '../db/schema.js'
import { inTransaction } from '../db/in-transaction.js'

export interface RestartRequest {
  id: string
  device_id: string
  container: string
  requested_by: string
  requested_at: Date
  consumed_at: Date | null
}

/**
 * Container restarts waiting for a device's agent. The agent API (a later
 * issue) takes them; until then they wait here, surviving gateway restarts.
 */
export function createRestartQueue(deps: { db: Kysely<Database> }) {
  const { db } = deps

  function view(row: { id: string; device_id: string; container_name: string; requested_by: string; requested_at: Date; consumed_at: Date | null }): RestartRequest {
    return { id: row.id, device_id: row.device_id, container: row.container_name, requested_by: row.requested_by, requested_at: row.requested_at, consumed_at: row.consumed_at }
  }

  /** Queues a restart. One already waiting for the same container is returned instead: two restarts in a row are one. */
  async function request(deviceUuid: string, container: string, requestedBy: string): Promise<{ request: RestartRequest; queued: boolean }> {
    return inTransaction(db, async (tx) => {
      // Lock the device row so two concurrent requests do not both insert.
      await tx.selectFrom('devices').select('id').where('id', '=', deviceUuid).forUpdate().executeTakeFirst()
      const waiting = await tx
        .selectFrom('container_restarts')
        .selectAll()
        .where('device_id', '=', deviceUuid)
        .where('container_name', '=', container)
        .where('consumed_at', 'is', null)
        .executeTakeFirst()
      if (waiting) return { request: view(waiting), queued: false }
      const row = await tx
        .insertInto('container_restarts')
        .values({ device_id: deviceUuid, container_name: container, requested_by: requestedBy })
        .returningAll()
        .executeTakeFirstOrThrow()
      return { request: view(row), queued: true }
    })
  }

  async function pending(deviceUuid: string): Promise<RestartRequest[]> {
    const rows = await db
      .selectFrom('container_restarts')
      .selectAll()
      .where('device_id', '=', deviceUuid)
      .where('consumed_at', 'is', null)
      .orderBy('requested_at')
      .execute()
    return rows.map(view)
  }

  /** Marks the device's waiting requests as taken and returns them (the agent's read). */
  async function take(deviceUuid: string): Promise<RestartRequest[]> {
    const rows = await db
      .updateTable('container_restarts')
      .set({ consumed_at: new Date() })
      .where('device_id', '=', deviceUuid)
      .where('consumed_at', 'is', null)
      .returningAll()
      .execute()
    return rows.map(view)
  }

  return { request, pending, take }
}

export type RestartQueue = ReturnType<typeof createRestartQueue>
