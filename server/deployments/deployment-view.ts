import type { Kysely } from 'kysely'
import type { Database, DeploymentDeviceStatus, DeviceStatus } from '../db/schema.js'
import { aggregateStatus, type DeploymentStatus } from './deployment-status.js'
import type { DeploymentWithSoftware } from './deployment-store.js'

export interface DeviceDeploymentStatus {
  id: string
  device_id: string
  name: string
  /** For the deployment's effective version: `pending` until the device reports on that version. */
  status: DeploymentDeviceStatus
  error: string | null
  /** What the device last reported for this software, whichever version that was. */
  reported_version: string | null
  updated_at: Date | null
  /** Whether the device is connected now: a report from an offline device is what it said last, not what runs now. */
  online: boolean
  device_status: DeviceStatus
}

export interface DeploymentView {
  id: string
  software_id: string
  software_name: string
  target: 'fleet' | 'device'
  fleet_id: string | null
  device_id: string | null
  /** The version given at deploy time; `effective_version` is what devices should run now. */
  version: string
  pinned: boolean
  effective_version: string
  /** How agents replace the running release (null: their default, download-then-kill). */
  update_strategy: 'download-then-kill' | 'kill-then-download' | null
  /** Whether agents kill and restart even while a container holds its update lock. */
  override_lock: boolean
  status: DeploymentDeviceStatus
  devices: DeviceDeploymentStatus[]
  created_at: Date
  updated_at: Date
}

/**
 * Adds each deployment's devices and their statuses. A fleet deployment's
 * devices are the fleet's members now, less those with a deployment of the
 * same software of their own (which overrides the fleet's).
 */
export async function deploymentViews(db: Kysely<Database>, status: DeploymentStatus, deployments: DeploymentWithSoftware[]): Promise<DeploymentView[]> {
  const fleetIds = [...new Set(deployments.flatMap((d) => (d.fleet_id ? [d.fleet_id] : [])))]
  const deviceIds = [...new Set(deployments.flatMap((d) => (d.device_id ? [d.device_id] : [])))]
  const softwareIds = [...new Set(deployments.map((d) => d.software_id))]

  const [members, targets, overrides, reports] = await Promise.all([
    fleetIds.length ? db.selectFrom('devices').select(['id', 'device_id', 'name', 'fleet_id', 'status']).where('fleet_id', 'in', fleetIds).orderBy('device_id').execute() : [],
    deviceIds.length ? db.selectFrom('devices').select(['id', 'device_id', 'name', 'fleet_id', 'status']).where('id', 'in', deviceIds).execute() : [],
    softwareIds.length && fleetIds.length
      ? db.selectFrom('deployments').select(['software_id', 'device_id']).where('device_id', 'is not', null).where('software_id', 'in', softwareIds).execute()
      : [],
    status.forSoftware(softwareIds),
  ])
  const overridden = new Set(overrides.map((o) => `${o.device_id}/${o.software_id}`))

  return deployments.map((d) => {
    const devices = d.fleet_id
      ? members.filter((m) => m.fleet_id === d.fleet_id && !overridden.has(`${m.id}/${d.software_id}`))
      : targets.filter((t) => t.id === d.device_id)
    const statuses = devices.map((device): DeviceDeploymentStatus => {
      const report = reports.get(`${device.id}/${d.software_id}`)
      const current = report?.version === d.effective_version
      return {
        id: device.id,
        device_id: device.device_id,
        name: device.name,
        status: current ? report.status : 'pending',
        error: current ? report.error : null,
        reported_version: report?.version ?? null,
        updated_at: report?.updated_at ?? null,
        online: device.status === 'online',
        device_status: device.status,
      }
    })
    return {
      id: d.id,
      software_id: d.software_id,
      software_name: d.software_name,
      target: d.fleet_id ? 'fleet' : 'device',
      fleet_id: d.fleet_id,
      device_id: d.device_id,
      version: d.version,
      pinned: d.pinned,
      effective_version: d.effective_version,
      update_strategy: d.update_strategy,
      override_lock: d.override_lock,
      status: aggregateStatus(statuses.map((s) => s.status)),
      devices: statuses,
      created_at: d.created_at,
      updated_at: d.updated_at,
    }
  })
}
