import type { Kysely, Selectable } from 'kysely'
import type { Database, DeploymentsTable } from '../db/schema.js'
import { ConflictError, DomainError, NotFoundError, ValidationError } from '../errors.js'
import type { SoftwareStore } from '../software/software-store.js'
import { inTransaction } from '../db/in-transaction.js'

export type DeploymentRow = Selectable<DeploymentsTable>

/** A deployment with what it resolves to now: the software's name and the version its devices should run. */
export interface DeploymentWithSoftware extends DeploymentRow {
  software_name: string
  effective_version: string
}

export type DeployTarget = { fleetId: string } | { deviceUuid: string }

export interface DeployInput {
  target: DeployTarget
  version?: string
  pinned?: boolean
  /** How agents replace the running release; undefined keeps what the deployment had (null: the agent's default). */
  updateStrategy?: 'download-then-kill' | 'kill-then-download' | null
  /** Kill and restart even while a container holds its update lock; undefined keeps what the deployment had. */
  overrideLock?: boolean
}

export interface DeploymentListQuery {
  limit: number
  offset: number
  software_id?: string
  fleet_id?: string
  /** A device's own deployments and those of its current fleet. */
  device?: { id: string; fleet_id: string | null }
}

/**
 * Assignments of software to fleets and devices. A fleet deployment is one
 * row, resolved against the fleet's members at read time, so devices that
 * join later get it too. One row per software and target: deploying again
 * updates it.
 */
export function createDeploymentStore(deps: { db: Kysely<Database>; software: SoftwareStore }) {
  const { db } = deps

  function withSoftware() {
    return db
      .selectFrom('deployments')
      .innerJoin('software', 'software.id', 'deployments.software_id')
      .selectAll('deployments')
      .select(['software.name as software_name', 'software.current_version as current_version'])
  }

  function effective<T extends DeploymentRow & { software_name: string; current_version: string | null }>(row: T): DeploymentWithSoftware {
    const { current_version, ...rest } = row
    // Unpinned deployments follow the software; pinned ones keep the version they were given.
    return { ...rest, effective_version: row.pinned ? row.version : (current_version ?? row.version) }
  }

  async function deploy(softwareId: string, input: DeployInput): Promise<{ deployment: DeploymentWithSoftware; previous?: DeploymentRow }> {
    const software = await deps.software.get(softwareId)
    if (software.current_version === null) throw new DomainError('SOFTWARE_HAS_NO_VERSION', `software ${software.name} has no compose version to deploy yet`)
    const version = input.version ?? software.current_version
    if (input.version !== undefined) {
      await deps.software.version(software.id, input.version).catch((err: unknown) => {
        if (err instanceof DomainError && err.code === 'VERSION_NOT_FOUND') throw new ValidationError('version', `software ${software.name} has no version ${input.version}`)
        throw err
      })
    }
    // Naming a version means "this one": pinned unless said otherwise.
    const pinned = input.pinned ?? input.version !== undefined
    const fleetId = 'fleetId' in input.target ? input.target.fleetId : null
    const deviceId = 'deviceUuid' in input.target ? input.target.deviceUuid : null
    const now = new Date()

    const { id, previous } = await inTransaction(db, async (tx) => {
      await replacePins(tx, software.id, fleetId, deviceId)
      let existing = tx.selectFrom('deployments').selectAll().where('software_id', '=', software.id).forUpdate()
      existing = fleetId ? existing.where('fleet_id', '=', fleetId) : existing.where('device_id', '=', deviceId!)
      const previous = await existing.executeTakeFirst()
      if (previous) {
        await tx
          .updateTable('deployments')
          .set({ version, pinned, updated_at: now, ...(input.updateStrategy !== undefined ? { update_strategy: input.updateStrategy } : {}), ...(input.overrideLock !== undefined ? { override_lock: input.overrideLock } : {}) })
          .where('id', '=', previous.id)
          .execute()
        return { id: previous.id, previous }
      }
      // `status` is the assignment's own state; what devices run is in device_software_status.
      const row = await tx
        .insertInto('deployments')
        .values({ software_id: software.id, fleet_id: fleetId, device_id: deviceId, version, pinned, status: 'active', env_vars: null, update_strategy: input.updateStrategy ?? null, override_lock: input.overrideLock ?? false })
        .returning('id')
        .executeTakeFirstOrThrow()
      return { id: row.id, previous: undefined }
    })
    return { deployment: await get(id), previous }
  }

  /**
   * A plain deploy is the newer intent: it replaces the release pins earlier
   * rollouts left on its devices for this software. While a rollout of the
   * software to those devices is active, it is refused instead.
   */
  async function replacePins(tx: Kysely<Database>, softwareId: string, fleetId: string | null, deviceId: string | null) {
    const devices = fleetId ? tx.selectFrom('devices').select('id').where('fleet_id', '=', fleetId) : tx.selectFrom('devices').select('id').where('id', '=', deviceId!)
    const active = await tx
      .selectFrom('rollout_devices')
      .innerJoin('rollouts', 'rollouts.id', 'rollout_devices.rollout_id')
      .select('rollouts.id')
      .where('rollouts.software_id', '=', softwareId)
      .where('rollouts.status', 'in', ['running', 'paused'])
      .where('rollout_devices.device_id', 'in', devices)
      .executeTakeFirst()
    if (active) throw new ConflictError(`rollout ${active.id} of this software to these devices is active: finish, cancel or roll it back first`, 'ROLLOUT_ACTIVE')
    await tx.deleteFrom('device_targets').where('software_id', '=', softwareId).where('device_id', 'in', devices).execute()
  }

  async function get(id: string): Promise<DeploymentWithSoftware> {
    const row = await withSoftware().where('deployments.id', '=', id).executeTakeFirst()
    if (!row) throw new NotFoundError('DEPLOYMENT_NOT_FOUND', 'deployment')
    return effective(row)
  }

  async function list(q: DeploymentListQuery) {
    let base = db.selectFrom('deployments')
    if (q.software_id) base = base.where('deployments.software_id', '=', q.software_id)
    if (q.fleet_id) base = base.where('deployments.fleet_id', '=', q.fleet_id)
    if (q.device) {
      const { id, fleet_id } = q.device
      base = base.where((eb) => (fleet_id ? eb.or([eb('deployments.device_id', '=', id), eb('deployments.fleet_id', '=', fleet_id)]) : eb('deployments.device_id', '=', id)))
    }
    const [rows, count] = await Promise.all([
      base
        .innerJoin('software', 'software.id', 'deployments.software_id')
        .selectAll('deployments')
        .select(['software.name as software_name', 'software.current_version as current_version'])
        .orderBy('software.name')
        .orderBy('deployments.created_at')
        .orderBy('deployments.id')
        .limit(q.limit)
        .offset(q.offset)
        .execute(),
      base.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
    ])
    return { items: rows.map(effective), total: Number(count.n) }
  }

  async function remove(id: string): Promise<DeploymentWithSoftware> {
    const deployment = await get(id)
    await db.deleteFrom('deployments').where('id', '=', id).execute()
    return deployment
  }

  /**
   * What applies to a device now: its own deployments, and its fleet's for
   * software it has no deployment of its own for.
   */
  async function forDevice(device: { id: string; fleet_id: string | null }): Promise<DeploymentWithSoftware[]> {
    const { items } = await list({ device, limit: 10_000, offset: 0 })
    const own = new Set(items.filter((d) => d.device_id === device.id).map((d) => d.software_id))
    return items.filter((d) => d.device_id === device.id || !own.has(d.software_id))
  }

  return { deploy, get, list, remove, forDevice }
}

export type DeploymentStore = ReturnType<typeof createDeploymentStore>
