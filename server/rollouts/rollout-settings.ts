import { z } from 'zod'
import type { RolloutSettings, RolloutStrategy } from '../db/schema.js'
import { selectorField } from '../devices/label-selector.js'
import { versionLabel } from '../software/software-schema.js'

/** What a rollout does when not told otherwise (docs/rollouts.md lists them). */
export const ROLLOUT_DEFAULTS: Readonly<RolloutSettings> = Object.freeze({
  canary_percent: 10,
  wave_size: null,
  wave_percent: 25,
  doubling: false,
  success_percent: 100,
  error_threshold_percent: 20,
  failure_action: 'pause',
  soak_seconds: 60,
  deadline_seconds: 3600,
})

const percent = z.number().min(1).max(100)

export const createRolloutBody = z
  .object({
    software_id: z.uuid(),
    /** A version label of the software; its current version when left out. */
    version: versionLabel.optional(),
    fleet_id: z.uuid().optional(),
    /** Narrows a fleet target: only devices whose labels match. */
    selector: selectorField.optional(),
    /** Explicit devices (UUIDs or device_ids) instead of a fleet. */
    devices: z.array(z.string().min(1).max(100)).min(1).max(10_000).optional(),
    strategy: z.enum(['immediate', 'manual', 'canary', 'rolling']).default('canary'),
    canary_percent: percent.optional(),
    /** Waves of this many devices (rolling, manual, and canary after its first wave). */
    wave_size: z.number().int().min(1).max(100_000).optional(),
    /** Waves of this share of the devices, when wave_size is not given. */
    wave_percent: percent.optional(),
    /** Each wave twice the size of the one before. */
    doubling: z.boolean().optional(),
    /** A wave is done when this share of its devices succeeded (and stayed healthy for soak_seconds). */
    success_percent: percent.optional(),
    /** More failed devices than this share triggers failure_action. */
    error_threshold_percent: z.number().min(0).max(100).optional(),
    failure_action: z.enum(['pause', 'rollback', 'continue']).optional(),
    soak_seconds: z.number().min(0).max(7 * 86_400).optional(),
    /** A device offline this long after it was sent the release is skipped (it catches up when it returns). */
    deadline_seconds: z.number().min(0.1).max(30 * 86_400).optional(),
    /** Start at once instead of leaving the rollout a draft. */
    start: z.boolean().optional(),
  })
  .strict()

export type CreateRolloutInput = z.output<typeof createRolloutBody>

export function settingsFrom(input: CreateRolloutInput): RolloutSettings {
  const d = ROLLOUT_DEFAULTS
  return {
    canary_percent: input.canary_percent ?? d.canary_percent,
    wave_size: input.wave_size ?? null,
    // A canary's second wave is "the rest" unless sizes are given.
    wave_percent: input.wave_percent ?? (input.strategy === 'canary' && input.wave_size === undefined ? 100 : d.wave_percent),
    doubling: input.doubling ?? d.doubling,
    success_percent: input.success_percent ?? d.success_percent,
    error_threshold_percent: input.error_threshold_percent ?? d.error_threshold_percent,
    failure_action: input.failure_action ?? d.failure_action,
    soak_seconds: input.soak_seconds ?? d.soak_seconds,
    deadline_seconds: input.deadline_seconds ?? d.deadline_seconds,
  }
}

/** Wave sizes for `total` devices (shared with the console's wizard preview). */
export { planWaves } from '../../shared/rollout-rules.js'
