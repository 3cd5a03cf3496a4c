import { useEffect, useMemo, useState } from 'preact/hooks'
import { errorMessage } from '../api/client'
import { devices } from '../api/endpoints'
import type { Device, Fleet, Page } from '../api/types'
import { StatusBadge } from '../ui/badges'
import { Field } from '../ui/form'
import { Loading } from '../ui/states'
import { useResource } from '../ui/use-resource'

export interface TargetValue {
  mode: 'fleet' | 'devices'
  fleetId: string
  selector: string
  /** Device UUIDs, for explicit targets. */
  devices: string[]
}

/** How long the selector box waits for typing to stop before asking the gateway. */
const PREVIEW_DEBOUNCE_MS = 300
const PREVIEW_LIMIT = 100

function Labels(props: { labels?: Record<string, string> }) {
  const entries = Object.entries(props.labels ?? {})
  if (!entries.length) return <span class="muted small">no labels</span>
  return (
    <span class="label-chips">
      {entries.map(([k, v]) => (
        <span key={k} class="label-chip mono">
          {k}={v}
        </span>
      ))}
    </span>
  )
}

/**
 * Which devices the fleet and selector match, asked of the gateway itself (GET /api/devices with
 * fleet_id and selector), so the preview is exactly what the rollout will target when it starts.
 */
function SelectorPreview(props: { fleetId: string; selector: string; onMatched(total: number | undefined): void; onError(message: string | undefined): void }) {
  const [result, setResult] = useState<{ page?: Page<Device>; error?: unknown } | undefined>(undefined)
  useEffect(() => {
    setResult(undefined)
    props.onMatched(undefined)
    if (!props.fleetId) return
    let stale = false
    const timer = setTimeout(() => {
      devices.list({ fleet_id: props.fleetId, selector: props.selector.trim(), limit: PREVIEW_LIMIT }).then(
        (page) => {
          if (stale) return
          setResult({ page })
          props.onMatched(page.total)
          props.onError(undefined)
        },
        (error: unknown) => {
          if (stale) return
          setResult({ error })
          props.onError(errorMessage(error))
        },
      )
    }, PREVIEW_DEBOUNCE_MS)
    return () => {
      stale = true
      clearTimeout(timer)
    }
  }, [props.fleetId, props.selector])

  if (!props.fleetId) return <p class="muted">Choose a fleet to see its devices.</p>
  if (!result) return <Loading label="Matching devices…" />
  if (result.error || !result.page) return <p class="muted">Fix the selector to see which devices match.</p>
  const { items, total } = result.page
  return (
    <div class="selector-preview" data-testid="selector-preview" data-matched={total}>
      <p class="strong">
        {total === 0 ? 'No device matches' : `${total} device${total === 1 ? '' : 's'} match${total === 1 ? 'es' : ''}`}
        {props.selector.trim() ? '' : ' (every device of the fleet)'}
        {total > items.length && <span class="muted small"> · showing the first {items.length}</span>}
      </p>
      {items.length > 0 && (
        <table class="table table-compact">
          <tbody>
            {items.map((d) => (
              <tr key={d.id} data-preview-device={d.device_id}>
                <td>
                  <span class="strong">{d.name}</span> <span class="mono muted small">{d.device_id}</span>
                </td>
                <td>
                  <Labels labels={d.labels} />
                </td>
                <td>
                  <StatusBadge status={d.status} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  )
}

function DevicePicker(props: { chosen: string[]; onChange(ids: string[]): void; onMatched(total: number): void }) {
  const all = useResource(() => devices.list({ limit: 500 }), [])
  const [filter, setFilter] = useState('')
  const shown = useMemo(() => {
    const q = filter.trim().toLowerCase()
    return (all.data?.items ?? []).filter((d) => !q || d.name.toLowerCase().includes(q) || d.device_id.toLowerCase().includes(q) || Object.entries(d.labels ?? {}).some(([k, v]) => `${k}=${v}`.includes(q)))
  }, [all.data, filter])
  useEffect(() => props.onMatched(props.chosen.length), [props.chosen.length])
  if (!all.data) return <Loading />
  const toggle = (id: string) => props.onChange(props.chosen.includes(id) ? props.chosen.filter((x) => x !== id) : [...props.chosen, id])
  return (
    <div class="device-picker" data-testid="device-picker">
      <input type="search" placeholder="Filter by name, id or label" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} aria-label="Filter devices" />
      <p class="muted small">{props.chosen.length} chosen</p>
      <ul class="plain picker-list">
        {shown.map((d) => (
          <li key={d.id}>
            <label class="check">
              <input type="checkbox" checked={props.chosen.includes(d.id)} onChange={() => toggle(d.id)} data-pick={d.device_id} />
              <span>
                <strong>{d.name}</strong>
                <small>
                  {d.device_id} · <Labels labels={d.labels} />
                </small>
              </span>
            </label>
          </li>
        ))}
      </ul>
    </div>
  )
}

/** The wizard's target step: a fleet and an optional label selector with a live preview, or devices chosen one by one. */
export function RolloutTarget(props: {
  value: TargetValue
  fleets: Fleet[]
  errors: Record<string, string>
  onChange(next: TargetValue): void
  onMatched(total: number | undefined): void
}) {
  const v = props.value
  const [selectorError, setSelectorError] = useState<string | undefined>(undefined)
  const set = (patch: Partial<TargetValue>) => props.onChange({ ...v, ...patch })
  return (
    <div class="form">
      <div class="segmented" role="group" aria-label="Target">
        <button type="button" class={v.mode === 'fleet' ? 'active' : ''} onClick={() => set({ mode: 'fleet' })} data-target-mode="fleet">
          A fleet
        </button>
        <button type="button" class={v.mode === 'devices' ? 'active' : ''} onClick={() => set({ mode: 'devices' })} data-target-mode="devices">
          Chosen devices
        </button>
      </div>
      {v.mode === 'fleet' ? (
        <>
          <div class="form-row">
            <Field label="Fleet" name="fleet_id" error={props.errors.fleet_id} hint="Devices that join the fleet while the rollout runs follow it.">
              <select id="f-fleet_id" value={v.fleetId} onChange={(e) => set({ fleetId: e.currentTarget.value })}>
                <option value="">Choose a fleet…</option>
                {props.fleets.map((f) => (
                  <option key={f.id} value={f.id}>
                    {f.name} ({f.device_count} device{f.device_count === 1 ? '' : 's'})
                  </option>
                ))}
              </select>
            </Field>
            <Field label="Label selector (optional)" name="selector" error={props.errors.selector ?? selectorError} hint={<>For example <span class="mono">site=north,hw in (pi4,pi5)</span>. Empty: every device of the fleet.</>}>
              <input id="f-selector" class="mono" value={v.selector} spellcheck={false} autocomplete="off" placeholder="site=north" onInput={(e) => set({ selector: e.currentTarget.value })} />
            </Field>
          </div>
          <SelectorPreview fleetId={v.fleetId} selector={v.selector} onMatched={props.onMatched} onError={setSelectorError} />
        </>
      ) : (
        <Field label="Devices" name="devices" error={props.errors.devices}>
          <DevicePicker chosen={v.devices} onChange={(ids) => set({ devices: ids })} onMatched={props.onMatched} />
        </Field>
      )}
    </div>
  )
}
