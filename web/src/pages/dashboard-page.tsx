import { audit, devices, fleets } from '../api/endpoints'
import type { AuditEntry, DeviceStatus, Fleet } from '../api/types'
import { useLiveEvents } from '../state/live-events'
import { useCan } from '../state/session'
import { formatDate, timeAgo } from '../ui/format'
import { auditSentence } from '../ui/audit-sentence'
import { Icon, type IconName } from '../ui/icons'
import { Card, PageHeader } from '../ui/page'
import { EmptyState, ErrorState, Loading } from '../ui/states'
import { useDebounced, useResource } from '../ui/use-resource'

const statuses: DeviceStatus[] = ['online', 'offline', 'updating', 'error']

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`

async function loadCounts() {
  const [all, attention, ...byStatus] = await Promise.all([
    devices.list({ limit: 1 }),
    // A failed or rolled-back deploy, or an error: what the gateway counts as needing attention.
    devices.list({ attention: '1', limit: 1 }),
    ...statuses.map((status) => devices.list({ status, limit: 1 })),
  ])
  const counts = Object.fromEntries(statuses.map((s, i) => [s, byStatus[i]!.total])) as Record<DeviceStatus, number>
  return { total: all.total, attention: attention.total, ...counts }
}

function Stat(props: { label: string; value: number | string; icon: IconName; tone: string; foot?: string; href?: string }) {
  return (
    <a class={`stat tone-${props.tone}`} href={props.href} data-stat={props.label}>
      <div class="stat-icon">
        <Icon name={props.icon} size={20} />
      </div>
      <div>
        <div class="stat-value">{props.value}</div>
        <div class="stat-label">{props.label}</div>
        {props.foot && <div class="stat-foot">{props.foot}</div>}
      </div>
    </a>
  )
}

function FleetBars(props: { items: Fleet[] }) {
  const top = [...props.items].sort((a, b) => b.device_count - a.device_count).slice(0, 8)
  if (!top.length)
    return (
      <EmptyState icon="fleets" title="No fleets yet">
        Fleets group devices that run the same software.
      </EmptyState>
    )
  return (
    <ul class="fleet-bars">
      {top.map((f) => {
        const pct = f.device_count ? Math.round((f.online_count / f.device_count) * 100) : 0
        return (
          <li key={f.id}>
            <a href={`/fleets/${f.id}`} class="fleet-bar-name">
              {f.name}
            </a>
            <div class="bar" title={`${f.online_count} of ${f.device_count} online`}>
              <div class="bar-fill" style={{ width: `${pct}%` }} />
            </div>
            <span class="fleet-bar-count">
              <strong>{f.online_count}</strong>/{f.device_count} online
              {f.attention_count ? (
                <span class="badge pill tone-red attention-pill" data-testid="fleet-attention">
                  {f.attention_count} need{f.attention_count === 1 ? 's' : ''} attention
                </span>
              ) : null}
            </span>
          </li>
        )
      })}
    </ul>
  )
}

function ActivityFeed(props: { items: AuditEntry[] }) {
  if (!props.items.length) return <EmptyState icon="activity" title="No activity yet" />
  return (
    <ul class="feed">
      {props.items.map((e) => (
        <li key={e.id}>
          <div class="feed-avatar">{e.actor.slice(0, 1).toUpperCase()}</div>
          <div class="feed-text">
            <span>
              <strong>{e.actor}</strong> {auditSentence(e)}
            </span>
            <time title={formatDate(e.created_at)}>{timeAgo(e.created_at)}</time>
          </div>
        </li>
      ))}
    </ul>
  )
}

export function DashboardPage() {
  const isAdmin = useCan('admin')
  const counts = useResource(loadCounts, [])
  const fleetList = useResource(() => fleets.list({ limit: 200 }), [])
  const activity = useResource(() => (isAdmin ? audit.list({ limit: 8 }) : Promise.resolve(undefined)), [isAdmin])
  const refresh = useDebounced(() => {
    counts.reload()
    fleetList.reload()
  }, 400)
  useLiveEvents(refresh)

  const c = counts.data
  const attention = c ? c.attention : 0
  return (
    <div class="page">
      <PageHeader
        title="Dashboard"
        subtitle="Your fleet at a glance. Counts update as devices connect and disconnect."
        actions={
          isAdmin && (
            <>
              <a class="btn btn-secondary" href="/fleets?new=1">
                <Icon name="fleets" size={16} /> New fleet
              </a>
              <a class="btn btn-primary" href="/devices?new=1">
                <Icon name="plus" size={16} /> Add device
              </a>
            </>
          )
        }
      />
      {counts.error ? (
        <ErrorState error={counts.error} retry={counts.reload} />
      ) : !c ? (
        <Loading />
      ) : (
        <>
          <div class="stats">
            <Stat label="Devices" value={c.total} icon="devices" tone="indigo" foot={plural(fleetList.data?.total ?? 0, 'fleet')} href="/devices" />
            <Stat label="Online" value={c.online} icon="power" tone="green" foot={c.total ? `${Math.round((c.online / c.total) * 100)}% of devices` : 'no devices yet'} href="/devices?status=online" />
            <Stat label="Offline" value={c.offline} icon="server" tone="slate" href="/devices?status=offline" />
            <Stat label="Needs attention" value={attention} icon="alert" tone={attention ? 'red' : 'slate'} foot={attention ? 'failed or rolled-back deploys, errors' : `${c.updating} updating · ${c.error} error`} href="/devices?attention=1" />
          </div>
          {c.total > 0 && (
            <div class="status-overview">
              <div class="status-strip" aria-label="Devices by status">
                {statuses.map((s) => (c[s] ? <div key={s} class={`strip-${s}`} style={{ flexGrow: c[s] }} title={`${c[s]} ${s}`} /> : null))}
              </div>
              <div class="status-legend">
                {statuses.map((s) => (
                  <span key={s}>
                    <i class={`strip-${s}`} />
                    {c[s]} {s}
                  </span>
                ))}
              </div>
            </div>
          )}
        </>
      )}
      <div class={`grid ${isAdmin ? 'grid-2' : ''}`}>
        <Card title="Fleets" actions={<a href="/fleets">View all</a>}>
          {fleetList.error ? <ErrorState error={fleetList.error} retry={fleetList.reload} /> : fleetList.data ? <FleetBars items={fleetList.data.items} /> : <Loading />}
        </Card>
        {isAdmin && (
          <Card title="Recent activity" actions={<a href="/activity">Audit log</a>}>
            {activity.error ? <ErrorState error={activity.error} retry={activity.reload} /> : activity.data ? <ActivityFeed items={activity.data.items} /> : <Loading />}
          </Card>
        )}
      </div>
    </div>
  )
}
