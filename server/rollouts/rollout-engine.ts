import type { Kysely, Selectable } from 'kysely'
import type { Database, RolloutDevicesTable } from '../db/schema.js'
import type { Logger } from '../logger.js'
import { FINAL_STATES, IN_FLIGHT_STATES, nextProgress, type ContainerFact, type DeviceFacts } from './device-progress.js'
import { createRolloutStore, pin } from './rollout-store.js'
import { currentVersion, targetDevices, type RolloutRow } from './rollout-targets.js'

type DeviceRow = Selectable<RolloutDevicesTable>

/**
 * Moves rollouts forward: one tick looks at every rollout that is running or
 * paused (or finished with devices still skipped), each in its own
 * transaction holding the rollout's row with `FOR UPDATE SKIP LOCKED`, so two
 * gateways on one database never tick the same rollout at once and an
 * operator's operation waits for the tick. All state is in the database: a
 * restarted gateway carries on where the last tick stopped.
 */
export function createRolloutEngine(deps: { db: Kysely<Database>; logger: Logger; tickMs: number; nudge(deviceUuid: string): Promise<unknown> }) {
  const { db, logger } = deps
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  let closed = false
  let again = false

  async function facts(tx: Kysely<Database>, softwareId: string, ids: string[]): Promise<Map<string, DeviceFacts>> {
    const out = new Map<string, DeviceFacts>()
    if (!ids.length) return out
    const [devices, reports, beats] = await Promise.all([
      tx.selectFrom('devices').select(['id', 'status', 'last_seen']).where('id', 'in', ids).execute(),
      tx.selectFrom('device_software_status').selectAll().where('software_id', '=', softwareId).where('device_id', 'in', ids).execute(),
      tx.selectFrom('device_metrics_latest').select(['device_id', 'recorded_at', 'containers', 'docker_error']).where('device_id', 'in', ids).execute(),
    ])
    for (const d of devices) out.set(d.id, { online: d.status === 'online', last_seen: d.last_seen })
    for (const r of reports) {
      const f = out.get(r.device_id)
      if (f) f.report = { version: r.version, status: r.status, error: r.error, updated_at: r.updated_at }
    }
    for (const b of beats) {
      const f = out.get(b.device_id)
      if (f) f.heartbeat = { recorded_at: b.recorded_at, containers: (Array.isArray(b.containers) ? b.containers : []) as ContainerFact[], docker_error: b.docker_error }
    }
    return out
  }

  /** Adds devices that joined the targeted fleet (or now match its selector) to the current wave. */
  async function join(tx: Kysely<Database>, r: RolloutRow, rows: DeviceRow[]) {
    if (!r.fleet_id || r.device_ids) return rows
    const known = new Set(rows.map((d) => d.device_id))
    const joined = (await targetDevices(tx, r)).filter((d) => !known.has(d.id))
    if (!joined.length) return rows
    const wave = Math.max(0, Math.min(r.current_wave, r.wave_count - 1))
    const added = await tx
      .insertInto('rollout_devices')
      .values(joined.map((d) => ({ rollout_id: r.id, device_id: d.id, wave, reason: 'joined the fleet during the rollout' })))
      .onConflict((oc) => oc.doNothing())
      .returningAll()
      .execute()
    return [...rows, ...added]
  }

  async function release(tx: Kysely<Database>, r: RolloutRow, d: DeviceRow, f: DeviceFacts | undefined, now: Date) {
    let previous = d.previous_version
    let releasedAt = now
    if (d.attempt === 0) {
      const device = await tx.selectFrom('devices').select(['id', 'fleet_id']).where('id', '=', d.device_id).executeTakeFirstOrThrow()
      previous = await currentVersion(tx, device, r.software_id)
      // A device that already runs this release sends no new report: its last one counts.
      if (f?.report?.version === r.version && f.report.status === 'running') releasedAt = f.report.updated_at
    }
    await pin(tx, d.device_id, r.software_id, r.version, r.id, d.attempt)
    const values = { released_at: releasedAt, previous_version: previous, state: 'pending' as const, reason: 'sent to the device; waiting for it to start', state_since: now }
    await tx.updateTable('rollout_devices').set(values).where('rollout_id', '=', r.id).where('device_id', '=', d.device_id).execute()
    Object.assign(d, values)
  }

  async function tickRollout(id: string): Promise<string[]> {
    return db.transaction().execute(async (tx) => {
      const r = await tx.selectFrom('rollouts').selectAll().where('id', '=', id).forUpdate().skipLocked().executeTakeFirst()
      if (!r) return []
      const live = r.status === 'running' || r.status === 'paused'
      const now = new Date()
      const pinned: string[] = []
      let rows = await tx.selectFrom('rollout_devices').selectAll().where('rollout_id', '=', r.id).execute()
      if (live) rows = await join(tx, r, rows)
      const watched = rows.filter((d) => !FINAL_STATES.has(d.state) && (d.released_at || (r.status === 'running' && d.wave <= r.current_wave)))
      const known = await facts(tx, r.software_id, watched.map((d) => d.device_id))

      for (const d of watched) {
        if (!d.released_at) {
          if (d.state !== 'pending') continue
          await release(tx, r, d, known.get(d.device_id), now)
          pinned.push(d.device_id)
        }
        const f = known.get(d.device_id)
        const p = f && nextProgress(d, f, { software_id: r.software_id, version: r.version, settings: r.settings }, now)
        if (!p) continue
        const stateChanged = p.state !== d.state
        await tx
          .updateTable('rollout_devices')
          .set({ state: p.state, reason: p.reason, healthy_since: p.healthy_since, ...(stateChanged ? { state_since: now } : {}) })
          .where('rollout_id', '=', r.id)
          .where('device_id', '=', d.device_id)
          .execute()
        if (p.state === 'failed') {
          // The gateway's intent follows what a failed device runs again: its previous release (retry sends this one anew).
          await pin(tx, d.device_id, r.software_id, d.previous_version, r.id, d.attempt)
          pinned.push(d.device_id)
        }
        Object.assign(d, p)
      }
      if (r.status === 'running') pinned.push(...(await applyRules(tx, r, rows, now)))
      return pinned
    })
  }

  /** The failure rule, then the advance rule, then completion. Returns devices pinned by an automatic rollback. */
  async function applyRules(tx: Kysely<Database>, r: RolloutRow, rows: DeviceRow[], now: Date): Promise<string[]> {
    const s = r.settings
    const set = (values: Partial<Pick<RolloutRow, 'status' | 'reason' | 'current_wave' | 'finished_at'>>) =>
      tx.updateTable('rollouts').set({ ...values, updated_at: now }).where('id', '=', r.id).execute()
    const counted = rows.filter((d) => d.released_at && d.state !== 'skipped' && d.state !== 'cancelled')
    const failed = counted.filter((d) => d.state === 'failed').length
    const pct = counted.length ? ((failed - r.failure_baseline) * 100) / counted.length : 0
    if (failed > r.failure_baseline && pct > s.error_threshold_percent && s.failure_action !== 'continue') {
      const why = `${failed} of ${counted.length} devices failed (${Math.round(pct)}% > the ${s.error_threshold_percent}% threshold)`
      if (s.failure_action === 'pause') {
        await set({ status: 'paused', reason: `${why}: paused automatically. Resume, retry the failed devices or roll back.` })
        return []
      }
      const { pinned } = await createRolloutStore({ db: tx }).operate(r.id, 'rollback', 'the failure rule')
      await set({ reason: `${why}: rolled back automatically` })
      return pinned
    }

    const wave = rows.filter((d) => d.wave === r.current_wave)
    const settled = wave.every((d) => FINAL_STATES.has(d.state) || d.state === 'skipped')
    const considered = wave.filter((d) => d.state !== 'skipped' && d.state !== 'cancelled')
    const succeeded = considered.filter((d) => d.state === 'succeeded').length
    const done = settled || !considered.length || (succeeded * 100) / considered.length >= s.success_percent
    if (!done) return []
    if (r.current_wave + 1 < r.wave_count) {
      if (r.strategy !== 'manual') await set({ current_wave: r.current_wave + 1, reason: null })
      else {
        const reason = `wave ${r.current_wave + 1} of ${r.wave_count} is done: advance to start wave ${r.current_wave + 2}`
        if (r.reason !== reason) await set({ reason })
      }
      return []
    }
    if (rows.some((d) => IN_FLIGHT_STATES.has(d.state))) return []
    const all = rows.filter((d) => d.state !== 'skipped' && d.state !== 'cancelled')
    const ok = all.filter((d) => d.state === 'succeeded').length
    const skipped = rows.filter((d) => d.state === 'skipped').length
    const skippedNote = skipped ? `; ${skipped} skipped (offline: they update when they reconnect)` : ''
    if (!all.length || (ok * 100) / all.length >= s.success_percent) await set({ status: 'completed', reason: `${ok} of ${rows.length} devices succeeded${skippedNote}`, finished_at: now })
    else await set({ status: 'failed', reason: `only ${ok} of ${all.length} devices succeeded (${s.success_percent}% needed)${skippedNote}`, finished_at: now })
    return []
  }

  async function tick(): Promise<void> {
    const ids = await db
      .selectFrom('rollouts')
      .select('id')
      .where((eb) =>
        eb.or([
          eb('status', 'in', ['running', 'paused']),
          // Finished rollouts keep being watched while a skipped device may still catch up.
          eb.and([
            eb('status', 'in', ['completed', 'failed']),
            eb.exists(
              eb
                .selectFrom('rollout_devices')
                .select('device_id')
                .whereRef('rollout_id', '=', 'rollouts.id')
                .where('released_at', 'is not', null)
                .where('state', 'in', ['skipped', 'pending', 'downloading', 'installing', 'verifying']),
            ),
          ]),
        ]),
      )
      .execute()
    const nudges = new Set<string>()
    for (const { id } of ids) {
      if (closed) return
      try {
        for (const device of await tickRollout(id)) nudges.add(device)
      } catch (err) {
        logger.warn({ err: (err as Error).message, rollout: id }, 'rollout tick failed; the next tick retries')
      }
    }
    // Best effort: a device that misses the nudge picks the change up at its next heartbeat.
    for (const device of nudges) void deps.nudge(device).catch(() => undefined)
  }

  function schedule(ms: number) {
    if (closed) return
    clearTimeout(timer)
    timer = setTimeout(run, ms)
  }

  function run() {
    if (running) {
      again = true
      return
    }
    running = tick()
      .catch((err: Error) => logger.warn({ err: err.message }, 'rollout tick failed'))
      .finally(() => {
        running = undefined
        if (again) {
          again = false
          schedule(0)
        } else schedule(deps.tickMs)
      })
  }

  return {
    start: () => schedule(0),
    /** Ticks soon (after an operation) rather than at the next interval. */
    poke: () => schedule(0),
    /** One tick now, for tests and the bench. */
    tick,
    async close() {
      closed = true
      clearTimeout(timer)
      await running
    },
  }
}

export type RolloutEngine = ReturnType<typeof createRolloutEngine>
