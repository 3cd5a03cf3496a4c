import { devices } from '../api/endpoints'
import type { Device, DeviceMetricsSample } from '../api/types'
import { setQuery, useLocation } from '../state/router'
import { formatAxisTime, formatBytes, formatDate, formatDuration, timeAgo } from '../ui/format'
import { FormError } from '../ui/form'
import { LineChart, type ChartPoint } from '../ui/line-chart'
import { Card } from '../ui/page'
import { EmptyState, ErrorState, Loading } from '../ui/states'
import { describeRange, parseTimeRange, sinceOf, TimeRangePicker } from '../ui/time-range'
import { usePoll } from '../ui/use-poll'
import { useResource } from '../ui/use-resource'

/** The API's ceiling: over a long range the newest samples win (it returns the newest `limit`, oldest first). */
const LIMIT = 5000

function percent(used: number | null, total: number | null): number | null {
  return used !== null && total ? (used / total) * 100 : null
}

const series: {
  id: string
  label: string
  tone: 'indigo' | 'teal' | 'amber'
  value(s: DeviceMetricsSample): number | null
  detail?(s: DeviceMetricsSample): string | null
}[] = [
  { id: 'cpu', label: 'CPU', tone: 'indigo', value: (s) => s.cpu_percent, detail: (s) => (s.load_1 !== null ? `load ${s.load_1.toFixed(2)}` : null) },
  {
    id: 'memory',
    label: 'Memory',
    tone: 'teal',
    value: (s) => percent(s.memory_used_bytes, s.memory_total_bytes),
    detail: (s) => (s.memory_used_bytes !== null && s.memory_total_bytes ? `${formatBytes(s.memory_used_bytes)} of ${formatBytes(s.memory_total_bytes)}` : null),
  },
  {
    id: 'disk',
    label: 'Disk',
    tone: 'amber',
    value: (s) => percent(s.disk_used_bytes, s.disk_total_bytes),
    detail: (s) => (s.disk_used_bytes !== null && s.disk_total_bytes ? `${formatBytes(s.disk_used_bytes)} of ${formatBytes(s.disk_total_bytes)}` : null),
  },
]

const sameDay = (a: string | number, b: string | number) => new Date(a).toDateString() === new Date(b).toDateString()

const pct = (v: number) => `${v < 10 ? v.toFixed(1) : Math.round(v)}%`

function MetricCard(props: { spec: (typeof series)[number]; samples: DeviceMetricsSample[]; from: number; to: number; withDay: boolean }) {
  const { spec, samples } = props
  const points: ChartPoint[] = samples.flatMap((s) => {
    const v = spec.value(s)
    return v === null ? [] : [{ t: Date.parse(s.recorded_at), v }]
  })
  const values = points.map((p) => p.v)
  const newest = samples[samples.length - 1]
  const latest = points[points.length - 1]
  return (
    <section class="card metric-card" data-chart={spec.id}>
      <div class="metric-head">
        <div>
          <h2>{spec.label}</h2>
          <span class="muted small">{(newest && spec.detail?.(newest)) ?? '\u00a0'}</span>
        </div>
        <strong class="metric-latest" data-latest>
          {latest ? pct(latest.v) : '—'}
        </strong>
      </div>
      {points.length ? (
        <>
          <LineChart points={points} from={props.from} to={props.to} label={`${spec.label} usage over time`} tone={spec.tone} />
          <div class="chart-x">
            <span>{formatAxisTime(props.from, props.withDay)}</span>
            <span>{formatAxisTime(props.to, props.withDay)}</span>
          </div>
          <dl class="metric-stats">
            <div>
              <dt>Min</dt>
              <dd data-stat="min">{pct(Math.min(...values))}</dd>
            </div>
            <div>
              <dt>Avg</dt>
              <dd data-stat="avg">{pct(values.reduce((a, b) => a + b, 0) / values.length)}</dd>
            </div>
            <div>
              <dt>Max</dt>
              <dd data-stat="max">{pct(Math.max(...values))}</dd>
            </div>
          </dl>
        </>
      ) : (
        <p class="muted metric-none">The agent did not report {spec.label.toLowerCase()} usage in this range.</p>
      )}
    </section>
  )
}

/** Heartbeat history: CPU, memory and disk use over a chosen range, with the latest figures. */
export function DeviceMetrics(props: { device: Device }) {
  const id = props.device.id
  const { query } = useLocation()
  const range = parseTimeRange(query.get('range'), '24h')
  const history = useResource(() => devices.metrics(id, { since: sinceOf(range), limit: LIMIT }), [id, range])
  // Samples arrive once per heartbeat (30 s by default); a minute keeps the chart current without refetching it constantly.
  usePoll(history.reload, 60_000)

  const toolbar = (
    <div class="toolbar toolbar-bare">
      <TimeRangePicker value={range} onChange={(r) => setQuery({ range: r === '24h' ? undefined : r })} />
      {history.data && history.data.items.length > 0 && (
        <span class="toolbar-count" data-testid="metrics-range">
          {history.data.items.length} {history.data.items.length === 1 ? 'sample' : 'samples'} · {formatAxisTime(history.data.items[0]!.recorded_at, true)} –{' '}
          {formatAxisTime(history.data.items[history.data.items.length - 1]!.recorded_at, !sameDay(history.data.items[0]!.recorded_at, history.data.items[history.data.items.length - 1]!.recorded_at))}
          {history.data.items.length === LIMIT && ' (newest only)'}
        </span>
      )}
    </div>
  )

  if (history.error && !history.data) return <>{toolbar}<ErrorState error={history.error} retry={history.reload} feature="Metrics history" /></>
  if (!history.data) return <>{toolbar}<Loading /></>
  const { latest, items } = history.data
  if (!items.length)
    return (
      <>
        {toolbar}
        <Card>
          <EmptyState icon="cpu" title={latest ? `No samples ${describeRange(range)}` : 'No metrics yet'}>
            {latest
              ? `The last sample arrived ${timeAgo(latest.recorded_at)}. Pick a longer range, or check that the device is online.`
              : "The device's agent sends CPU, memory and disk figures with every heartbeat once it connects; the gateway keeps 7 days of them."}
          </EmptyState>
        </Card>
      </>
    )

  const from = Date.parse(items[0]!.recorded_at)
  const to = Math.max(Date.parse(items[items.length - 1]!.recorded_at), from + 60_000)
  const withDay = !sameDay(from, to)
  return (
    <>
      {toolbar}
      {/* A failed refresh keeps the last good charts on screen and says why they may be stale. */}
      {history.error && <FormError error={history.error} />}
      {latest && (
        <div class="facts" data-testid="metrics-latest">
          <div>
            <span>Uptime</span>
            <strong>{latest.uptime_seconds !== null ? formatDuration(latest.uptime_seconds) : '—'}</strong>
          </div>
          <div>
            <span>Load (1 min)</span>
            <strong>{latest.load_1 !== null ? latest.load_1.toFixed(2) : '—'}</strong>
          </div>
          <div>
            <span>Network in / out since boot</span>
            <strong class="small-strong">
              {latest.net_rx_bytes !== null ? formatBytes(latest.net_rx_bytes) : '—'} / {latest.net_tx_bytes !== null ? formatBytes(latest.net_tx_bytes) : '—'}
            </strong>
          </div>
          <div>
            <span>Last sample</span>
            <strong class="small-strong" title={formatDate(latest.recorded_at)}>
              {timeAgo(latest.recorded_at)}
            </strong>
          </div>
        </div>
      )}
      <div class="grid grid-3">
        {series.map((s) => (
          <MetricCard key={s.id} spec={s} samples={items} from={from} to={to} withDay={withDay} />
        ))}
      </div>
    </>
  )
}
