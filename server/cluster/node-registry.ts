import { randomUUID } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import type { Database } from '../db/schema.js'
import type { Logger } from '../logger.js'

/** A node whose heartbeat is older than this many of its own intervals is stale (crashed, or cut off). */
export const STALE_AFTER_BEATS = 3

export interface ClusterNode {
  id: string
  peer_url: string | null
  started_at: Date
  heartbeat_at: Date
  heartbeat_interval_ms: number
  stale: boolean
  /** This process's own row. */
  self: boolean
}

/**
 * This gateway node's row in gateway_nodes: registered at start, heartbeated on
 * an interval, removed on clean shutdown. Times are the database's own now(), so
 * nodes with skewed clocks still agree on who is stale.
 */
export function createNodeRegistry(deps: {
  db: Kysely<Database>
  logger: Logger
  nodeId?: string
  peerUrl?: string
  heartbeatMs: number
  /**
   * Our row was gone at a heartbeat: another node swept us as dead (we were
   * cut off or stalled) and marked our devices offline. Called after we
   * registered again, so the caller drops its sessions and devices reconnect
   * to a consistent state.
   */
  onEvicted?: () => void
}) {
  const { db, logger, heartbeatMs } = deps
  const id = deps.nodeId ?? randomUUID()
  let timer: NodeJS.Timeout | undefined
  let beating: Promise<void> | undefined
  let closing = false

  async function upsert() {
    await db
      .insertInto('gateway_nodes')
      .values({ id, peer_url: deps.peerUrl ?? null, heartbeat_interval_ms: heartbeatMs })
      // A fixed node_id restarting after a crash takes its old row over.
      .onConflict((oc) =>
        oc.column('id').doUpdateSet({ peer_url: deps.peerUrl ?? null, heartbeat_interval_ms: heartbeatMs, started_at: sql`now()`, heartbeat_at: sql`now()` }),
      )
      .execute()
  }

  async function beat() {
    try {
      const result = await db.updateTable('gateway_nodes').set({ heartbeat_at: sql`now()` }).where('id', '=', id).executeTakeFirst()
      // Removed under us (swept as dead, an operator cleaning up, a restored backup): register again.
      if (result.numUpdatedRows === 0n && !closing) {
        await upsert()
        logger.warn({ node: id }, 'this node was removed from the registry (swept as dead?); registered again')
        deps.onEvicted?.()
      }
    } catch (err) {
      // A database outage must not end the process; the row just goes stale until it is back.
      logger.warn({ err: (err as Error).message, node: id }, 'node heartbeat failed')
    }
  }

  return {
    id,
    async start() {
      await upsert()
      logger.info({ node: id, peer_url: deps.peerUrl, heartbeat_ms: heartbeatMs }, 'gateway node registered')
      timer = setInterval(() => {
        // One beat at a time: a slow database must not pile them up.
        beating ??= beat().finally(() => (beating = undefined))
      }, heartbeatMs)
      timer.unref()
    },
    /** Every registered node, oldest first, with its staleness judged by the database's clock. */
    async list(): Promise<ClusterNode[]> {
      const rows = await db
        .selectFrom('gateway_nodes')
        .select(['id', 'peer_url', 'started_at', 'heartbeat_at', 'heartbeat_interval_ms'])
        .select(sql<boolean>`heartbeat_at < now() - make_interval(secs => heartbeat_interval_ms * ${STALE_AFTER_BEATS} / 1000.0)`.as('stale'))
        .orderBy('started_at')
        .orderBy('id')
        .execute()
      return rows.map((r) => ({ ...r, stale: Boolean(r.stale), self: r.id === id }))
    },
    /** Clean shutdown: stop beating and leave the registry, so nobody waits for this node to go stale. */
    async close() {
      closing = true
      if (timer) clearInterval(timer)
      timer = undefined
      await beating
      await db.deleteFrom('gateway_nodes').where('id', '=', id).execute()
    },
  }
}

export type NodeRegistry = ReturnType<typeof createNodeRegistry>
