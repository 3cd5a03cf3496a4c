import type { Kysely } from 'kysely'
import type { Database } from '../db/schema.js'
import type { Logger } from '../logger.js'

export interface RetentionSettings {
  /** Days of device_logs kept (by when the line was logged); 0 keeps them for ever. */
  deviceLogsDays: number
  /** Days of device_metrics history kept; 0 keeps it for ever. The latest sample per device is never pruned. */
  metricsDays: number
  /** Days a console session row is kept after it expired or was revoked; 0 keeps them for ever. */
  sessionsDays: number
  /** How often pruning runs. */
  intervalMs: number
}

/** Rows deleted per statement: short transactions, no long lock on a busy table. */
const BATCH = 5000
const DAY_MS = 86_400_000

/**
 * Prunes what grows without bound: device logs, metrics history and dead
 * console sessions, on a timer. Deletes run in batches, and a failed run
 * (the database is down, say) is logged and retried at the next tick; it
 * never ends the process.
 */
export function createRetentionPruner(deps: { db: Kysely<Database>; settings: RetentionSettings; logger: Logger; now?: () => Date }) {
  const { db, settings, logger } = deps
  const now = deps.now ?? (() => new Date())
  let timer: NodeJS.Timeout | undefined
  let running: Promise<unknown> = Promise.resolve()
  let closed = false

  const cutoff = (days: number) => new Date(now().getTime() - days * DAY_MS)

  /** Deletes batch after batch until one comes back short. */
  async function drain(deleteBatch: () => Promise<bigint>): Promise<number> {
    let total = 0
    for (;;) {
      const n = Number(await deleteBatch())
      total += n
      if (n < BATCH || closed) return total
    }
  }

  async function pruneOnce(): Promise<{ device_logs: number; device_metrics: number; sessions: number }> {
    const counts = { device_logs: 0, device_metrics: 0, sessions: 0 }
    if (settings.deviceLogsDays > 0) {
      const before = cutoff(settings.deviceLogsDays)
      counts.device_logs = await drain(async () => {
        const r = await db
          .deleteFrom('device_logs')
          .where('id', 'in', (eb) => eb.selectFrom('device_logs').select('id').where('created_at', '<', before).limit(BATCH))
          .executeTakeFirst()
        return r.numDeletedRows
      })
    }
    if (settings.metricsDays > 0) {
      const before = cutoff(settings.metricsDays)
      counts.device_metrics = await drain(async () => {
        const r = await db
          .deleteFrom('device_metrics')
          .where('id', 'in', (eb) => eb.selectFrom('device_metrics').select('id').where('recorded_at', '<', before).limit(BATCH))
          .executeTakeFirst()
        return r.numDeletedRows
      })
    }
    if (settings.sessionsDays > 0) {
      const before = cutoff(settings.sessionsDays)
      counts.sessions = await drain(async () => {
        const r = await db
          .deleteFrom('sessions')
          .where('id', 'in', (eb) =>
            eb
              .selectFrom('sessions')
              .select('id')
              .where((w) => w.or([w('expires_at', '<', before), w('revoked_at', '<', before)]))
              .limit(BATCH),
          )
          .executeTakeFirst()
        return r.numDeletedRows
      })
    }
    if (counts.device_logs + counts.device_metrics + counts.sessions > 0) logger.info({ pruned: counts }, 'retention: pruned old rows')
    return counts
  }

  function schedule(ms: number) {
    if (closed) return
    timer = setTimeout(() => {
      running = pruneOnce()
        .catch((err: Error) => logger.warn({ err: err.message }, 'retention: pruning failed; retrying at the next interval'))
        .finally(() => schedule(settings.intervalMs))
    }, ms)
  }

  return {
    /** Prunes now (after a short pause, so startup is not slowed), then every interval. */
    start(): void {
      schedule(Math.min(settings.intervalMs, 5000))
    },
    pruneOnce,
    async close(): Promise<void> {
      closed = true
      clearTimeout(timer)
      await running
    },
  }
}

export type RetentionPruner = ReturnType<typeof createRetentionPruner>
