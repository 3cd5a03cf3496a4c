import type { Kysely, Selectable } from 'kysely'
import type { Database, DeploymentDeviceStatus, DeviceSoftwareStatusTable } from '../db/schema.js'

export const deviceStatuses = ['pending', 'deploying', 'downloading', 'installing', 'verifying', 'running', 'failed', 'rolled_back'] as const satisfies readonly DeploymentDeviceStatus[]

/** A release on its way: the agent's phases, and `deploying` from agents that predate them. */
const inProgress: readonly DeploymentDeviceStatus[] = ['deploying', 'downloading', 'installing', 'verifying']

export type DeviceSoftwareStatusRow = Selectable<DeviceSoftwareStatusTable>

export interface StatusReport {
  version: string
  status: DeploymentDeviceStatus
  /** In plain words: why it failed or rolled back, or what an unfinished phase waits for (an update lock). */
  error?: string | null
}

/** Error texts come from devices; keep rows bounded whatever an agent sends. */
const MAX_ERROR_LENGTH = 4000

/**
 * What each device reports about each software it runs. The agent API (a
 * later issue) calls `report`; deployment listings read it back per device.
 */
export function createDeploymentStatus(deps: { db: Kysely<Database> }) {
  const { db } = deps

  async function report(deviceUuid: string, softwareId: string, r: StatusReport): Promise<void> {
    const values = {
      version: r.version,
      status: r.status,
      error: r.error ? r.error.slice(0, MAX_ERROR_LENGTH) : null,
      updated_at: new Date(),
    }
    await db
      .insertInto('device_software_status')
      .values({ device_id: deviceUuid, software_id: softwareId, ...values })
      .onConflict((oc) => oc.columns(['device_id', 'software_id']).doUpdateSet(values))
      .execute()
  }

  /** Reports for these software ids, keyed `${device_id}/${software_id}`. */
  async function forSoftware(softwareIds: readonly string[]): Promise<Map<string, DeviceSoftwareStatusRow>> {
    const out = new Map<string, DeviceSoftwareStatusRow>()
    if (!softwareIds.length) return out
    const rows = await db.selectFrom('device_software_status').selectAll().where('software_id', 'in', softwareIds).execute()
    for (const row of rows) out.set(`${row.device_id}/${row.software_id}`, row)
    return out
  }

  return { report, forSoftware }
}

export type DeploymentStatus = ReturnType<typeof createDeploymentStatus>

/** One status for a deployment from its devices' statuses: the worst news first; any phase under way reads `deploying`. */
export function aggregateStatus(statuses: readonly DeploymentDeviceStatus[]): DeploymentDeviceStatus {
  if (statuses.includes('failed')) return 'failed'
  if (statuses.includes('rolled_back')) return 'rolled_back'
  if (statuses.length && statuses.every((s) => s === 'running')) return 'running'
  if (statuses.some((s) => s === 'running' || inProgress.includes(s))) return 'deploying'
  return 'pending'
}
