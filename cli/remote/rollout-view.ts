import type { RolloutDetail, RolloutSummary } from './api-schemas.js'
import { printable } from './cli-error.js'
import { printFields, printTable, type Io } from './output.js'

/** Device states in the order of their life (docs/rollouts.md); a newer gateway's extra states follow. */
const STATE_ORDER = ['pending', 'downloading', 'installing', 'verifying', 'succeeded', 'failed', 'rolled_back', 'skipped', 'cancelled']

/** `succeeded 2, verifying 1, pending 7`: the states that have devices, in life order. */
export function countsLine(counts: Record<string, number>): string {
  const states = [...STATE_ORDER, ...Object.keys(counts).filter((s) => !STATE_ORDER.includes(s))]
  const parts = states.filter((s) => (counts[s] ?? 0) > 0).map((s) => `${s.replace('_', ' ')} ${counts[s]}`)
  return parts.length ? parts.join(', ') : 'no devices yet'
}

/** `3/5`: devices done (succeeded) of all. */
export function progress(r: Pick<RolloutSummary, 'counts' | 'total'>): string {
  return `${r.counts.succeeded ?? 0}/${r.total}`
}

/** `wave 2 of 3`, or `-` before the rollout is split into waves. */
export function waveLine(r: Pick<RolloutSummary, 'current_wave' | 'wave_count' | 'status'>): string {
  if (!r.wave_count) return r.status === 'draft' ? 'not split into waves yet' : '-'
  return `wave ${Math.min(r.current_wave + 1, r.wave_count)} of ${r.wave_count}`
}

const num = (v: unknown) => (typeof v === 'number' ? v : undefined)

/** The settings in words: `canary 10%, then waves of 25%; soak 60 s; pause above 20% failed; deadline 3600 s`. */
export function settingsLine(r: Pick<RolloutSummary, 'strategy' | 'settings'>): string {
  const s = r.settings
  const waves = num(s.wave_size) !== undefined ? `waves of ${s.wave_size} device(s)` : `waves of ${num(s.wave_percent) ?? '?'}%`
  const shape =
    r.strategy === 'immediate'
      ? 'immediate: every device at once'
      : r.strategy === 'canary'
        ? `canary ${num(s.canary_percent) ?? '?'}%, then ${waves}`
        : `${r.strategy}: ${waves}${r.strategy === 'manual' ? ', each started by advance' : ''}`
  return [
    `${shape}${s.doubling === true && r.strategy !== 'immediate' ? ', doubling' : ''}`,
    `success ${num(s.success_percent) ?? '?'}%`,
    `soak ${num(s.soak_seconds) ?? '?'} s`,
    `${typeof s.failure_action === 'string' ? s.failure_action : '?'} above ${num(s.error_threshold_percent) ?? '?'}% failed`,
    `deadline ${num(s.deadline_seconds) ?? '?'} s`,
  ].join('; ')
}

function targetLine(r: RolloutSummary, fleets: Map<string, string>): string {
  if (r.fleet_id) return `fleet ${fleets.get(r.fleet_id) ?? r.fleet_id}${r.selector ? `, selector ${r.selector}` : ''}`
  return `${r.device_ids?.length ?? 0} explicit device(s)`
}

export function printRolloutTable(io: Io, items: RolloutSummary[], fleets: Map<string, string>): void {
  printTable(
    io,
    ['ID', 'SOFTWARE', 'VERSION', 'STATUS', 'STRATEGY', 'TARGET', 'SUCCEEDED', 'CREATED'],
    items.map((r) => [r.id, r.software_name, r.version, r.status, r.strategy, targetLine(r, fleets), progress(r), r.created_at]),
  )
}

/** `rollouts show`: the rollout, its waves, and every device with the reason for its state. */
export function printRollout(io: Io, r: RolloutDetail, fleets: Map<string, string>): void {
  printFields(io, [
    ['id', r.id],
    ['software', `${r.software_name} ${r.version}`],
    ['status', r.status],
    ['reason', r.reason],
    ['target', targetLine(r, fleets)],
    ['strategy', settingsLine(r)],
    ['progress', `${waveLine(r)}; ${r.total} device(s): ${countsLine(r.counts)}`],
    ['created', `${r.created_at}${r.created_by ? ` by ${r.created_by}` : ''}`],
    ['started', r.started_at],
    ['finished', r.finished_at],
  ])
  if (r.waves.length) {
    io.out('\n')
    printTable(
      io,
      ['WAVE', 'SIZE', 'STATUS', 'DEVICES'],
      r.waves.map((w) => [w.index + 1, w.size, w.status, countsLine(w.counts)]),
    )
  }
  if (r.devices.length) {
    io.out('\n')
    printTable(
      io,
      ['DEVICE ID', 'NAME', 'WAVE', 'STATE', 'ONLINE', 'ATTEMPT', 'REASON'],
      r.devices.map((d) => [d.device_id, d.name, d.wave + 1, d.state.replace('_', ' '), d.online ? 'yes' : 'no', d.attempt ?? 0, d.reason]),
    )
  }
}

/** One line of `rollouts watch`: time, status, wave, counts and the reason. */
export function watchLine(r: RolloutDetail, now = new Date()): string {
  const time = now.toISOString().slice(11, 19)
  return printable(`${time} ${r.status} ${waveLine(r)}: ${countsLine(r.counts)}${r.reason ? ` | ${r.reason}` : ''}`) + '\n'
}
