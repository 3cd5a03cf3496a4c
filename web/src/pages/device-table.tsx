import type { Device, Fleet, LiveEvent, Page } from '../api/types'
import { navigate } from '../state/router'
import { StatusBadge } from '../ui/badges'
import { formatDate, timeAgo } from '../ui/format'

/** Applies a device.status event to a loaded page of devices, so the badge changes without a refetch. */
export function applyStatus(page: Page<Device> | undefined, event: LiveEvent): Page<Device> | undefined {
  if (!page || event.type !== 'device.status') return page
  if (!page.items.some((d) => d.id === event.id)) return page
  return { ...page, items: page.items.map((d) => (d.id === event.id ? { ...d, status: event.status, last_seen: event.last_seen ?? d.last_seen } : d)) }
}

export function DeviceTable(props: { items: Device[]; fleets?: Map<string, Fleet>; showFleet?: boolean }) {
  return (
    <table class="table" data-testid="devices-table">
      <thead>
        <tr>
          <th>Device</th>
          <th>Status</th>
          {props.showFleet && <th>Fleet</th>}
          <th>Subdomain</th>
          <th>Last seen</th>
          <th class="num">SSH port</th>
        </tr>
      </thead>
      <tbody>
        {props.items.map((d) => {
          const fleet = d.fleet_id ? props.fleets?.get(d.fleet_id) : undefined
          return (
            <tr key={d.id} data-device={d.device_id} class="clickable" onClick={(e) => !(e.target as Element).closest('a') && navigate(`/devices/${d.id}`)}>
              <td>
                <a class="strong" href={`/devices/${d.id}`}>
                  {d.name}
                </a>
                <div class="mono muted small">{d.device_id}</div>
              </td>
              <td>
                <StatusBadge status={d.status} />
                {d.attention && (
                  <span class="badge pill tone-red attention-pill" title={d.attention} data-testid="attention">
                    needs attention
                  </span>
                )}
              </td>
              {props.showFleet && (
                <td>{fleet ? <a href={`/fleets/${fleet.id}`}>{fleet.name}</a> : d.fleet_id ? <span class="muted">…</span> : <span class="muted">Unassigned</span>}</td>
              )}
              <td class="mono small">{d.subdomain_enabled ? d.subdomain : <span class="muted">{d.subdomain} (off)</span>}</td>
              <td class="muted" title={formatDate(d.last_seen)}>
                {timeAgo(d.last_seen)}
              </td>
              <td class="num mono small">{d.ssh_port ?? '—'}</td>
            </tr>
          )
        })}
      </tbody>
    </table>
  )
}
