import type { Kysely } from 'kysely'
import type { Database } from '../db/schema.js'
import { compareVersions, type AgentArch } from '../../shared/agent-release.js'

export interface DeviceAgentView {
  /** What the device's heartbeat last said; null before its first. */
  version: string | null
  arch: AgentArch | null
  reported_at: Date | null
  /** The agent version it should run: its own target, else its fleet's, else none. */
  target: string | null
  target_from: 'device' | 'fleet' | null
  /** It runs an agent older than this gateway supports. */
  outdated: boolean
  min_supported_version: string
}

/**
 * Which agent each device runs (from its heartbeats) and which it should run:
 * a target version per fleet, overridden per device. Kept apart from fleets
 * and devices so a rollout engine can take targets over by writing here.
 */
export function createAgentTargets(deps: { db: Kysely<Database>; minSupportedVersion: string }) {
  const { db } = deps

  async function record(deviceUuid: string, version: string, arch: AgentArch | undefined): Promise<void> {
    const now = new Date()
    await db
      .insertInto('device_agents')
      .values({ device_id: deviceUuid, version, arch: arch ?? 'x64', reported_at: now })
      .onConflict((oc) => oc.column('device_id').doUpdateSet({ version, arch: arch ?? 'x64', reported_at: now }))
      .execute()
  }

  async function setTarget(scope: { fleet_id: string } | { device_id: string }, version: string | null): Promise<void> {
    const column = 'fleet_id' in scope ? 'fleet_id' : 'device_id'
    const id = 'fleet_id' in scope ? scope.fleet_id : scope.device_id
    if (version === null) {
      await db.deleteFrom('agent_version_targets').where(column, '=', id).execute()
      return
    }
    // One statement: the partial unique index on the scope's column is the conflict target.
    await db
      .insertInto('agent_version_targets')
      .values({ [column]: id, version })
      .onConflict((oc) => oc.column(column).where(column, 'is not', null).doUpdateSet({ version, updated_at: new Date() }))
      .execute()
  }

  async function fleetTarget(fleetId: string): Promise<string | null> {
    const row = await db.selectFrom('agent_version_targets').select('version').where('fleet_id', '=', fleetId).executeTakeFirst()
    return row?.version ?? null
  }

  /** The device's target and where it comes from. */
  async function targetFor(deviceUuid: string): Promise<{ target: string | null; target_from: 'device' | 'fleet' | null }> {
    const own = await db.selectFrom('agent_version_targets').select('version').where('device_id', '=', deviceUuid).executeTakeFirst()
    if (own) return { target: own.version, target_from: 'device' }
    const fleet = await db
      .selectFrom('devices')
      .innerJoin('agent_version_targets', 'agent_version_targets.fleet_id', 'devices.fleet_id')
      .select('agent_version_targets.version')
      .where('devices.id', '=', deviceUuid)
      .executeTakeFirst()
    return fleet ? { target: fleet.version, target_from: 'fleet' } : { target: null, target_from: null }
  }

  const isOutdated = (version: string | null) => version !== null && compareVersions(version, deps.minSupportedVersion) < 0

  async function deviceView(deviceUuid: string): Promise<DeviceAgentView> {
    const [reported, target] = await Promise.all([db.selectFrom('device_agents').selectAll().where('device_id', '=', deviceUuid).executeTakeFirst(), targetFor(deviceUuid)])
    const version = reported?.version ?? null
    return {
      version,
      arch: (reported?.arch as AgentArch | null) ?? null,
      reported_at: reported?.reported_at ?? null,
      ...target,
      outdated: isOutdated(version),
      min_supported_version: deps.minSupportedVersion,
    }
  }

  /** How many of the fleet's devices run which agent (null: not reported yet). */
  async function fleetVersions(fleetId: string): Promise<{ version: string | null; devices: number; outdated: boolean }[]> {
    const rows = await db
      .selectFrom('devices')
      .leftJoin('device_agents', 'device_agents.device_id', 'devices.id')
      .select(['device_agents.version as version', (eb) => eb.fn.countAll<string | number>().as('devices')])
      .where('devices.fleet_id', '=', fleetId)
      .groupBy('device_agents.version')
      .execute()
    return rows
      .map((r) => ({ version: r.version ?? null, devices: Number(r.devices), outdated: isOutdated(r.version ?? null) }))
      .sort((a, b) => (a.version === null ? 1 : b.version === null ? -1 : compareVersions(b.version, a.version)))
  }

  return { record, setTarget, fleetTarget, targetFor, deviceView, fleetVersions, isOutdated }
}

export type AgentTargets = ReturnType<typeof createAgentTargets>
