import { rollouts } from '../api/rollout-endpoints'
import type { RolloutDetail, RolloutWave } from '../api/rollout-types'
import { fleets } from '../api/endpoints'
import { useLiveEvents } from '../state/live-events'
import { formatDate, formatDuration, timeAgo } from '../ui/format'
import { Card, PageHeader } from '../ui/page'
import { failureActionWords, progressWords, strategySentence } from '../ui/rollout-wording'
import { EmptyState, ErrorState, Loading } from '../ui/states'
import { usePoll } from '../ui/use-poll'
import { useDebounced, useResource } from '../ui/use-resource'
import { RolloutControls } from './rollout-controls'
import { CountsLegend, DeviceStatePill, ProgressBar, RolloutStatusPill } from './rollout-parts'

/**
 * How the page stays live: the gateway publishes no rollout events on /api/events (the engine moves
 * rollouts on its own timer, possibly on another gateway sharing the database), so the page polls
 * GET /api/rollouts/:id every POLL_MS while it is visible, and refetches at once when a device's
 * tunnel goes up or down (a device.status event), which is what "offline" in the rows shows.
 */
const POLL_MS = 1500
/** A finished rollout changes only when a skipped device catches up: a slower poll is enough. */
const FINISHED_POLL_MS = 10_000

function waveName(r: RolloutDetail, w: RolloutWave): string {
  if (r.strategy === 'canary' && w.index === 0) return 'Canary'
  return `Wave ${w.index + 1}`
}

function Waves(props: { rollout: RolloutDetail }) {
  const r = props.rollout
  if (!r.waves.length) return <p class="muted">Waves are planned when the rollout starts, from the devices its target matches then.</p>
  return (
    <ol class="rollout-waves">
      {r.waves.map((w) => (
        <li key={w.index} class={`wave wave-${w.status}`} data-wave={w.index} data-wave-status={w.status}>
          <div class="wave-head">
            <strong>{waveName(r, w)}</strong>
            <span class="muted small">
              {w.size} device{w.size === 1 ? '' : 's'} · {w.status === 'active' ? 'in progress' : w.status}
            </span>
          </div>
          <ProgressBar total={w.size} counts={w.counts} compact />
          <CountsLegend counts={w.counts} />
        </li>
      ))}
    </ol>
  )
}

function DeviceRows(props: { rollout: RolloutDetail }) {
  const r = props.rollout
  if (!r.devices.length)
    return (
      <EmptyState icon="devices" title={r.status === 'draft' ? 'Not started yet' : 'No devices'}>
        {r.status === 'draft' ? 'Start the rollout to split the matching devices into waves.' : 'No device matched this rollout.'}
      </EmptyState>
    )
  return (
    <table class="table" data-testid="rollout-devices">
      <thead>
        <tr>
          <th>Device</th>
          <th>Wave</th>
          <th>State</th>
          <th>Why</th>
          <th>Since</th>
        </tr>
      </thead>
      <tbody>
        {r.devices.map((d) => (
          <tr key={d.id} data-device={d.device_id} data-state={d.state}>
            <td>
              <a class="strong" href={`/devices/${d.id}`}>
                {d.name}
              </a>
              <div class="mono muted small">{d.device_id}</div>
            </td>
            <td class="muted">{r.strategy === 'canary' && d.wave === 0 ? 'canary' : d.wave + 1}</td>
            <td>
              <DeviceStatePill row={d} />
            </td>
            <td class={`small ${d.state === 'failed' ? 'text-red' : ''}`} data-testid="device-reason">
              {d.reason ?? ''}
              {d.attempt > 0 && <span class="muted"> (attempt {d.attempt + 1})</span>}
              {d.previous_version && d.state !== 'succeeded' && <div class="muted">ran {d.previous_version} before</div>}
            </td>
            <td class="muted" title={formatDate(d.state_since)}>
              {timeAgo(d.state_since)}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}

/** One rollout, live: its state and why, the control buttons, its waves and every device's state with the reason in words. */
export function RolloutProgressPage(props: { params: Record<string, string> }) {
  const id = props.params.id!
  const rollout = useResource(() => rollouts.get(id), [id])
  const fleetId = rollout.data?.fleet_id
  const fleet = useResource(() => (fleetId ? fleets.get(fleetId) : Promise.resolve(undefined)), [fleetId])
  const r = rollout.data
  const finished = r && ['completed', 'cancelled', 'failed', 'rolled_back'].includes(r.status)
  usePoll(rollout.reload, finished ? FINISHED_POLL_MS : POLL_MS)
  const refetch = useDebounced(rollout.reload, 300)
  useLiveEvents((event) => {
    if (event.type === 'device.status' && r?.devices.some((d) => d.id === event.id)) refetch()
  })

  if (rollout.error && !r) return <div class="page"><ErrorState error={rollout.error} retry={rollout.reload} feature="Rollouts" /></div>
  if (!r) return <div class="page"><Loading /></div>
  const s = r.settings

  return (
    <div class="page" data-testid="rollout-page" data-rollout-status={r.status}>
      <PageHeader
        crumbs={[{ label: 'Rollouts', href: '/rollouts' }]}
        title={
          <span class="title-with-badge">
            {r.software_name} {r.version} <RolloutStatusPill status={r.status} />
          </span>
        }
        subtitle={
          <>
            <a href={`/software/${r.software_id}/rollouts`}>{r.software_name}</a> to{' '}
            {r.fleet_id ? (
              <>
                the fleet <a href={`/fleets/${r.fleet_id}/rollouts`}>{fleet.data?.name ?? '…'}</a>
                {r.selector && (
                  <>
                    {' '}
                    where <span class="mono">{r.selector}</span>
                  </>
                )}
              </>
            ) : (
              `${r.device_ids?.length ?? r.total} chosen devices`
            )}{' '}
            · {strategySentence(r.strategy, s)} · created by {r.created_by ?? 'someone'} {timeAgo(r.created_at)}
          </>
        }
        actions={<RolloutControls rollout={r} onChanged={(next) => rollout.setData(next)} />}
      />
      {r.reason && (
        <div class={`rollout-reason ${r.status === 'paused' || r.status === 'failed' ? 'rollout-reason-bad' : ''}`} role="status" data-testid="rollout-reason">
          {r.reason}
        </div>
      )}
      <div class="facts">
        <div>
          <span>Progress</span>
          <strong class="small-strong" data-testid="rollout-progress">{progressWords(r.total, r.counts)}</strong>
        </div>
        <div>
          <span>Wave</span>
          <strong>{r.wave_count ? `${Math.min(r.current_wave + 1, r.wave_count)} of ${r.wave_count}` : '—'}</strong>
        </div>
        <div>
          <span>Advance rule</span>
          <strong class="small-strong">
            {s.success_percent}% succeeded and healthy for {formatDuration(s.soak_seconds)}
          </strong>
        </div>
        <div>
          <span>Failure rule</span>
          <strong class="small-strong">
            over {s.error_threshold_percent}% failed: {failureActionWords[s.failure_action].toLowerCase()}; offline past {formatDuration(s.deadline_seconds)}: skipped
          </strong>
        </div>
      </div>
      <Card title="Waves" actions={<span class="muted small">{r.started_at ? `started ${timeAgo(r.started_at)}` : 'not started'}{r.finished_at ? ` · ended ${timeAgo(r.finished_at)}` : ''}</span>}>
        <ProgressBar total={r.total} counts={r.counts} />
        <div class="rollout-totals">
          <CountsLegend counts={r.counts} />
        </div>
        <Waves rollout={r} />
      </Card>
      <Card title="Devices" flush>
        <DeviceRows rollout={r} />
      </Card>
    </div>
  )
}
