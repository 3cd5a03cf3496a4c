import { useState } from 'preact/hooks'
import { devices } from '../api/endpoints'
import type { ContainerPort, ContainerState, Device, DeviceRelease } from '../api/types'
import { useCan } from '../state/session'
import { Pill } from '../ui/badges'
import { formatDate, timeAgo } from '../ui/format'
import { Icon } from '../ui/icons'
import { Card } from '../ui/page'
import { ErrorState, Loading } from '../ui/states'
import { toast, toastError } from '../ui/toasts'
import { usePoll } from '../ui/use-poll'
import { useResource } from '../ui/use-resource'

/** Heartbeats arrive every 30 s by default; a little under that keeps the panel current without a reload. */
const POLL_MS = 5000

function stateTone(c: ContainerState): 'green' | 'amber' | 'red' | 'neutral' {
  if (c.health === 'unhealthy') return 'red'
  if (c.state === 'running') return c.health === 'starting' ? 'amber' : 'green'
  if (c.state === 'restarting') return 'amber'
  if (c.state === 'exited' && c.exit_code !== 0 && c.exit_code !== null) return 'red'
  return 'neutral'
}

function portText(p: ContainerPort): string {
  if (p.source === 'published') return `${p.host_ip && p.host_ip !== '0.0.0.0' ? `${p.host_ip}:` : ''}${p.host_port} → ${p.container_port}/${p.protocol}`
  return `${p.container_port}/${p.protocol}${p.source === 'listening' ? ' (listening)' : ' (exposed)'}`
}

/** Actions only for containers of the agent's own stacks (softwareId): the agent acts on nothing else. */
function ContainerRow(props: { device: Device; container: ContainerState; softwareId?: string; onChanged(): void }) {
  const c = props.container
  const service = c.service ?? c.name
  const operator = useCan('operator')
  const [busy, setBusy] = useState<string | null>(null)
  const act = async (action: 'restart' | 'stop' | 'start') => {
    setBusy(action)
    try {
      await devices.containerAction(props.device.id, service, action, props.softwareId)
      toast('success', `${service}: ${action === 'stop' ? 'stopped' : action === 'start' ? 'started' : 'restarted'}`)
      props.onChanged()
    } catch (err) {
      toastError(err, `Could not ${action} ${service}`)
    } finally {
      setBusy(null)
    }
  }
  const running = c.state === 'running' || c.state === 'restarting'
  return (
    <tr data-testid="container-row" data-service={service} data-state={c.state}>
      <td>
        <strong>{service}</strong>
        <div class="muted small mono">{c.name}</div>
      </td>
      <td>
        <Pill tone={stateTone(c)}>{c.state}{c.state !== 'running' && c.exit_code !== null ? ` (${c.exit_code})` : ''}</Pill>
        {c.health && <span class="muted small"> {c.health}</span>}
      </td>
      <td class="num" data-testid="container-restarts">{c.restart_count}</td>
      <td title={formatDate(c.started_at)}>{c.started_at ? timeAgo(c.started_at) : '—'}</td>
      <td class="mono small">{c.image}</td>
      <td class="mono small">{c.ports?.length ? c.ports.map(portText).join(', ') : '—'}</td>
      {operator && (
        <td>
          {props.softwareId && (
          <div class="release-actions">
          <button class="btn btn-sm btn-secondary" data-action="restart" disabled={busy !== null || props.device.status !== 'online'} onClick={() => act('restart')}>
            {busy === 'restart' ? 'Restarting…' : 'Restart'}
          </button>
          {running ? (
            <button class="btn btn-sm btn-ghost" data-action="stop" disabled={busy !== null || props.device.status !== 'online'} onClick={() => act('stop')}>
              Stop
            </button>
          ) : (
            <button class="btn btn-sm btn-ghost" data-action="start" disabled={busy !== null || props.device.status !== 'online'} onClick={() => act('start')}>
              Start
            </button>
          )}
          <a class="icon-btn" title={`Terminal in ${service}`} aria-label={`Terminal in ${service}`} href={`/devices/${props.device.id}/terminal?container=${encodeURIComponent(service)}`}>
            <Icon name="terminal" size={15} />
          </a>
          </div>
          )}
        </td>
      )}
    </tr>
  )
}

function Containers(props: { device: Device; items: ContainerState[]; softwareId?: string; onChanged(): void }) {
  const operator = useCan('operator')
  if (!props.items.length) return <p class="muted small">No containers reported.</p>
  return (
    <table class="table table-compact">
      <thead>
        <tr>
          <th>Container</th>
          <th>State</th>
          <th class="num">Restarts</th>
          <th>Since</th>
          <th>Image</th>
          <th>Ports</th>
          {operator && <th />}
        </tr>
      </thead>
      <tbody>
        {props.items.map((c) => (
          <ContainerRow key={c.name} device={props.device} container={c} softwareId={props.softwareId} onChanged={props.onChanged} />
        ))}
      </tbody>
    </table>
  )
}

/** The device page's "Release and containers" panel: what runs, how it is, and how the last deploy went, in words. */
export function DeviceReleasePanel(props: { device: Device }) {
  const release = useResource(() => devices.release(props.device.id), [props.device.id])
  usePoll(release.reload, POLL_MS)
  const r: DeviceRelease | undefined = release.data
  return (
    <Card title="Release and containers" actions={r?.reported_at ? <span class="muted small">reported {timeAgo(r.reported_at)}</span> : undefined}>
      {release.error && !r ? (
        <ErrorState error={release.error} retry={release.reload} feature="Release and containers" />
      ) : !r ? (
        <Loading />
      ) : (
        <div class="release" data-testid="release-panel">
          {!r.online && (
            <p class="muted" data-testid="release-offline">
              The device is offline: this is what it reported last{r.reported_at ? `, ${timeAgo(r.reported_at)}` : ''}.
            </p>
          )}
          {r.docker_error && (
            <p class="release-result release-bad" data-testid="release-docker-error">
              Docker does not answer on the device, so its containers cannot be seen: {r.docker_error}
            </p>
          )}
          {!r.software.length && !r.other_containers.length && !r.docker_error && <p class="muted">Nothing deployed to this device yet.</p>}
          {r.software.map((s) => (
            <section key={s.software_id} class="release-software" data-testid="release-software" data-attention={s.needs_attention ? 'true' : 'false'}>
              <h4>
                <a href={`/software/${s.software_id}`}>{s.name}</a> <span class="mono">{s.running_version ? `v${s.running_version}` : 'not running'}</span>
                {s.needs_attention && <Pill tone="red">needs attention</Pill>}
              </h4>
              {s.last_result && (
                <p class={s.needs_attention ? 'release-result release-bad' : 'release-result muted'} data-testid="release-result">
                  Last deploy: {s.last_result.summary} <span class="muted small">({timeAgo(s.last_result.updated_at)})</span>
                </p>
              )}
              <Containers device={props.device} items={s.containers} softwareId={s.software_id} onChanged={release.reload} />
            </section>
          ))}
          {r.other_containers.length > 0 && (
            <section class="release-software">
              <h4>Other containers</h4>
              <Containers device={props.device} items={r.other_containers} onChanged={release.reload} />
            </section>
          )}
        </div>
      )}
    </Card>
  )
}
