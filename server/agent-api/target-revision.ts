import { createHash } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import type { Database } from '../db/schema.js'

/**
 * Everything a device's target document is made of, as one cheap query: the
 * device row's own fields, its and its fleet's deployments with their
 * software's name and current version, the releases rollouts pinned it to, the fleet's and device's env-var rows
 * (ids and timestamps, never values: a write replaces the row) and its
 * exposed services. Software versions are written once and never edited, so
 * a version label stands for its compose file and defaults. No secret is
 * decrypted and no compose file parsed: this runs on every heartbeat.
 *
 * A part that makes the target depend on another column must add it here,
 * or devices learn of that change only when something else changes.
 */
async function stampOf(db: Kysely<Database>, deviceUuid: string): Promise<string | undefined> {
  const { rows } = await sql<{ device: string | null; deployments: string | null; pins: string | null; fleet_env: string | null; device_env: string | null; services: string | null }>`
    with dev as (select id, fleet_id from devices where id = ${deviceUuid})
    select
      (select concat_ws('|', d.device_id, d.name, d.subdomain, d.fleet_id) from devices d where d.id = ${deviceUuid}) as device,
      (select string_agg(concat_ws('|', dp.id, dp.software_id, dp.fleet_id, dp.device_id, dp.version, dp.pinned, dp.update_strategy, dp.override_lock, dp.updated_at, s.name, s.current_version), ',' order by dp.id)
         from deployments dp join software s on s.id = dp.software_id, dev
        where dp.device_id = dev.id or dp.fleet_id = dev.fleet_id) as deployments,
      (select string_agg(concat_ws('|', p.software_id, p.version, p.attempt, p.updated_at), ',' order by p.software_id) from device_targets p where p.device_id = ${deviceUuid}) as pins,
      (select string_agg(concat_ws('|', e.id, e.container_name, e.updated_at), ',' order by e.id) from fleet_env_vars e, dev where e.fleet_id = dev.fleet_id) as fleet_env,
      (select string_agg(concat_ws('|', e.id, e.container_name, e.updated_at), ',' order by e.id) from device_env_vars e where e.device_id = ${deviceUuid}) as device_env,
      (select string_agg(concat_ws('|', x.id, x.name, x.container_name, x.internal_port, x.protocol, x.enabled, x.updated_at), ',' order by x.id) from exposed_services x where x.device_id = ${deviceUuid}) as services
  `.execute(db)
  const row = rows[0]
  if (!row?.device) return undefined
  return createHash('sha256').update(JSON.stringify([row.device, row.deployments, row.pins, row.fleet_env, row.device_env, row.services])).digest('base64url')
}

/** Cached revisions beyond this many devices start over: a bound, not a tuning knob (a miss costs one resolve). */
const MAX_CACHED = 100_000

/**
 * The device's target revision without resolving and decrypting its plan on
 * every heartbeat. The revision itself stays a digest of the content (so it
 * means the same as before, and an edit that changes nothing changes no
 * revision); it is cached per device under the stamp of its inputs. A
 * change by any gateway sharing the database changes the stamp, so no
 * invalidation message is needed between gateways.
 */
export function createTargetRevisions(deps: { db: Kysely<Database> }) {
  const cache = new Map<string, { stamp: string; revision: string }>()

  return {
    stamp: (deviceUuid: string) => stampOf(deps.db, deviceUuid),
    /** The revision cached for this stamp, if any. */
    cached(deviceUuid: string, stamp: string): string | undefined {
      const hit = cache.get(deviceUuid)
      return hit?.stamp === stamp ? hit.revision : undefined
    },
    remember(deviceUuid: string, stamp: string, revision: string): void {
      if (cache.size >= MAX_CACHED && !cache.has(deviceUuid)) cache.clear()
      cache.set(deviceUuid, { stamp, revision })
    },
    /** One digest over everything the agent acts on: any change makes it refetch. */
    revisionOf(content: unknown): string {
      return createHash('sha256').update(JSON.stringify(content)).digest('hex').slice(0, 32)
    },
  }
}

export type TargetRevisions = ReturnType<typeof createTargetRevisions>

/** `"<revision>"`: a strong validator, the revision being a digest of the whole document. */
export const etagOf = (revision: string) => `"${revision}"`
