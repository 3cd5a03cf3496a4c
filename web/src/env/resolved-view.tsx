import { useState } from 'preact/hooks'
import { devices } from '../api/endpoints'
import type { EnvSource, ResolvedVar } from '../api/types'
import { useCan } from '../state/session'
import { Icon } from '../ui/icons'
import { EmptyState, ErrorState, Loading } from '../ui/states'
import { toast, toastError } from '../ui/toasts'
import { useResource } from '../ui/use-resource'
import { SECRET_MASK } from './env-model'

const order: EnvSource[] = ['software', 'fleet', 'device']

export function SourceBadge(props: { source: EnvSource }) {
  return <span class={`badge source source-${props.source}`}>{props.source}</span>
}

export function SourceLegend() {
  return (
    <div class="legend">
      {order.map((s, i) => (
        <span key={s}>
          <SourceBadge source={s} />
          {i < order.length - 1 && <span class="legend-arrow">→</span>}
        </span>
      ))}
      <span class="muted small">later levels win</span>
    </div>
  )
}

function ResolvedTable(props: { vars: Record<string, ResolvedVar> }) {
  const names = Object.keys(props.vars).sort()
  if (!names.length) return <p class="muted small">No variables set at any level; the container runs with its compose file's environment.</p>
  return (
    <table class="table table-compact table-fixed">
      <thead>
        <tr>
          <th>Variable</th>
          <th>Effective value</th>
          <th>From</th>
          <th>Overrides</th>
        </tr>
      </thead>
      <tbody>
        {names.map((name) => {
          const v = props.vars[name]!
          return (
            <tr key={name} class={`from-${v.source}`}>
              <td class="mono strong env-name">{name}</td>
              <td class="mono env-value">{v.secret ? <span class="masked">{SECRET_MASK}</span> : v.value}</td>
              <td>
                <SourceBadge source={v.source} />
              </td>
              <td>
                {v.overrides?.length ? (
                  v.overrides.map((o) => (
                    <span key={o} class="overridden">
                      {o}
                    </span>
                  ))
                ) : (
                  <span class="muted small">—</span>
                )}
              </td>
            </tr>
          )
        })}
      </tbody>
    </table>
  )
}

/**
 * What a device's containers actually get: each variable's effective value,
 * the level it comes from and the levels it overrides (struck through).
 */
export function ResolvedEnvView(props: { deviceId: string }) {
  const canRestart = useCan('operator')
  const data = useResource(() => devices.resolvedEnv(props.deviceId), [props.deviceId])
  const [restarting, setRestarting] = useState<string | null>(null)

  async function restart(container: string) {
    setRestarting(container)
    try {
      await devices.restartContainer(props.deviceId, container)
      toast('success', 'Restart queued', `${container} restarts when the device picks it up`)
    } catch (err) {
      toastError(err, `Could not restart ${container}`)
    } finally {
      setRestarting(null)
    }
  }

  if (data.error) return <ErrorState error={data.error} retry={data.reload} feature="The inherited environment view" />
  if (!data.data) return <Loading />
  const containers = Object.keys(data.data.containers ?? {}).sort()
  if (!containers.length)
    return (
      <EmptyState icon="env" title="No variables reach this device">
        Deploy software to its fleet or to the device, or set variables at any level.
      </EmptyState>
    )

  return (
    <div class="resolved">
      <SourceLegend />
      {containers.map((container) => {
        const vars = data.data!.containers[container]!
        return (
          <div class="container-block" key={container}>
            <div class="container-head">
              <span class="mono strong">{container}</span>
              {canRestart && (
                <button class="btn btn-secondary btn-sm" disabled={restarting === container} onClick={() => void restart(container)}>
                  <Icon name="refresh" size={14} /> Restart container
                </button>
              )}
            </div>
            <ResolvedTable vars={vars} />
          </div>
        )
      })}
    </div>
  )
}
