import type { Kysely } from 'kysely'
import type { Database, RolloutsTable } from '../db/schema.js'
import type { Selectable } from 'kysely'
import { parseSelector, selectorSql } from '../devices/label-selector.js'

export type RolloutRow = Selectable<RolloutsTable>

/** The devices a rollout targets now: its explicit list, or its fleet's members that match its selector. In device_id order. */
export async function targetDevices(db: Kysely<Database>, rollout: Pick<RolloutRow, 'fleet_id' | 'selector' | 'device_ids'>): Promise<{ id: string; device_id: string }[]> {
  let q = db.selectFrom('devices').select(['id', 'device_id'])
  if (rollout.device_ids) {
    if (!rollout.device_ids.length) return []
    q = q.where('id', 'in', rollout.device_ids)
  } else if (rollout.fleet_id) {
    q = q.where('fleet_id', '=', rollout.fleet_id)
    if (rollout.selector) q = q.where(selectorSql(parseSelector(rollout.selector)))
  } else return []
  return q.orderBy('device_id').execute()
}

/**
 * What a device runs of a software before a rollout changes it: a pin of an
 * earlier rollout, else its own deployment, else its fleet's (at the version
 * that deployment resolves to), else nothing (null).
 */
export async function currentVersion(db: Kysely<Database>, device: { id: string; fleet_id: string | null }, softwareId: string): Promise<string | null> {
  const pin = await db.selectFrom('device_targets').select('version').where('device_id', '=', device.id).where('software_id', '=', softwareId).executeTakeFirst()
  if (pin) return pin.version
  const rows = await db
    .selectFrom('deployments')
    .innerJoin('software', 'software.id', 'deployments.software_id')
    .select(['deployments.device_id', 'deployments.version', 'deployments.pinned', 'software.current_version'])
    .where('deployments.software_id', '=', softwareId)
    .where((eb) => (device.fleet_id ? eb.or([eb('deployments.device_id', '=', device.id), eb('deployments.fleet_id', '=', device.fleet_id)]) : eb('deployments.device_id', '=', device.id)))
    .execute()
  const d = rows.find((r) => r.device_id === device.id) ?? rows[0]
  if (!d) return null
  return d.pinned ? d.version : (d.current_version ?? d.version)
}
