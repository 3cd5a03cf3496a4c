/*
 * The console's view of the rollout API (server/rollouts/rollout-view.ts answers these shapes;
 * docs/rollouts.md describes them). Kept apart from types.ts so the rollout screens change in one place.
 */

export type RolloutStatus = 'draft' | 'running' | 'paused' | 'completed' | 'cancelled' | 'failed' | 'rolled_back'
export type RolloutStrategy = 'immediate' | 'manual' | 'canary' | 'rolling'
export type RolloutDeviceState = 'pending' | 'downloading' | 'installing' | 'verifying' | 'succeeded' | 'failed' | 'rolled_back' | 'skipped' | 'cancelled'
export type FailureAction = 'pause' | 'rollback' | 'continue'
export type RolloutOperation = 'start' | 'pause' | 'resume' | 'cancel' | 'rollback' | 'retry' | 'advance'

export interface RolloutSettings {
  canary_percent: number
  wave_size: number | null
  wave_percent: number
  doubling: boolean
  success_percent: number
  error_threshold_percent: number
  failure_action: FailureAction
  soak_seconds: number
  deadline_seconds: number
}

export type RolloutCounts = Record<RolloutDeviceState, number>

/** A rollout as lists show it. */
export interface RolloutSummary {
  id: string
  software_id: string
  software_name: string
  version: string
  fleet_id: string | null
  selector: string | null
  device_ids: string[] | null
  strategy: RolloutStrategy
  settings: RolloutSettings
  status: RolloutStatus
  /** Why it is in its state, in words (e.g. why it paused itself). */
  reason: string | null
  current_wave: number
  wave_count: number
  created_by: string | null
  created_at: string
  started_at: string | null
  finished_at: string | null
  updated_at: string
  total: number
  counts: RolloutCounts
}

export interface RolloutWave {
  index: number
  size: number
  counts: RolloutCounts
  status: 'waiting' | 'active' | 'done'
}

export interface RolloutDeviceRow {
  /** The device's UUID. */
  id: string
  device_id: string
  name: string
  device_status: string
  last_seen: string | null
  online: boolean
  wave: number
  state: RolloutDeviceState
  reason: string | null
  previous_version: string | null
  attempt: number
  released_at: string | null
  state_since: string
}

export interface RolloutDetail extends RolloutSummary {
  waves: RolloutWave[]
  devices: RolloutDeviceRow[]
}

/** `POST /api/rollouts`; fields left out take the documented defaults. */
export interface NewRollout {
  software_id: string
  version?: string
  fleet_id?: string
  selector?: string
  devices?: string[]
  strategy: RolloutStrategy
  canary_percent?: number
  wave_size?: number
  wave_percent?: number
  doubling?: boolean
  success_percent?: number
  error_threshold_percent?: number
  failure_action?: FailureAction
  soak_seconds?: number
  deadline_seconds?: number
  start?: boolean
}
