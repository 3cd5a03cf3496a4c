import type { Kysely } from 'kysely'
import type { CommittedChange } from '../api/route-registry.js'
import type { Database } from '../db/schema.js'
import type { Logger } from '../logger.js'
import type { TunnelRegistry } from '../tunnel/tunnel-registry.js'
import type { LocateDevice } from '../cluster/device-channels.js'
import type { AgentControl } from './agent-control-client.js'

/** What changed a target: a fleet's (its members), a device's, or a software's (every device it is deployed to). */
export type TargetChange = { fleet_id: string } | { device_uuid: string } | { software_id: string }

/** Agents nudged at once; the rest wait for a free slot (a fleet-wide change must not open thousands of channels together). */
const CONCURRENCY = 16

const text = (v: unknown) => (typeof v === 'string' && v ? v : undefined)

/**
 * Which targets an audited API change touches. Audit actions are the
 * gateway's record of every write, so this is the one list of change points:
 * deploys and undeploys, env vars at either level, new software versions
 * and defaults, a device moved or renamed, a restart queued.
 */
export function targetChangesOf(change: CommittedChange): TargetChange[] {
  const { action, targetType, targetId, details = {} } = change
  if (action.startsWith('deployment.')) {
    const fleet = text(details.fleet_id)
    const device = text(details.device_id)
    return fleet ? [{ fleet_id: fleet }] : device ? [{ device_uuid: device }] : []
  }
  if (!targetId) return []
  if (action.startsWith('env.')) return targetType === 'fleet' ? [{ fleet_id: targetId }] : targetType === 'device' ? [{ device_uuid: targetId }] : []
  if (action === 'software.update' || action === 'software.env.update' || action === 'software.upload') return [{ software_id: targetId }]
  if (action === 'device.update' || action === 'device.move' || action === 'container.restart') return [{ device_uuid: targetId }]
  return []
}

/**
 * Nudges agents whose target changed: the gateway calls each one's control
 * `sync` through its tunnel, so it refetches now instead of at its next
 * heartbeat. Best effort: an offline device, or one whose tunnel is held by
 * another gateway sharing the database, learns at its next heartbeat.
 */
export function createTargetNudge(deps: { db: Kysely<Database>; registry: TunnelRegistry; control: Pick<AgentControl, 'sync'>; logger: Logger; locate?: LocateDevice }) {
  const { db, logger } = deps

  /** Asks these devices' agents to sync now; resolves with how many answered. Never rejects. */
  async function nudgeDevices(deviceUuids: readonly string[]): Promise<number> {
    const unique = [...new Set(deviceUuids)]
    // With cluster forwarding, devices held by another node are nudged through it too (sync finds the owner, bounded by CONCURRENCY).
    const online = deps.locate ? unique : unique.filter((id) => deps.registry.get(id))
    let next = 0
    let answered = 0
    const worker = async () => {
      while (next < online.length) {
        const id = online[next++]!
        if (await deps.control.sync(id).catch(() => false)) answered++
      }
    }
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, online.length) }, worker))
    return answered
  }

  async function devicesOf(change: TargetChange): Promise<string[]> {
    if ('device_uuid' in change) return [change.device_uuid]
    if ('fleet_id' in change) return (await db.selectFrom('devices').select('id').where('fleet_id', '=', change.fleet_id).execute()).map((r) => r.id)
    const deployments = await db.selectFrom('deployments').select(['fleet_id', 'device_id']).where('software_id', '=', change.software_id).execute()
    const fleets = deployments.flatMap((d) => (d.fleet_id ? [d.fleet_id] : []))
    const members = fleets.length ? await db.selectFrom('devices').select('id').where('fleet_id', 'in', fleets).execute() : []
    return [...deployments.flatMap((d) => (d.device_id ? [d.device_id] : [])), ...members.map((m) => m.id)]
  }

  /** Nudges the devices these changes touch. Fire and forget: failures are logged, never thrown. */
  function changed(changes: readonly TargetChange[]): void {
    if (!changes.length) return
    void (async () => {
      const ids = (await Promise.all(changes.map(devicesOf))).flat()
      const answered = await nudgeDevices(ids)
      logger.debug({ devices: ids.length, answered }, 'nudged agents after a target change')
    })().catch((err: Error) => logger.warn({ err: err.message }, 'nudging agents after a target change failed'))
  }

  return {
    nudgeDevices,
    changed,
    /** For the route registry: nudges after each committed API change that touches a target. */
    committed(changes: CommittedChange[]): void {
      changed(changes.flatMap(targetChangesOf))
    },
  }
}

export type TargetNudge = ReturnType<typeof createTargetNudge>
