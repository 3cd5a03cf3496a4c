import { useMemo } from 'preact/hooks'
import { fleets } from '../api/endpoints'
import { rollouts } from '../api/rollout-endpoints'
import type { RolloutStatus, RolloutSummary } from '../api/rollout-types'
import { formatDate, timeAgo } from '../ui/format'
import { progressWords } from '../ui/rollout-wording'
import { EmptyState, ErrorState, Loading } from '../ui/states'
import { usePoll } from '../ui/use-poll'
import { useResource } from '../ui/use-resource'
import { navigate } from '../state/router'
import { ProgressBar, RolloutStatusPill } from './rollout-parts'

/** Lists move slower than one rollout's page; a refresh every few seconds while visible keeps progress honest. */
const POLL_MS = 5000

function targetOf(r: RolloutSummary, fleetNames: Map<string, string>) {
  if (r.fleet_id)
    return (
      <>
        <a href={`/fleets/${r.fleet_id}`}>{fleetNames.get(r.fleet_id) ?? 'fleet'}</a>
        {r.selector && <div class="mono small muted">{r.selector}</div>}
      </>
    )
  const n = r.device_ids?.length ?? r.total
  return <span>{n} chosen device{n === 1 ? '' : 's'}</span>
}

/**
 * Rollouts, newest first: the software page, the fleet page and the Rollouts page show it with their
 * own filter. Each row links to the rollout's progress view.
 */
export function RolloutHistory(props: { softwareId?: string; fleetId?: string; status?: RolloutStatus; hideSoftware?: boolean; limit?: number }) {
  const list = useResource(
    () => rollouts.list({ software_id: props.softwareId, fleet_id: props.fleetId, status: props.status, limit: props.limit ?? 50 }),
    [props.softwareId, props.fleetId, props.status],
  )
  const fleetList = useResource(() => (props.fleetId ? Promise.resolve(undefined) : fleets.list({ limit: 500 })), [props.fleetId])
  const fleetNames = useMemo(() => new Map((fleetList.data?.items ?? []).map((f) => [f.id, f.name])), [fleetList.data])
  usePoll(list.reload, POLL_MS)

  if (list.error) return <ErrorState error={list.error} retry={list.reload} feature="Rollouts" />
  if (!list.data) return <Loading />
  if (!list.data.items.length)
    return (
      <EmptyState icon="rocket" title="No rollouts yet">
        A rollout sends a version to devices in waves and stops by itself when too many fail.
      </EmptyState>
    )
  return (
    <table class="table" data-testid="rollout-history">
      <thead>
        <tr>
          <th>Release</th>
          {!props.fleetId && <th>Target</th>}
          <th>State</th>
          <th>Started</th>
          <th>Progress</th>
        </tr>
      </thead>
      <tbody>
        {list.data.items.map((r) => (
          <tr key={r.id} class="clickable" data-rollout={r.id} onClick={(e) => !(e.target as Element).closest('a') && navigate(`/rollouts/${r.id}`)}>
            <td>
              <a class="strong" href={`/rollouts/${r.id}`}>
                {props.hideSoftware ? `Version ${r.version}` : `${r.software_name} ${r.version}`}
              </a>
              <div class="muted small">{r.strategy}</div>
            </td>
            {!props.fleetId && <td>{targetOf(r, fleetNames)}</td>}
            <td>
              <RolloutStatusPill status={r.status} />
            </td>
            <td class="muted" title={formatDate(r.started_at ?? r.created_at)}>
              {r.started_at ? timeAgo(r.started_at) : 'not started'}
            </td>
            <td class="rollout-progress-cell">
              <ProgressBar total={r.total} counts={r.counts} compact />
              <div class="small muted">{progressWords(r.total, r.counts)}</div>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}
