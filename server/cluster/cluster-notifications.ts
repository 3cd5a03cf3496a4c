import { randomUUID } from 'node:crypto'
import { backOff } from 'exponential-backoff'
import { sql, type Kysely } from 'kysely'
import pg from 'pg'
import { z } from 'zod'
import type { Database } from '../db/schema.js'
import type { Logger } from '../logger.js'

/** The one PostgreSQL channel nodes of a cluster tell each other about changes on. */
export const CLUSTER_CHANNEL = 'edgetainer_cluster'
/** The application_name of the LISTEN connection (operators and tests find it in pg_stat_activity by it). */
export const LISTEN_APPLICATION_NAME = 'edgetainer-listen'

const noticeSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('device'), id: z.string(), device_id: z.string() }),
  z.object({ kind: z.literal('service'), device_uuid: z.string() }),
  z.object({ kind: z.literal('user'), id: z.string(), hint: z.string().optional() }),
  z.object({ kind: z.literal('certificate'), name: z.string() }),
])

/** What a node tells the others: which cached thing changed (they re-read it from the database). */
export type ClusterNotice = z.infer<typeof noticeSchema>

const envelopeSchema = z.object({ origin: z.string(), notice: noticeSchema })

export interface NotificationTuning {
  /** First delay before re-opening a lost LISTEN connection; doubles per failure, full jitter. */
  reconnectBaseMs?: number
  reconnectMaxMs?: number
}

/**
 * Cache invalidation between gateway nodes with PostgreSQL's LISTEN/NOTIFY.
 * A node publishes what changed after its write committed; every other node
 * hears it on a dedicated LISTEN connection and drops or re-reads what it
 * cached. NOTIFY is not queued for a listener that is away, so when that
 * connection drops the node re-opens it (backoff with jitter) and then runs
 * a full resync: whatever changed meanwhile is re-read.
 *
 * On PGlite there is one process and one node: nothing is sent or heard (the
 * in-process event bus already reaches every cache).
 */
export function createClusterNotifications(deps: { db: Kysely<Database>; databaseUrl: string | undefined; logger: Logger; tuning?: NotificationTuning }) {
  const { db, databaseUrl, tuning = {} } = deps
  const log = deps.logger.child({ part: 'cluster-notifications' })
  // Per process, not the node id: a node must ignore its own echo even before it registered.
  const origin = randomUUID()
  const handlers: ((notice: ClusterNotice) => void)[] = []
  const resyncs: (() => unknown)[] = []
  let client: pg.Client | undefined
  let closed = false
  let connections = 0
  let loop: Promise<void> | undefined

  function deliver(payload: string | undefined) {
    let parsed: z.infer<typeof envelopeSchema>
    try {
      parsed = envelopeSchema.parse(JSON.parse(payload ?? ''))
    } catch {
      // Another version of the gateway, or someone's NOTIFY by hand: not ours to act on.
      log.warn('ignored a cluster notification it cannot read')
      return
    }
    if (parsed.origin === origin) return
    for (const handler of handlers) {
      try {
        handler(parsed.notice)
      } catch (err) {
        log.error({ err, kind: parsed.notice.kind }, 'cluster notification handler failed')
      }
    }
  }

  function resync() {
    log.info('LISTEN connection re-opened: reloading caches')
    for (const run of resyncs) {
      Promise.resolve()
        .then(run)
        .catch((err: Error) => log.warn({ err: err.message }, 'cache reload after reconnect failed'))
    }
  }

  /** Opens the LISTEN connection; resolves once it listens. */
  async function open(): Promise<pg.Client> {
    const c = new pg.Client({ connectionString: databaseUrl, application_name: LISTEN_APPLICATION_NAME, connectionTimeoutMillis: 5000, keepAlive: true })
    // A dropped connection emits 'error' (with no listener it would end the process) and then 'end'.
    c.on('error', (err) => log.warn({ err: err.message }, 'LISTEN connection lost'))
    try {
      await c.connect()
      c.on('notification', (msg) => {
        if (msg.channel === CLUSTER_CHANNEL) deliver(msg.payload)
      })
      await c.query(`LISTEN ${CLUSTER_CHANNEL}`)
      return c
    } catch (err) {
      await c.end().catch(() => {})
      throw err
    }
  }

  async function run(firstListen: () => void) {
    while (!closed) {
      try {
        client = await backOff(open, {
          numOfAttempts: Number.MAX_SAFE_INTEGER,
          startingDelay: tuning.reconnectBaseMs ?? 500,
          maxDelay: tuning.reconnectMaxMs ?? 30_000,
          jitter: 'full',
          retry: (err: Error) => {
            if (!closed) log.warn({ err: err.message }, 'cannot open the LISTEN connection; retrying')
            return !closed
          },
        })
      } catch {
        return // closed while retrying
      }
      if (closed) {
        await client.end().catch(() => {})
        return
      }
      connections++
      if (connections === 1) firstListen()
      else resync()
      const current = client
      await new Promise<void>((resolve) => current.once('end', () => resolve()))
      client = undefined
    }
  }

  return {
    enabled: Boolean(databaseUrl),
    origin,
    /** Times the LISTEN connection was opened (1 after start, more after reconnects). */
    get connections() {
      return connections
    },
    /** Hears other nodes' notices. */
    on(handler: (notice: ClusterNotice) => void) {
      handlers.push(handler)
    },
    /** Runs after the LISTEN connection came back: notices sent meanwhile are lost, so reload. */
    onResync(run: () => unknown) {
      resyncs.push(run)
    },
    /** Tells the other nodes; best effort (a failed NOTIFY is logged: their next resync or recheck catches up). */
    publish(notice: ClusterNotice): void {
      if (!databaseUrl || closed) return
      const payload = JSON.stringify({ origin, notice })
      sql`select pg_notify(${CLUSTER_CHANNEL}, ${payload})`.execute(db).catch((err: Error) => log.warn({ err: err.message, kind: notice.kind }, 'cannot notify the other nodes'))
    },
    /** Starts listening; resolves once it listens (or at once on PGlite). */
    async start(): Promise<void> {
      if (!databaseUrl) return
      await new Promise<void>((resolve) => {
        loop = run(resolve)
        // A database that is unreachable now must not hold the start: the loop keeps trying.
        void loop.then(resolve)
        setTimeout(resolve, 5000).unref()
      })
    },
    async close(): Promise<void> {
      closed = true
      // Not awaiting the loop: while the database is away it may sit in a backoff delay, and it ends by itself after it.
      await client?.end().catch(() => {})
    },
  }
}

export type ClusterNotifications = ReturnType<typeof createClusterNotifications>
