/**
 * Rollouts in words, and which controls a rollout offers. Type imports only, with `.js`
 * paths: unit tests load this file outside the console bundle.
 */
import type { RolloutCounts, RolloutDeviceState, RolloutOperation, RolloutSettings, RolloutStatus, RolloutStrategy } from '../api/rollout-types.js'
import { OPERATIONS_ALLOWED_FROM } from '../../../shared/rollout-rules.js'

type Role = 'admin' | 'operator' | 'viewer'

export type Tone = 'neutral' | 'green' | 'blue' | 'amber' | 'red' | 'violet'

export const statusWords: Record<RolloutStatus, { label: string; tone: Tone }> = {
  draft: { label: 'draft', tone: 'neutral' },
  running: { label: 'running', tone: 'blue' },
  paused: { label: 'paused', tone: 'amber' },
  completed: { label: 'completed', tone: 'green' },
  cancelled: { label: 'cancelled', tone: 'neutral' },
  failed: { label: 'failed', tone: 'red' },
  rolled_back: { label: 'rolled back', tone: 'violet' },
}

/** Device states in the order a device goes through them (and the progress bar shows them). */
export const DEVICE_STATES: readonly RolloutDeviceState[] = ['succeeded', 'verifying', 'installing', 'downloading', 'pending', 'skipped', 'failed', 'rolled_back', 'cancelled']

export const deviceStateWords: Record<RolloutDeviceState, { label: string; tone: Tone }> = {
  pending: { label: 'pending', tone: 'neutral' },
  downloading: { label: 'downloading', tone: 'blue' },
  installing: { label: 'installing', tone: 'blue' },
  verifying: { label: 'verifying', tone: 'blue' },
  succeeded: { label: 'succeeded', tone: 'green' },
  failed: { label: 'failed', tone: 'red' },
  rolled_back: { label: 'rolled back', tone: 'violet' },
  skipped: { label: 'skipped', tone: 'amber' },
  cancelled: { label: 'cancelled', tone: 'neutral' },
}

export const IN_FLIGHT: ReadonlySet<RolloutDeviceState> = new Set(['downloading', 'installing', 'verifying'])

export const strategyWords: Record<RolloutStrategy, { label: string; hint: string }> = {
  canary: { label: 'Canary', hint: 'A small first wave; the rest follow once it succeeded and stayed healthy.' },
  rolling: { label: 'Rolling', hint: 'Waves of a fixed size or share, one after the other.' },
  manual: { label: 'Manual', hint: 'Waves as rolling, but an operator starts each next wave.' },
  immediate: { label: 'Immediate', hint: 'Every device at once, in one wave.' },
}

export const failureActionWords: Record<RolloutSettings['failure_action'], string> = {
  pause: 'Pause the rollout',
  rollback: 'Roll every device back',
  continue: 'Carry on',
}

/** Which operations a rollout in this state allows: the gateway's own rule (shared/rollout-rules.ts). */
const allowedFrom: Readonly<Record<RolloutOperation, readonly RolloutStatus[]>> = OPERATIONS_ALLOWED_FROM

const rank: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 }

/**
 * The control buttons to show: only those valid for the rollout's state, and only to operators and
 * admins (viewers read). Retry needs a failed device; the next wave is offered on manual rollouts with
 * a wave left.
 */
export function rolloutActions(
  r: { status: RolloutStatus; strategy: RolloutStrategy; current_wave: number; wave_count: number; counts: Pick<RolloutCounts, 'failed'> },
  role: Role,
): RolloutOperation[] {
  if (rank[role] < rank.operator) return []
  const order: RolloutOperation[] = ['start', 'advance', 'pause', 'resume', 'retry', 'cancel', 'rollback']
  return order.filter((op) => {
    if (!allowedFrom[op].includes(r.status)) return false
    if (op === 'retry') return r.counts.failed > 0
    if (op === 'advance') return r.strategy === 'manual' && r.current_wave + 1 < r.wave_count
    return true
  })
}

export const actionWords: Record<RolloutOperation, { label: string; done: string; confirm?: string }> = {
  start: { label: 'Start', done: 'Rollout started' },
  advance: { label: 'Start next wave', done: 'Next wave started' },
  pause: { label: 'Pause', done: 'Rollout paused' },
  resume: { label: 'Resume', done: 'Rollout resumed' },
  retry: { label: 'Retry failed devices', done: 'Failed devices are being retried' },
  cancel: { label: 'Cancel rollout', done: 'Rollout cancelled', confirm: 'Devices not yet sent the release never get it. Devices already sent it keep it.' },
  rollback: { label: 'Roll back', done: 'Rollout rolled back', confirm: 'Every device that was sent this release, failed or finished, goes back to the release it ran before.' },
}

/** "3 of 5 succeeded · 1 failed · 1 skipped": the states worth a glance, in words. */
export function progressWords(total: number, counts: RolloutCounts): string {
  if (!total) return 'no devices yet'
  const parts = [`${counts.succeeded} of ${total} succeeded`]
  const updating = counts.downloading + counts.installing + counts.verifying
  if (updating) parts.push(`${updating} updating`)
  for (const s of ['failed', 'skipped', 'rolled_back', 'cancelled'] as const) if (counts[s]) parts.push(`${counts[s]} ${deviceStateWords[s].label}`)
  return parts.join(' · ')
}

/** Waves for `total` devices: the gateway's own plan (shared/rollout-rules.ts), for the wizard's preview. */
export { planWaves } from '../../../shared/rollout-rules.js'

/** "every device at once", "a canary of 1, then waves of 2": the strategy with its numbers, for lists and headers. */
export function strategySentence(strategy: RolloutStrategy, s: RolloutSettings): string {
  const waves = s.wave_size ? `waves of ${s.wave_size} device${s.wave_size === 1 ? '' : 's'}` : `waves of ${s.wave_percent}%`
  const doubling = s.doubling ? ', each twice the last' : ''
  if (strategy === 'immediate') return 'every device at once'
  if (strategy === 'canary') return `a ${s.canary_percent}% canary, then ${!s.wave_size && s.wave_percent >= 100 ? 'the rest' : waves + doubling}`
  return `${strategy === 'manual' ? 'manual ' : ''}${waves}${doubling}`
}
