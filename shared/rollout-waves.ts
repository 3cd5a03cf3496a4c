/**
 * How a rollout splits its devices into waves: the gateway plans them with this when a rollout starts,
 * and the console's wizard previews the same plan, so what the wizard shows is what will run.
 */
export type WaveStrategy = 'immediate' | 'manual' | 'canary' | 'rolling'

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
