import { sql, type Kysely } from 'kysely'
import type { Database, RolloutDeviceState, RolloutStatus } from '../db/schema.js'
import { inTransaction } from '../db/in-transaction.js'
import { ConflictError, DomainError, NotFoundError, ValidationError } from '../errors.js'
import { isUuid } from '../api/validation.js'
import { planWaves, settingsFrom, type CreateRolloutInput } from './rollout-settings.js'
import { targetDevices, type RolloutRow } from './rollout-targets.js'
import { rolloutDetail, rolloutSummaries } from './rollout-view.js'
import { OPERATIONS_ALLOWED_FROM } from '../../shared/rollout-rules.js'

export const ACTIVE_STATUSES: readonly RolloutStatus[] = ['draft', 'running', 'paused']
export type RolloutOperation = 'start' | 'pause' | 'resume' | 'cancel' | 'rollback' | 'retry' | 'advance'

/** Which rollout states each operation may start from. */
const allowedFrom: Readonly<Record<RolloutOperation, readonly RolloutStatus[]>> = OPERATIONS_ALLOWED_FROM

export interface RolloutListQuery {
  limit: number
  offset: number
  status?: RolloutStatus
  fleet_id?: string
  software_id?: string
}

/**
 * Rollouts and the operator's operations on them. Every operation locks the
 * rollout's row, so it never interleaves with an engine tick (which takes
 * the same lock) on this or another gateway. Pins (device_targets) change
 * here and in the engine only; `onPinned` learns which devices to nudge
 * once the caller's transaction commits.
 */
export function createRolloutStore(deps: { db: Kysely<Database> }) {
  const { db } = deps

  const withSoftware = (q: Kysely<Database>) =>
    q.selectFrom('rollouts').innerJoin('software', 'software.id', 'rollouts.software_id').selectAll('rollouts').select('software.name as software_name')

  async function row(id: string, tx: Kysely<Database> = db, lock = false) {
    if (!isUuid(id)) throw new NotFoundError('ROLLOUT_NOT_FOUND', 'rollout')
    let q = tx.selectFrom('rollouts').selectAll().where('id', '=', id.toLowerCase())
    if (lock) q = q.forUpdate()
    const r = await q.executeTakeFirst()
    if (!r) throw new NotFoundError('ROLLOUT_NOT_FOUND', 'rollout')
    return r
  }

  async function get(id: string) {
    const r = await withSoftware(db).where('rollouts.id', '=', (await row(id)).id).executeTakeFirstOrThrow()
    return rolloutDetail(db, r)
  }

  async function list(q: RolloutListQuery) {
    let base = db.selectFrom('rollouts')
    if (q.status) base = base.where('status', '=', q.status)
    if (q.fleet_id) base = base.where('fleet_id', '=', q.fleet_id)
    if (q.software_id) base = base.where('software_id', '=', q.software_id)
    const [ids, count] = await Promise.all([
      base.select('id').orderBy('created_at', 'desc').orderBy('id').limit(q.limit).offset(q.offset).execute(),
      base.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
    ])
    const rows = ids.length ? await withSoftware(db).where('rollouts.id', 'in', ids.map((r) => r.id)).orderBy('rollouts.created_at', 'desc').orderBy('rollouts.id').execute() : []
    return { items: await rolloutSummaries(db, rows), total: Number(count.n) }
  }

  /** A second active rollout of the same software to the same fleet, or to one of the same devices, is a 409 naming the first. */
  async function assertNoOverlap(tx: Kysely<Database>, r: Pick<RolloutRow, 'id' | 'software_id' | 'fleet_id' | 'device_ids'>) {
    const others = tx.selectFrom('rollouts').select(['id', 'status']).where('software_id', '=', r.software_id).where('status', 'in', ACTIVE_STATUSES).where('id', '<>', r.id)
    const clash = r.fleet_id
      ? await others.where('fleet_id', '=', r.fleet_id).executeTakeFirst()
      : r.device_ids?.length
        ? await others
            .where('id', 'in', tx.selectFrom('rollout_devices').select('rollout_id').where('device_id', 'in', r.device_ids))
            .executeTakeFirst()
        : undefined
    if (clash) {
      throw new ConflictError(
        `rollout ${clash.id} of this software to ${r.fleet_id ? 'this fleet' : 'one of these devices'} is still ${clash.status}: finish, cancel or roll it back first`,
        'ROLLOUT_ACTIVE',
      )
    }
  }

  async function create(input: CreateRolloutInput, createdBy: string | null): Promise<RolloutRow> {
    if ((input.fleet_id === undefined) === (input.devices === undefined)) {
      throw new ValidationError(input.fleet_id === undefined ? 'fleet_id' : 'devices', 'give exactly one of fleet_id or devices')
    }
    if (input.devices && input.selector) throw new ValidationError('selector', 'a selector narrows a fleet; it cannot go with explicit devices')
    return inTransaction(db, async (tx) => {
      const software = await tx.selectFrom('software').select(['id', 'name', 'current_version']).where('id', '=', input.software_id).executeTakeFirst()
      if (!software) throw new ValidationError('software_id', `no software ${input.software_id}`)
      const version = input.version ?? software.current_version
      if (!version) throw new DomainError('SOFTWARE_HAS_NO_VERSION', `software ${software.name} has no version to roll out yet`)
      if (!(await tx.selectFrom('software_versions').select('id').where('software_id', '=', software.id).where('version', '=', version).executeTakeFirst())) {
        throw new ValidationError('version', `software ${software.name} has no version ${version}`)
      }
      if (input.fleet_id && !(await tx.selectFrom('fleets').select('id').where('id', '=', input.fleet_id).executeTakeFirst())) {
        throw new ValidationError('fleet_id', `no fleet ${input.fleet_id}`)
      }
      let deviceIds: string[] | null = null
      if (input.devices) {
        const refs = [...new Set(input.devices)]
        const uuids = refs.filter(isUuid).map((r) => r.toLowerCase())
        const found = await tx
          .selectFrom('devices')
          .select(['id', 'device_id'])
          .where((eb) => eb.or([eb('device_id', 'in', refs), ...(uuids.length ? [eb('id', 'in', uuids)] : [])]))
          .execute()
        const missing = refs.find((ref) => !found.some((d) => d.device_id === ref || d.id === ref.toLowerCase()))
        if (missing !== undefined) throw new ValidationError('devices', `no device ${missing}`)
        deviceIds = [...new Set(found.map((d) => d.id))]
      }
      const draft = { id: '00000000-0000-0000-0000-000000000000', software_id: software.id, fleet_id: input.fleet_id ?? null, device_ids: deviceIds }
      // Serialises creators of the same software so two concurrent creations cannot both pass the check.
      await sql`select pg_advisory_xact_lock(7310, hashtext(${software.id}))`.execute(tx)
      await assertNoOverlap(tx, draft)
      return tx
        .insertInto('rollouts')
        .values({
          software_id: software.id,
          version,
          fleet_id: input.fleet_id ?? null,
          selector: input.selector?.text || null,
          device_ids: deviceIds ? JSON.stringify(deviceIds) : null,
          strategy: input.strategy,
          settings: JSON.stringify(settingsFrom(input)),
          status: 'draft',
          reason: null,
          created_by: createdBy,
          started_at: null,
          finished_at: null,
        })
        .returningAll()
        .executeTakeFirstOrThrow()
    })
  }

  async function setDevices(tx: Kysely<Database>, rolloutId: string, from: readonly RolloutDeviceState[], values: Record<string, unknown>, onlyReleased?: boolean) {
    let q = tx.updateTable('rollout_devices').set({ state_since: new Date(), ...values }).where('rollout_id', '=', rolloutId).where('state', 'in', from)
    if (onlyReleased === true) q = q.where('released_at', 'is not', null)
    if (onlyReleased === false) q = q.where('released_at', 'is', null)
    return q.returning('device_id').execute()
  }

  /**
   * Applies one operation. Returns the device ids whose pin changed (to nudge).
   * `actor` names who asked, in the reasons devices and the rollout show.
   */
  async function operate(id: string, op: RolloutOperation, actor: string): Promise<{ rollout: RolloutRow; pinned: string[] }> {
    return inTransaction(db, async (tx) => {
      const r = await row(id, tx, true)
      if (!allowedFrom[op].includes(r.status)) throw new DomainError('ROLLOUT_STATE', `cannot ${op} a rollout that is ${r.status.replace('_', ' ')}`)
      const now = new Date()
      const set = (values: Partial<Pick<RolloutRow, 'status' | 'reason' | 'current_wave' | 'wave_count' | 'failure_baseline' | 'started_at' | 'finished_at'>>) =>
        tx.updateTable('rollouts').set({ ...values, updated_at: now }).where('id', '=', r.id).returningAll().executeTakeFirstOrThrow()
      let pinned: string[] = []
      switch (op) {
        case 'start': {
          const devices = await targetDevices(tx, r)
          if (!devices.length) throw new DomainError('ROLLOUT_NO_DEVICES', 'no device matches the rollout\'s targets (fleet, selector or devices)')
          await assertNoOverlap(tx, r)
          const sizes = planWaves(devices.length, r.strategy, r.settings)
          let i = 0
          const rows = sizes.flatMap((size, wave) => devices.slice(i, (i += size)).map((d) => ({ rollout_id: r.id, device_id: d.id, wave, previous_version: null })))
          for (let k = 0; k < rows.length; k += 500) await tx.insertInto('rollout_devices').values(rows.slice(k, k + 500)).execute()
          return { rollout: await set({ status: 'running', reason: null, wave_count: sizes.length, current_wave: 0, started_at: now }), pinned }
        }
        case 'pause':
          return { rollout: await set({ status: 'paused', reason: `paused by ${actor}` }), pinned }
        case 'resume': {
          // The failures seen so far are accepted: only new ones count against the threshold.
          const failed = await tx.selectFrom('rollout_devices').select((eb) => eb.fn.countAll<string>().as('n')).where('rollout_id', '=', r.id).where('state', '=', 'failed').executeTakeFirstOrThrow()
          return { rollout: await set({ status: 'running', reason: null, failure_baseline: Number(failed.n) }), pinned }
        }
        case 'advance': {
          if (r.current_wave + 1 >= r.wave_count) throw new DomainError('ROLLOUT_STATE', 'this rollout is on its last wave already')
          return { rollout: await set({ current_wave: r.current_wave + 1, reason: `wave ${r.current_wave + 2} started by ${actor}` }), pinned }
        }
        case 'cancel': {
          await setDevices(tx, r.id, ['pending'], { state: 'cancelled', reason: 'not sent: the rollout was cancelled' }, false)
          await setDevices(tx, r.id, ['pending', 'downloading', 'installing', 'verifying'], { state: 'cancelled', reason: 'the rollout was cancelled while this device was updating; it keeps the release it was sent' }, true)
          return { rollout: await set({ status: 'cancelled', reason: `cancelled by ${actor}`, finished_at: now }), pinned }
        }
        case 'rollback': {
          await setDevices(tx, r.id, ['pending'], { state: 'cancelled', reason: 'not sent: the rollout was rolled back' }, false)
          const back = await tx
            .selectFrom('rollout_devices')
            .select(['device_id', 'previous_version'])
            .where('rollout_id', '=', r.id)
            .where('released_at', 'is not', null)
            .where('state', 'in', ['pending', 'downloading', 'installing', 'verifying', 'succeeded', 'failed', 'skipped'])
            .execute()
          for (const d of back) {
            await pin(tx, d.device_id, r.software_id, d.previous_version, r.id)
            await tx
              .updateTable('rollout_devices')
              .set({ state: 'rolled_back', state_since: now, reason: `rolled back by ${actor}: ${d.previous_version ? `back to ${d.previous_version}` : 'removed, it ran no earlier release'}` })
              .where('rollout_id', '=', r.id)
              .where('device_id', '=', d.device_id)
              .execute()
          }
          pinned = back.map((d) => d.device_id)
          return { rollout: await set({ status: 'rolled_back', reason: `rolled back by ${actor}`, finished_at: now }), pinned }
        }
        case 'retry': {
          if (r.status !== 'running' && r.status !== 'paused') await assertNoOverlap(tx, r)
          // Released again at the next tick, with a new attempt so the agent tries the release that failed there.
          const retried = await tx
            .updateTable('rollout_devices')
            .set((eb) => ({ state: 'pending', reason: `retried by ${actor}`, state_since: now, released_at: null, healthy_since: null, attempt: eb('attempt', '+', 1) }))
            .where('rollout_id', '=', r.id)
            .where('state', '=', 'failed')
            .returning('device_id')
            .execute()
          if (!retried.length) throw new DomainError('ROLLOUT_STATE', 'no device of this rollout has failed')
          return { rollout: await set({ status: 'running', reason: null, failure_baseline: 0, finished_at: null }), pinned }
        }
      }
    })
  }

  return { create, get, list, operate, row }
}

/** Points a device at a release of a software (null: none); the resolver reads this before deployments. */
export async function pin(tx: Kysely<Database>, deviceId: string, softwareId: string, version: string | null, rolloutId: string, attempt = 0) {
  const values = { version, attempt, rollout_id: rolloutId, updated_at: new Date() }
  await tx
    .insertInto('device_targets')
    .values({ device_id: deviceId, software_id: softwareId, ...values })
    .onConflict((oc) => oc.columns(['device_id', 'software_id']).doUpdateSet(values))
    .execute()
}

export type RolloutStore = ReturnType<typeof createRolloutStore>
