import { randomBytes } from 'node:crypto'
import { sql, type Kysely, type Transaction } from 'kysely'
import { lowestFreePort } from '../db/lowest-free-port.js'
import type { Database, DeviceRow, DeviceStatus } from '../db/schema.js'
import { ValidationError, ConflictError, DomainError, NotFoundError } from '../errors.js'
import { isUuid, likePattern } from '../api/validation.js'
import { parsePublicKey } from './device-keys.js'
import { inTransaction } from '../db/in-transaction.js'
import { firstFreeLabel, labelPrefix } from './device-labels.js'
import { selectorSql, type Labels, type Requirement } from './label-selector.js'
import { needsAttentionSql } from './device-health.js'

export const deviceIdPattern = /^[a-z0-9][a-z0-9._-]{0,62}$/
export const subdomainPattern = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/

export interface DeviceInput {
  name: string
  device_id?: string
  /**
   * A DNS label (see device-labels.ts) that becomes both the device id and the
   * subdomain, with the first free `-2`, `-3`… suffix when taken. Wins over
   * `device_id` and `subdomain`.
   */
  label?: string
  fleet_id?: string | null
  public_key?: string | null
  subdomain?: string
  hardware_info?: Record<string, unknown> | null
  os_version?: string | null
  labels?: Labels
}

export interface DevicePatch {
  name?: string
  fleet_id?: string | null
  public_key?: string | null
  subdomain?: string
  subdomain_enabled?: boolean
  /** Replaces every label. */
  labels?: Labels
}

export interface DeviceListQuery {
  limit: number
  offset: number
  fleet_id?: string
  status?: DeviceStatus
  q?: string
  /** Parsed label selector (label-selector.ts). */
  selector?: Requirement[]
  /** Only devices that need attention (a failed or rolled-back deploy, or an error). */
  attention?: boolean
}

/** Lets the proxy and tunnel drop cached routes when a device changes. */
export type DeviceChangeListener = (device: { id: string; device_id: string }) => void

export function createDeviceStore(deps: {
  db: Kysely<Database>
  sshPortRange: { start: number; end: number }
  /** Labels no device may take (the console host's own label, for one). */
  reservedSubdomains: ReadonlySet<string>
  onChange?: DeviceChangeListener
}) {
  const { db, sshPortRange, reservedSubdomains } = deps
  const changed = (d: { id: string; device_id: string }) => deps.onChange?.(d)

  function slug(text: string): string {
    return text.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 50) || 'device'
  }

  async function subdomainFree(tx: Transaction<Database>, subdomain: string, exceptId?: string) {
    if (reservedSubdomains.has(subdomain)) return false
    let q = tx.selectFrom('devices').select('id').where('subdomain', '=', subdomain)
    if (exceptId) q = q.where('id', '<>', exceptId)
    return !(await q.executeTakeFirst())
  }

  async function pickSubdomain(tx: Transaction<Database>, deviceId: string): Promise<string> {
    const base = slug(deviceId)
    if (await subdomainFree(tx, base)) return base
    for (;;) {
      const candidate = `${base}-${randomBytes(3).toString('hex')}`
      if (await subdomainFree(tx, candidate)) return candidate
    }
  }

  /** The first free of `base`, `base-2`, …: free as a device id, as a subdomain and not reserved. Call under lockAllocation. */
  async function freeLabel(tx: Transaction<Database>, base: string): Promise<string> {
    const prefix = `${labelPrefix(base)}%`
    const rows = await tx
      .selectFrom('devices')
      .select(['device_id', 'subdomain'])
      .where((eb) => eb.or([eb('device_id', 'like', prefix), eb('subdomain', 'like', prefix)]))
      .execute()
    return firstFreeLabel(base, new Set([...reservedSubdomains, ...rows.flatMap((r) => [r.device_id, r.subdomain])]))
  }

  const allocatePort = (tx: Transaction<Database>) => lowestFreePort(tx, 'devices', sshPortRange)

  /** Serialises port and subdomain allocation across gateways sharing one database. */
  async function lockAllocation(tx: Transaction<Database>) {
    await sql`select pg_advisory_xact_lock(7201)`.execute(tx)
  }

  async function assertFleet(tx: Transaction<Database>, fleetId: string | null | undefined) {
    if (!fleetId) return
    if (!(await tx.selectFrom('fleets').select('id').where('id', '=', fleetId).executeTakeFirst())) {
      throw new ValidationError('fleet_id', `no fleet ${fleetId}`)
    }
  }

  async function assertKeyFree(tx: Transaction<Database>, fingerprint: string, exceptId?: string) {
    let q = tx.selectFrom('devices').select('device_id').where('public_key_fingerprint', '=', fingerprint)
    if (exceptId) q = q.where('id', '<>', exceptId)
    if (await q.executeTakeFirst()) throw new ConflictError('this public key already belongs to another device', 'PUBLIC_KEY_IN_USE', 'public_key')
  }

  /**
   * With `tx`, the device is created inside the caller's transaction (with
   * the caller's other rows) and the caller announces it after commit with
   * `announce`.
   */
  async function create(input: DeviceInput, tx?: Transaction<Database>): Promise<DeviceRow> {
    const key = input.public_key ? parsePublicKey(input.public_key) : undefined
    const insert = async (tx: Transaction<Database>) => {
      await lockAllocation(tx)
      // Under the allocation lock: two registrations racing for `lab-1` get `lab-1` and `lab-1-2`.
      const label = input.label ? await freeLabel(tx, input.label) : undefined
      const deviceId = label ?? input.device_id ?? `dev-${randomBytes(5).toString('hex')}`
      const subdomain = label ?? input.subdomain
      if (await tx.selectFrom('devices').select('id').where('device_id', '=', deviceId).executeTakeFirst()) {
        throw new ConflictError(`device ${deviceId} already exists`, 'DEVICE_EXISTS', 'device_id')
      }
      await assertFleet(tx, input.fleet_id)
      if (key) await assertKeyFree(tx, key.fingerprint)
      if (subdomain && !label && !(await subdomainFree(tx, subdomain))) {
        throw new ConflictError(`subdomain ${subdomain} is taken`, 'SUBDOMAIN_TAKEN', 'subdomain')
      }
      return tx
        .insertInto('devices')
        .values({
          device_id: deviceId,
          name: input.name,
          fleet_id: input.fleet_id ?? null,
          status: 'offline',
          ssh_port: await allocatePort(tx),
          subdomain: subdomain ?? (await pickSubdomain(tx, deviceId)),
          public_key: key?.line ?? null,
          public_key_fingerprint: key?.fingerprint ?? null,
          hardware_info: input.hardware_info ? JSON.stringify(input.hardware_info) : null,
          os_version: input.os_version ?? null,
          labels: JSON.stringify(input.labels ?? {}),
          last_seen: null,
          ip_address: null,
        })
        .returningAll()
        .executeTakeFirstOrThrow()
    }
    if (tx) return insert(tx)
    const device = await inTransaction(db, insert)
    changed(device)
    return device
  }

  /** Finds a device by its UUID or by its device_id. */
  async function find(ref: string): Promise<DeviceRow | undefined> {
    const byId = isUuid(ref) ? await db.selectFrom('devices').selectAll().where('id', '=', ref.toLowerCase()).executeTakeFirst() : undefined
    return byId ?? db.selectFrom('devices').selectAll().where('device_id', '=', ref).executeTakeFirst()
  }

  async function get(ref: string): Promise<DeviceRow> {
    const device = await find(ref)
    if (!device) throw new NotFoundError('DEVICE_NOT_FOUND', 'device')
    return device
  }

  async function list(q: DeviceListQuery) {
    let base = db.selectFrom('devices')
    if (q.fleet_id) base = base.where('fleet_id', '=', q.fleet_id)
    if (q.status) base = base.where('status', '=', q.status)
    if (q.selector?.length) base = base.where(selectorSql(q.selector))
    if (q.attention !== undefined) base = base.where(q.attention ? needsAttentionSql('devices') : sql<boolean>`not ${needsAttentionSql('devices')}`)
    if (q.q) {
      const pattern = likePattern(q.q)
      base = base.where((eb) => eb.or([eb('name', 'ilike', pattern), eb('device_id', 'ilike', pattern), eb('subdomain', 'ilike', pattern)]))
    }
    const [items, count] = await Promise.all([
      base.selectAll().orderBy('name').orderBy('device_id').limit(q.limit).offset(q.offset).execute(),
      base.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
    ])
    return { items, total: Number(count.n) }
  }

  async function update(ref: string, patch: DevicePatch): Promise<DeviceRow> {
    const current = await get(ref)
    const key = patch.public_key ? parsePublicKey(patch.public_key) : undefined
    const device = await inTransaction(db, async (tx) => {
      await lockAllocation(tx)
      await assertFleet(tx, patch.fleet_id)
      if (key) await assertKeyFree(tx, key.fingerprint, current.id)
      if (patch.subdomain && !(await subdomainFree(tx, patch.subdomain, current.id))) {
        throw new ConflictError(`subdomain ${patch.subdomain} is taken`, 'SUBDOMAIN_TAKEN', 'subdomain')
      }
      const values: Record<string, unknown> = { updated_at: new Date() }
      if (patch.name !== undefined) values.name = patch.name
      if (patch.fleet_id !== undefined) values.fleet_id = patch.fleet_id
      if (patch.subdomain !== undefined) values.subdomain = patch.subdomain
      if (patch.subdomain_enabled !== undefined) values.subdomain_enabled = patch.subdomain_enabled
      if (patch.labels !== undefined) values.labels = JSON.stringify(patch.labels)
      if (patch.public_key !== undefined) {
        values.public_key = key?.line ?? null
        values.public_key_fingerprint = key?.fingerprint ?? null
      }
      return tx.updateTable('devices').set(values).where('id', '=', current.id).returningAll().executeTakeFirstOrThrow()
    })
    changed(device)
    return device
  }

  /** Deleting a device releases its SSH port and subdomain with the row. */
  async function remove(ref: string): Promise<DeviceRow> {
    const device = await get(ref)
    await db.deleteFrom('devices').where('id', '=', device.id).execute()
    changed(device)
    return device
  }

  return { create, find, get, list, update, remove, announce: changed }
}

export type DeviceStore = ReturnType<typeof createDeviceStore>
