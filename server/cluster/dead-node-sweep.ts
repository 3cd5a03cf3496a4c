import { sql, type Kysely } from 'kysely'
import type { Database } from '../db/schema.js'
import type { GatewayEvents } from '../events/gateway-events.js'
import type { Logger } from '../logger.js'
import { STALE_AFTER_BEATS } from './node-registry.js'

/**
 * Every live node sweeps, on its heartbeat interval, for nodes that died
 * without a clean shutdown (kill -9, power loss, cut off): their devices are
 * marked offline (their tunnels are gone with the node; the devices reconnect
 * to a live node, which marks them online again with a newer epoch), and their
 * registry rows are deleted. A node that was only cut off finds its row gone at
 * its next heartbeat, registers again and drops its sessions (see node-registry),
 * so devices and rows agree again.
 *
 * Only rows still owned by a dead node are touched: a device that already
 * reconnected elsewhere carries its new owner and is left alone. Several nodes
 * sweeping at once is harmless: the statements are idempotent.
 */
export function createDeadNodeSweep(deps: { db: Kysely<Database>; events: GatewayEvents; logger: Logger; nodeId: string; intervalMs: number }) {
  const { db, events, logger, nodeId } = deps
  let timer: NodeJS.Timeout | undefined
  let sweeping: Promise<void> | undefined

  async function sweep(): Promise<{ devices: number; nodes: number }> {
    const reset = await sql<{ id: string; device_id: string; last_seen: Date | null }>`
      update devices as d set status = 'offline', owner_node = null
      where d.status = 'online' and d.owner_node is not null and d.owner_node <> ${nodeId}
        and not exists (
          select 1 from gateway_nodes n
          where n.id = d.owner_node
            and n.heartbeat_at >= now() - make_interval(secs => n.heartbeat_interval_ms * ${STALE_AFTER_BEATS} / 1000.0))
      returning d.id, d.device_id, d.last_seen`.execute(db)
    const removed = await db
      .deleteFrom('gateway_nodes')
      .where('id', '<>', nodeId)
      .where(sql<boolean>`heartbeat_at < now() - make_interval(secs => heartbeat_interval_ms * ${STALE_AFTER_BEATS} / 1000.0)`)
      .returning('id')
      .execute()
    for (const row of reset.rows) events.emit('device.status', { id: row.id, device_id: row.device_id, status: 'offline', last_seen: row.last_seen })
    if (reset.rows.length || removed.length) {
      logger.warn(
        { devices: reset.rows.length, dead_nodes: removed.map((r) => r.id) },
        'swept dead gateway nodes: their devices are offline until they reconnect',
      )
    }
    return { devices: reset.rows.length, nodes: removed.length }
  }

  return {
    sweep,
    start() {
      timer = setInterval(() => {
        // One sweep at a time; a database outage is logged and the next round retries.
        sweeping ??= sweep()
          .then(() => undefined)
          .catch((err: Error) => logger.warn({ err: err.message }, 'dead node sweep failed'))
          .finally(() => (sweeping = undefined))
      }, deps.intervalMs)
      timer.unref()
    },
    async close() {
      clearInterval(timer)
      timer = undefined
      await sweeping
    },
  }
}

export type DeadNodeSweep = ReturnType<typeof createDeadNodeSweep>
