import { sql, type Kysely } from 'kysely'
import type { Database, FleetRow } from '../db/schema.js'
import { ConflictError, NotFoundError } from '../errors.js'
import { likePattern } from '../api/validation.js'
import { needsAttentionSql } from '../devices/device-health.js'

export interface FleetView extends FleetRow {
  device_count: number
  online_count: number
  /** Devices with a failed or rolled-back deploy, or an error (see server/devices/device-health.ts). */
  attention_count: number
}

export function createFleetStore(deps: { db: Kysely<Database> }) {
  const { db } = deps

  function withCounts() {
    return db
      .selectFrom('fleets')
      .selectAll('fleets')
      .select([
        sql<number>`(select count(*)::int from devices d where d.fleet_id = fleets.id)`.as('device_count'),
        sql<number>`(select count(*)::int from devices d where d.fleet_id = fleets.id and d.status = 'online')`.as('online_count'),
        sql<number>`(select count(*)::int from devices d where d.fleet_id = fleets.id and ${needsAttentionSql('d')})`.as('attention_count'),
      ])
  }

  async function assertNameFree(name: string, exceptId?: string) {
    let q = db.selectFrom('fleets').select('id').where('name', '=', name)
    if (exceptId) q = q.where('id', '<>', exceptId)
    if (await q.executeTakeFirst()) throw new ConflictError(`a fleet named ${name} already exists`, 'FLEET_EXISTS', 'name')
  }

  async function create(input: { name: string; description?: string | null }): Promise<FleetView> {
    await assertNameFree(input.name)
    const row = await db.insertInto('fleets').values({ name: input.name, description: input.description ?? null }).returning('id').executeTakeFirstOrThrow()
    return get(row.id)
  }

  async function get(id: string): Promise<FleetView> {
    const fleet = await withCounts().where('fleets.id', '=', id).executeTakeFirst()
    if (!fleet) throw new NotFoundError('FLEET_NOT_FOUND', 'fleet')
    return fleet
  }

  async function list(q: { limit: number; offset: number; q?: string }) {
    let base = db.selectFrom('fleets')
    if (q.q) base = base.where('name', 'ilike', likePattern(q.q))
    let items = withCounts()
    if (q.q) items = items.where('fleets.name', 'ilike', likePattern(q.q))
    const [rows, count] = await Promise.all([
      items.orderBy('fleets.name').limit(q.limit).offset(q.offset).execute(),
      base.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
    ])
    return { items: rows, total: Number(count.n) }
  }

  async function update(id: string, patch: { name?: string; description?: string | null }): Promise<FleetView> {
    await get(id)
    if (patch.name !== undefined) await assertNameFree(patch.name, id)
    await db
      .updateTable('fleets')
      .set({ ...patch, updated_at: new Date() })
      .where('id', '=', id)
      .execute()
    return get(id)
  }

  /** Deleting a fleet leaves its devices unassigned (fleet_id null); nothing about them is lost. */
  async function remove(id: string): Promise<FleetView> {
    const fleet = await get(id)
    await db.deleteFrom('fleets').where('id', '=', id).execute()
    return fleet
  }

  return { create, get, list, update, remove }
}

export type FleetStore = ReturnType<typeof createFleetStore>
