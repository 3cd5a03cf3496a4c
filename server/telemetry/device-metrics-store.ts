import type { Kysely, Selectable } from 'kysely'
import type { Database, DeviceMetricsLatestTable } from '../db/schema.js'
import type { ContainerState, DeviceMetrics, RunningSoftware } from '../../shared/agent-wire.js'

export interface MetricsSample {
  recorded_at: Date
  metrics: DeviceMetrics
  containers: ContainerState[]
  /** What the agent says runs; kept on the latest row only. */
  software?: RunningSoftware[]
  /** Why no container could be read (dockerd does not answer); kept on the latest row only. */
  docker_error?: string
}

type LatestRow = Selectable<DeviceMetricsLatestTable>

const metricKeys = [
  'cpu_percent',
  'memory_used_bytes',
  'memory_total_bytes',
  'disk_used_bytes',
  'disk_total_bytes',
  'uptime_seconds',
  'load_1',
  'net_rx_bytes',
  'net_tx_bytes',
] as const satisfies readonly (keyof DeviceMetrics)[]

/** A sample as the API shows it. */
export function metricsView(row: Omit<LatestRow, 'device_id' | 'running_software' | 'docker_error'>) {
  const metrics = Object.fromEntries(metricKeys.map((k) => [k, row[k] === null ? null : Number(row[k])])) as unknown as DeviceMetrics
  return { recorded_at: row.recorded_at, ...metrics, containers: row.containers as ContainerState[] }
}

/**
 * Heartbeat metrics: every sample goes to the history, and the newest one
 * per device is kept apart so device views read one row. The history is
 * pruned by server/retention, not here.
 */
export function createDeviceMetricsStore(deps: { db: Kysely<Database> }) {
  const { db } = deps

  async function record(deviceUuid: string, sample: MetricsSample): Promise<void> {
    const values = {
      recorded_at: sample.recorded_at,
      ...Object.fromEntries(metricKeys.map((k) => [k, finite(sample.metrics[k])])),
      containers: JSON.stringify(sample.containers),
    } as Omit<LatestRow, 'device_id' | 'containers' | 'running_software'> & { containers: string }
    await db.insertInto('device_metrics').values({ device_id: deviceUuid, ...values }).execute()
    const latestOnly = { running_software: JSON.stringify(sample.software ?? []), docker_error: sample.docker_error ?? null }
    await db
      .insertInto('device_metrics_latest')
      .values({ device_id: deviceUuid, ...values, ...latestOnly })
      .onConflict((oc) => oc.column('device_id').doUpdateSet({ ...values, ...latestOnly }))
      .execute()
  }

  async function latest(deviceUuid: string) {
    const row = await db.selectFrom('device_metrics_latest').selectAll().where('device_id', '=', deviceUuid).executeTakeFirst()
    return row ? { ...metricsView(row), docker_error: row.docker_error } : null
  }

  /** The newest heartbeat: when, its containers and the software the agent says it runs. */
  async function latestReport(deviceUuid: string): Promise<{ recorded_at: Date; containers: ContainerState[]; software: RunningSoftware[]; docker_error: string | null } | undefined> {
    const row = await db.selectFrom('device_metrics_latest').select(['recorded_at', 'containers', 'running_software', 'docker_error']).where('device_id', '=', deviceUuid).executeTakeFirst()
    if (!row) return undefined
    return { recorded_at: row.recorded_at, containers: (row.containers ?? []) as ContainerState[], software: (row.running_software ?? []) as RunningSoftware[], docker_error: row.docker_error }
  }

  async function history(deviceUuid: string, options: { since?: Date; limit: number }) {
    let q = db.selectFrom('device_metrics').selectAll().where('device_id', '=', deviceUuid)
    if (options.since) q = q.where('recorded_at', '>=', options.since)
    // Newest samples when the window holds more than the limit, returned oldest first for charts.
    const rows = await q.orderBy('recorded_at', 'desc').limit(options.limit).execute()
    return rows.reverse().map(metricsView)
  }

  return { record, latest, latestReport, history }
}

function finite(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null
}

export type DeviceMetricsStore = ReturnType<typeof createDeviceMetricsStore>
