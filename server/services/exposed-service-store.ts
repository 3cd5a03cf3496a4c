import { sql, type Kysely } from 'kysely'
import { lowestFreePort } from '../db/lowest-free-port.js'
import type { Database, ExposedServiceRow } from '../db/schema.js'
import type { GatewayEvents } from '../events/gateway-events.js'
import { ConflictError, DomainError, NotFoundError } from '../errors.js'
import { inTransaction } from '../db/in-transaction.js'

export interface ExposedServiceInput {
  name: string
  container_name: string
  internal_port: number
  protocol?: 'http' | 'tcp'
  url_path?: string | null
  auth_required?: boolean
  enabled?: boolean
}

export type ExposedServicePatch = Partial<ExposedServiceInput>

/** Exposed services of a device. Every change is announced so the proxy's route cache drops stale entries. */
export function createExposedServiceStore(deps: { db: Kysely<Database>; events: GatewayEvents; tcpPortRange: { start: number; end: number } }) {
  const { db, events, tcpPortRange } = deps
  const changed = (deviceUuid: string) => events.emit('service.changed', { device_uuid: deviceUuid })

  async function assertFree(deviceUuid: string, input: ExposedServicePatch, exceptId?: string) {
    if (input.name !== undefined) {
      let q = db.selectFrom('exposed_services').select('id').where('device_id', '=', deviceUuid).where('name', '=', input.name)
      if (exceptId) q = q.where('id', '<>', exceptId)
      if (await q.executeTakeFirst()) throw new ConflictError(`this device already has a service named ${input.name}`, 'SERVICE_EXISTS', 'name')
    }
    if (input.url_path) {
      let q = db.selectFrom('exposed_services').select('name').where('device_id', '=', deviceUuid).where('url_path', '=', input.url_path)
      if (exceptId) q = q.where('id', '<>', exceptId)
      const clash = await q.executeTakeFirst()
      if (clash) throw new ConflictError(`service ${clash.name} already routes ${input.url_path}`, 'URL_PATH_TAKEN', 'url_path')
    }
  }

  /** The gateway-side loopback port of a `tcp` service: the lowest free one in the range. */
  async function allocateTcpPort(tx: Kysely<Database>): Promise<number> {
    await sql`select pg_advisory_xact_lock(7202)`.execute(tx)
    return lowestFreePort(tx, 'exposed_services', tcpPortRange)
  }

  async function create(deviceUuid: string, input: ExposedServiceInput): Promise<ExposedServiceRow> {
    await assertFree(deviceUuid, input)
    const row = await inTransaction(db, async (tx) => tx
      .insertInto('exposed_services')
      .values({
        device_id: deviceUuid,
        name: input.name,
        container_name: input.container_name,
        internal_port: input.internal_port,
        external_port: input.protocol === 'tcp' ? await allocateTcpPort(tx) : null,
        protocol: input.protocol ?? 'http',
        url_path: input.url_path ?? null,
        auth_required: input.auth_required ?? true,
        enabled: input.enabled ?? true,
      })
      .returningAll()
      .executeTakeFirstOrThrow())
    changed(deviceUuid)
    return row
  }

  function list(deviceUuid: string): Promise<ExposedServiceRow[]> {
    return db.selectFrom('exposed_services').selectAll().where('device_id', '=', deviceUuid).orderBy('name').execute()
  }

  async function get(deviceUuid: string, serviceId: string): Promise<ExposedServiceRow> {
    const row = await db.selectFrom('exposed_services').selectAll().where('device_id', '=', deviceUuid).where('id', '=', serviceId).executeTakeFirst()
    if (!row) throw new NotFoundError('SERVICE_NOT_FOUND', 'exposed service')
    return row
  }

  async function update(deviceUuid: string, serviceId: string, patch: ExposedServicePatch): Promise<ExposedServiceRow> {
    const current = await get(deviceUuid, serviceId)
    await assertFree(deviceUuid, patch, serviceId)
    const protocol = patch.protocol ?? current.protocol
    const externalPort = protocol === 'tcp' ? (current.external_port ?? (await inTransaction(db, allocateTcpPort))) : null
    const row = await db
      .updateTable('exposed_services')
      .set({ ...patch, external_port: externalPort, updated_at: new Date() })
      .where('id', '=', serviceId)
      .returningAll()
      .executeTakeFirstOrThrow()
    changed(deviceUuid)
    return row
  }

  async function remove(deviceUuid: string, serviceId: string): Promise<ExposedServiceRow> {
    const row = await get(deviceUuid, serviceId)
    await db.deleteFrom('exposed_services').where('id', '=', serviceId).execute()
    changed(deviceUuid)
    return row
  }

  /** Every enabled `tcp` service, for the gateway's loopback listeners. */
  function enabledTcpServices(deviceUuid?: string): Promise<ExposedServiceRow[]> {
    let q = db.selectFrom('exposed_services').selectAll().where('protocol', '=', 'tcp').where('enabled', '=', true)
    if (deviceUuid) q = q.where('device_id', '=', deviceUuid)
    return q.execute()
  }

  return { create, list, get, update, remove, enabledTcpServices }
}

export type ExposedServiceStore = ReturnType<typeof createExposedServiceStore>
