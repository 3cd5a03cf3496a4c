import { sql, type Kysely, type RawBuilder } from 'kysely'
import type { Database, DeploymentDeviceStatus } from '../db/schema.js'
import type { ContainerState, RunningSoftware } from '../../shared/agent-wire.js'

/**
 * A device needs attention when a deploy of software still targeted at it
 * failed or was rolled back, when the rollout that pins its release failed on
 * it (the agent may run its previous release fine again, but the failure must
 * not hide), or when it reports an error. `alias` is how the query names the
 * devices table. Written as SQL so lists, counts and fleets filter on it in
 * the database.
 */
export function needsAttentionSql(alias: string): RawBuilder<boolean> {
  const col = (c: string) => sql.ref(`${alias}.${c}`)
  return sql<boolean>`(${col('status')} = 'error' or exists (
    select 1 from device_software_status s
    join deployments t on t.software_id = s.software_id and (t.device_id = ${col('id')} or (t.device_id is null and t.fleet_id = ${col('fleet_id')}))
    where s.device_id = ${col('id')} and s.status in ('failed', 'rolled_back')
  ) or exists (
    select 1 from device_targets p
    join rollout_devices r on r.rollout_id = p.rollout_id and r.device_id = p.device_id
    where p.device_id = ${col('id')} and r.state = 'failed'
  ))`
}

export interface DeployResult {
  software_id: string
  name: string
  version: string
  status: DeploymentDeviceStatus
  error: string | null
  updated_at: Date
  /** The result in words, e.g. "shop 3 was rolled back: web exited with code 3". */
  summary: string
}

/** A deploy report in words, for people rather than programs. */
export function describeResult(r: { name: string; version: string; status: DeploymentDeviceStatus; error: string | null }): string {
  const what = `${r.name} ${r.version}`
  switch (r.status) {
    case 'running':
      return `${what} is running`
    case 'deploying':
      return `${what} is being deployed`
    case 'downloading':
      return `${what} is downloading`
    case 'installing':
      return `${what} is being installed`
    case 'verifying':
      return `${what} is being verified`
    case 'pending':
      return `${what} is waiting for the device`
    case 'failed':
      return `${what} failed to deploy${r.error ? `: ${r.error}` : ''}`
    case 'rolled_back':
      return `${what} was rolled back${r.error ? `: ${r.error}` : ''}`
  }
}

/**
 * What the device page's "Release and containers" panel and the device lists
 * need: per device, the deploy results that ask for attention; per device,
 * each software with its version, last result and containers.
 */
export function createDeviceHealth(deps: { db: Kysely<Database>; latestReport(deviceUuid: string): Promise<{ recorded_at: Date; containers: ContainerState[]; software: RunningSoftware[]; docker_error: string | null } | undefined> }) {
  const { db } = deps

  async function results(deviceUuids: readonly string[], onlyBad: boolean): Promise<(DeployResult & { device_id: string })[]> {
    if (!deviceUuids.length) return []
    let q = db
      .selectFrom('device_software_status as s')
      .innerJoin('software as w', 'w.id', 's.software_id')
      .innerJoin('devices as v', 'v.id', 's.device_id')
      .select(['s.device_id', 's.software_id', 'w.name', 's.version', 's.status', 's.error', 's.updated_at'])
      .where('s.device_id', 'in', [...deviceUuids])
      .where(({ exists, selectFrom }) =>
        exists(
          selectFrom('deployments as t')
            .select('t.id')
            .whereRef('t.software_id', '=', 's.software_id')
            .where((eb) => eb.or([eb('t.device_id', '=', eb.ref('s.device_id')), eb.and([eb('t.device_id', 'is', null), eb('t.fleet_id', '=', eb.ref('v.fleet_id'))])])),
        ),
      )
    if (onlyBad) q = q.where('s.status', 'in', ['failed', 'rolled_back'])
    const rows = await q.orderBy('w.name').execute()
    return rows.map((r) => ({ ...r, summary: describeResult(r) }))
  }

  /** Devices whose pinning rollout failed on them (needsAttentionSql's second case), in words. */
  async function rolloutFailures(deviceUuids: readonly string[]) {
    if (!deviceUuids.length) return []
    const rows = await db
      .selectFrom('device_targets as p')
      .innerJoin('rollout_devices as r', (j) => j.onRef('r.rollout_id', '=', 'p.rollout_id').onRef('r.device_id', '=', 'p.device_id'))
      .innerJoin('rollouts as o', 'o.id', 'r.rollout_id')
      .innerJoin('software as w', 'w.id', 'o.software_id')
      .select(['p.device_id', 'o.software_id', 'w.name', 'o.version', 'r.reason'])
      .where('p.device_id', 'in', [...deviceUuids])
      .where('r.state', '=', 'failed')
      .execute()
    return rows.map((r) => ({ ...r, summary: `the rollout of ${r.name} ${r.version} failed here${r.reason ? `: ${r.reason}` : ''}` }))
  }

  return {
    /** Why each of these devices needs attention (only those that do), in words. */
    async attention(devices: readonly { id: string; status: string }[]): Promise<Map<string, string>> {
      const out = new Map<string, string>()
      const add = (device: string, text: string) => out.set(device, out.has(device) ? `${out.get(device)}; ${text}` : text)
      const ids = devices.map((d) => d.id)
      const bad = await results(ids, true)
      for (const r of bad) add(r.device_id, r.summary)
      // A rollout that failed on the device, unless its deploy result already said so for that software.
      for (const f of await rolloutFailures(ids)) if (!bad.some((r) => r.device_id === f.device_id && r.software_id === f.software_id)) add(f.device_id, f.summary)
      for (const d of devices) if (d.status === 'error' && !out.has(d.id)) out.set(d.id, 'the device reports an error')
      return out
    },

    /** The device's software (what it reports running, and its last deploy result) with their containers. */
    async release(deviceUuid: string) {
      const [reports, latest] = await Promise.all([results([deviceUuid], false), deps.latestReport(deviceUuid)])
      const containers = latest?.containers ?? []
      const running = new Map((latest?.software ?? []).map((s) => [s.software_id, s]))
      const ids = [...new Set([...reports.map((r) => r.software_id), ...running.keys()])]
      const software = ids.map((id) => {
        const report = reports.find((r) => r.software_id === id)
        const runs = running.get(id)
        return {
          software_id: id,
          name: report?.name ?? runs?.name ?? id,
          /** The version the agent runs now (after a rollback, the previous one). */
          running_version: runs?.version ?? null,
          last_result: report ? { version: report.version, status: report.status, error: report.error, updated_at: report.updated_at, summary: report.summary } : null,
          needs_attention: report ? report.status === 'failed' || report.status === 'rolled_back' : false,
          containers: containers.filter((c) => c.software_id === id),
        }
      })
      return { reported_at: latest?.recorded_at ?? null, docker_error: latest?.docker_error ?? null, software, other_containers: containers.filter((c) => !c.software_id || !ids.includes(c.software_id)) }
    },
  }
}

export type DeviceHealth = ReturnType<typeof createDeviceHealth>
