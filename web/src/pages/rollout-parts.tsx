import type { RolloutCounts, RolloutDeviceRow, RolloutStatus } from '../api/rollout-types'
import { Pill } from '../ui/badges'
import { DEVICE_STATES, deviceStateWords, IN_FLIGHT, statusWords } from '../ui/rollout-wording'

export function RolloutStatusPill(props: { status: RolloutStatus }) {
  const w = statusWords[props.status] ?? { label: props.status, tone: 'neutral' as const }
  return (
    <span class="rollout-status" data-rollout-status={props.status}>
      <Pill tone={w.tone}>{w.label}</Pill>
    </span>
  )
}

/**
 * A device's state in the rollout. An offline device is shown as offline: while it is updating what it
 * said last is not what happens now (that goes in the tooltip); a settled state stays, marked offline.
 */
export function DeviceStatePill(props: { row: Pick<RolloutDeviceRow, 'state' | 'online'> }) {
  const { state, online } = props.row
  const w = deviceStateWords[state] ?? { label: state, tone: 'neutral' as const }
  if (!online && (IN_FLIGHT.has(state) || state === 'pending'))
    return (
      <span data-state={state} data-offline="true" title={`offline; last known: ${w.label}`}>
        <Pill tone="neutral">offline</Pill>
      </span>
    )
  return (
    <span data-state={state} data-offline={online ? 'false' : 'true'}>
      <Pill tone={w.tone}>{w.label}</Pill>
      {!online && <span class="muted small"> offline</span>}
    </span>
  )
}

/** One bar split by device state, widest first in the order devices move through them. */
export function ProgressBar(props: { total: number; counts: RolloutCounts; compact?: boolean }) {
  return (
    <div class={`rollout-bar ${props.compact ? 'rollout-bar-compact' : ''}`} role="img" aria-label={DEVICE_STATES.filter((s) => props.counts[s]).map((s) => `${props.counts[s]} ${deviceStateWords[s].label}`).join(', ') || 'no devices'}>
      {props.total > 0 &&
        DEVICE_STATES.filter((s) => props.counts[s]).map((s) => (
          <span key={s} class={`rollout-seg seg-${deviceStateWords[s].tone}`} style={{ width: `${(props.counts[s] * 100) / props.total}%` }} title={`${props.counts[s]} ${deviceStateWords[s].label}`} />
        ))}
    </div>
  )
}

/** The counts as a legend: "2 succeeded · 1 failed". */
export function CountsLegend(props: { counts: RolloutCounts }) {
  const shown = DEVICE_STATES.filter((s) => props.counts[s])
  if (!shown.length) return <span class="muted small">no devices</span>
  return (
    <span class="rollout-legend">
      {shown.map((s) => (
        <span key={s} data-count={s}>
          <span class={`legend-dot seg-${deviceStateWords[s].tone}`} />
          {props.counts[s]} {deviceStateWords[s].label}
        </span>
      ))}
    </span>
  )
}
