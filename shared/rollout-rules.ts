/**
 * The rules of a rollout that the gateway enforces and the console shows: how devices split into
 * waves (the wizard previews the plan the gateway will run) and which operations each state allows
 * (the progress view offers only those buttons). One copy, so the two cannot drift apart.
 */
export type WaveStrategy = 'immediate' | 'manual' | 'canary' | 'rolling'
export type RolloutOperationName = 'start' | 'pause' | 'resume' | 'cancel' | 'rollback' | 'retry' | 'advance'
export type RolloutStatusName = 'draft' | 'running' | 'paused' | 'completed' | 'cancelled' | 'failed' | 'rolled_back'

/** Which rollout states each operation may start from. */
export const OPERATIONS_ALLOWED_FROM: Readonly<Record<RolloutOperationName, readonly RolloutStatusName[]>> = Object.freeze({
  start: ['draft'],
  pause: ['running'],
  resume: ['paused'],
  cancel: ['draft', 'running', 'paused'],
  rollback: ['running', 'paused', 'completed', 'failed'],
  retry: ['running', 'paused', 'completed', 'failed'],
  advance: ['running', 'paused'],
})

export interface WaveSettings {
  canary_percent: number
  wave_size: number | null
  wave_percent: number
  doubling: boolean
}

/**
 * Wave sizes for `total` devices. immediate: one wave. canary: canary_percent
 * (at least one device), then waves as rolling. rolling and manual: waves of
 * wave_size devices or wave_percent of all, each twice the last with doubling.
 */
export function planWaves(total: number, strategy: WaveStrategy, s: WaveSettings): number[] {
  if (total <= 0) return []
  if (strategy === 'immediate') return [total]
  const waves: number[] = []
  let left = total
  if (strategy === 'canary') {
    const canary = Math.min(left, Math.max(1, Math.ceil((total * s.canary_percent) / 100)))
    waves.push(canary)
    left -= canary
  }
  let size = s.wave_size ?? Math.max(1, Math.ceil((total * s.wave_percent) / 100))
  while (left > 0) {
    const wave = Math.min(left, size)
    waves.push(wave)
    left -= wave
    if (s.doubling) size *= 2
  }
  return waves
}
