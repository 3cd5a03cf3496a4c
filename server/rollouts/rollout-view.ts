import type { Kysely } from 'kysely'
import type { Database, RolloutDeviceState } from '../db/schema.js'
import type { RolloutRow } from './rollout-targets.js'

export const DEVICE_STATES: readonly RolloutDeviceState[] = ['pending', 'downloading', 'installing', 'verifying', 'succeeded', 'failed', 'rolled_back', 'skipped', 'cancelled']

function emptyCounts(): Record<RolloutDeviceState, number> {
  return Object.fromEntries(DEVICE_STATES.map((s) => [s, 0])) as Record<RolloutDeviceState, number>
}

function summary(r: RolloutRow & { software_name: string }) {
  return {
    id: r.id,
    software_id: r.software_id,
    software_name: r.software_name,
    version: r.version,
    fleet_id: r.fleet_id,
    selector: r.selector,
    device_ids: r.device_ids,
    strategy: r.strategy,
    settings: r.settings,
    status: r.status,
    reason: r.reason,
    current_wave: r.current_wave,
    wave_count: r.wave_count,
    created_by: r.created_by,
    created_at: r.created_at,
    started_at: r.started_at,
    finished_at: r.finished_at,
    updated_at: r.updated_at,
  }
}

/** Rollouts as lists show them: each with its device counts per state. */
export async function rolloutSummaries(db: Kysely<Database>, rows: (RolloutRow & { software_name: string })[]) {
  if (!rows.length) return []
  const counts = await db
    .selectFrom('rollout_devices')
    .select(['rollout_id', 'state', (eb) => eb.fn.countAll<string>().as('n')])
    .where('rollout_id', 'in', rows.map((r) => r.id))
    .groupBy(['rollout_id', 'state'])
    .execute()
  return rows.map((r) => {
    const c = emptyCounts()
    for (const row of counts) if (row.rollout_id === r.id) c[row.state] = Number(row.n)
    return { ...summary(r), total: Object.values(c).reduce((a, b) => a + b, 0), counts: c }
  })
}

/** One rollout in full: counts, waves and every device with its state and reason in words. */
export async function rolloutDetail(db: Kysely<Database>, r: RolloutRow & { software_name: string }) {
  const devices = await db
    .selectFrom('rollout_devices')
    .innerJoin('devices', 'devices.id', 'rollout_devices.device_id')
    .select([
      'rollout_devices.device_id as id',
      'devices.device_id as device_id',
      'devices.name as name',
      'devices.status as device_status',
      'devices.last_seen as last_seen',
      'rollout_devices.wave',
      'rollout_devices.state',
      'rollout_devices.reason',
      'rollout_devices.previous_version',
      'rollout_devices.attempt',
      'rollout_devices.released_at',
      'rollout_devices.state_since',
    ])
    .where('rollout_devices.rollout_id', '=', r.id)
    .orderBy('rollout_devices.wave')
    .orderBy('devices.device_id')
    .execute()
  const counts = emptyCounts()
  const waves = Array.from({ length: r.wave_count }, (_, index) => ({ index, size: 0, counts: emptyCounts(), status: 'waiting' as 'waiting' | 'active' | 'done' }))
  for (const d of devices) {
    counts[d.state]++
    const wave = waves[d.wave]
    if (wave) {
      wave.size++
      wave.counts[d.state]++
    }
  }
  for (const w of waves) w.status = w.index < r.current_wave || (r.finished_at && w.index <= r.current_wave) ? 'done' : w.index === r.current_wave && r.status !== 'draft' ? 'active' : 'waiting'
  return {
    ...summary(r),
    total: devices.length,
    counts,
    waves,
    devices: devices.map((d) => ({ ...d, online: d.device_status === 'online' })),
  }
}
