import type { ComponentChildren } from 'preact'
import { devices } from '../api/endpoints'
import type { Device, Fleet, TunnelForward } from '../api/types'
import { Pill } from '../ui/badges'
import { formatBytes, formatDate, timeAgo } from '../ui/format'
import { Card } from '../ui/page'
import { ErrorState, Loading } from '../ui/states'
import { useResource } from '../ui/use-resource'
import { DeviceAgentCard } from './agent-version'
import { DeviceReleasePanel } from './device-release'

function Fact(props: { label: string; children: ComponentChildren; mono?: boolean }) {
  return (
    <div class="kv">
      <dt>{props.label}</dt>
      <dd class={props.mono ? 'mono' : ''}>{props.children ?? '—'}</dd>
    </div>
  )
}

/** Known hardware_info keys get a gauge; anything else the agent reports is listed as is. */
const gauges: { keys: string[]; label: string }[] = [
  { keys: ['cpu_percent', 'cpu_usage', 'cpu'], label: 'CPU' },
  { keys: ['memory_percent', 'mem_percent', 'memory_usage'], label: 'Memory' },
  { keys: ['disk_percent', 'disk_usage'], label: 'Disk' },
]

/** Labels for the facts the agent reports at registration; unknown keys read as words ("disk_model" → "Disk model"). */
const factLabels: Record<string, string> = {
  arch: 'Architecture',
  platform: 'Platform',
  kernel: 'Kernel',
  cpus: 'CPU cores',
  cpu_model: 'CPU model',
  memory_bytes: 'Memory',
  disk_bytes: 'Disk',
}

function factLabel(key: string): string {
  const words = key.replace(/_bytes$/, '').replace(/_/g, ' ')
  return factLabels[key] ?? words.charAt(0).toUpperCase() + words.slice(1)
}

/** What the agent reported about the machine when it registered (usage over time is on the Metrics tab). */
function Hardware(props: { info: Record<string, unknown> | null }) {
  const info = props.info ?? {}
  const used = new Set<string>()
  const bars = gauges.flatMap((g) => {
    const key = g.keys.find((k) => typeof info[k] === 'number')
    if (!key) return []
    used.add(key)
    return [{ label: g.label, value: Math.max(0, Math.min(100, info[key] as number)) }]
  })
  const rest = Object.entries(info).filter(([k]) => !used.has(k))
  if (!bars.length && !rest.length)
    return <p class="muted">No hardware details reported yet. The agent sends them when it registers; usage over time is on the Metrics tab.</p>
  return (
    <div class="metrics">
      {bars.map((b) => (
        <div class="gauge" key={b.label}>
          <div class="gauge-head">
            <span>{b.label}</span>
            <strong>{Math.round(b.value)}%</strong>
          </div>
          <div class="bar">
            <div class={`bar-fill ${b.value > 85 ? 'hot' : ''}`} style={{ width: `${b.value}%` }} />
          </div>
        </div>
      ))}
      {rest.length > 0 && (
        <dl class="kv-grid">
          {rest.map(([k, v]) => (
            <Fact key={k} label={factLabel(k)}>
              {typeof v === 'number' && /bytes|memory|disk|ram/i.test(k) && v > 1024 ? formatBytes(v) : typeof v === 'object' ? JSON.stringify(v) : String(v)}
            </Fact>
          ))}
        </dl>
      )}
    </div>
  )
}

/** One remote forward the device asked for: its SSH daemon (bound on a gateway loopback port) or a named service. */
function Forward(props: { forward: TunnelForward }) {
  const f = props.forward
  return (
    <li class="forward">
      <Pill tone={f.kind === 'ssh' ? 'violet' : 'blue'}>{f.kind === 'ssh' ? 'ssh' : 'service'}</Pill>
      <span class="mono small">
        {f.kind === 'ssh' ? `sshd → 127.0.0.1:${f.gateway_port ?? f.bind_port}` : `${f.bind_address}:${f.bind_port}`}
      </span>
    </li>
  )
}

function Connection(props: { device: Device }) {
  const live = useResource(() => devices.status(props.device.id), [props.device.id, props.device.status])
  if (live.error) return <ErrorState error={live.error} retry={live.reload} feature="Live tunnel status" />
  if (!live.data) return <Loading />
  const s = live.data.session
  if (!live.data.online || !s) return <p class="muted">No tunnel session. Last seen {timeAgo(props.device.last_seen)}.</p>
  return (
    <dl class="kv-grid">
      <Fact label="Connected">{timeAgo(s.since)}</Fact>
      <Fact label="From" mono>
        {s.remote_address}
      </Fact>
      <div class="kv kv-wide">
        <dt>Forwards</dt>
        <dd>{s.forwards.length ? <ul class="plain">{s.forwards.map((f, i) => <Forward key={i} forward={f} />)}</ul> : 'none'}</dd>
      </div>
    </dl>
  )
}

export function DeviceOverview(props: { device: Device; fleet?: Fleet }) {
  const d = props.device
  const host = window.location.hostname
  return (
    <div class="stack">
      {d.attention && (
        <div class="card-alert-attention" role="alert" data-testid="device-attention">
          <strong>Needs attention.</strong> {d.attention}
        </div>
      )}
      <DeviceReleasePanel device={d} />
    <div class="grid grid-2">
      <Card title="Details">
        <dl class="kv-grid">
          <Fact label="Device ID" mono>
            {d.device_id}
          </Fact>
          <Fact label="Fleet">{props.fleet ? <a href={`/fleets/${props.fleet.id}`}>{props.fleet.name}</a> : d.fleet_id ? '…' : 'Unassigned'}</Fact>
          <Fact label="Subdomain" mono>
            {d.subdomain_enabled ? `${d.subdomain}.${host}` : `${d.subdomain} (disabled)`}
          </Fact>
          <Fact label="SSH port" mono>
            {d.ssh_port}
          </Fact>
          <Fact label="Labels" mono>
            {Object.keys(d.labels ?? {}).length
              ? Object.entries(d.labels ?? {})
                  .map(([k, v]) => `${k}=${v}`)
                  .join(', ')
              : 'None'}
          </Fact>
          <Fact label="IP address" mono>
            {d.ip_address}
          </Fact>
          <Fact label="OS version">{d.os_version}</Fact>
          <Fact label="Last seen">
            <span title={formatDate(d.last_seen)}>{timeAgo(d.last_seen)}</span>
          </Fact>
          <Fact label="Registered">{formatDate(d.created_at)}</Fact>
          <div class="kv kv-wide">
            <dt>Key fingerprint</dt>
            <dd class="mono small">{d.public_key_fingerprint ?? 'No key registered yet'}</dd>
          </div>
          <div class="kv kv-wide">
            <dt>UUID</dt>
            <dd class="mono small">{d.id}</dd>
          </div>
        </dl>
      </Card>
      <div class="stack">
        <Card title="Tunnel">
          <Connection device={d} />
        </Card>
        <Card title="Hardware">
          <Hardware info={d.hardware_info} />
        </Card>
        <DeviceAgentCard deviceId={d.id} />
      </div>
    </div>
    </div>
  )
}
