import type { Kysely } from 'kysely'
import type { Database } from '../db/schema.js'
import { NotFoundError } from '../errors.js'
import type { EnvCodec, StoredVarSet } from '../env/env-codec.js'
import type { EnvStore } from '../env/env-store.js'
import { flattenEnv, mergeEnv, type MergeVarSet, type ResolvedSet } from '../env/merge-env.js'
import { composeServices } from '../software/compose-validation.js'
import { asSoftwareEnv } from '../software/software-env.js'
import type { SoftwareStore } from '../software/software-store.js'
import type { DeploymentStore } from './deployment-store.js'

/** One software in a device's plan: the wire shape of `GET /api/devices/:id/deployment-plan`. */
export interface PlannedSoftware {
  software_id: string
  name: string
  version: string
  compose: string
  /** Per service, the merged environment in compose's `{NAME: value}` form. */
  env: Record<string, Record<string, string>>
  /** Set only when the deployment chose one; the agent's default is `download-then-kill`. */
  update_strategy?: 'download-then-kill' | 'kill-then-download'
  /** Set only when true: kill and restart even while a container holds its update lock. */
  override_lock?: boolean
  /** A rollout's retry count for this release: a new attempt makes the agent try a target that failed before. Absent when 0. */
  attempt?: number
}

export interface DeploymentPlan {
  software: PlannedSoftware[]
}

interface ResolvedSoftware {
  plan: PlannedSoftware
  resolved: Record<string, ResolvedSet>
}

/**
 * Resolves what a device should run: its deployments (own over fleet's),
 * each at its effective version, with the four-level environment merged per
 * service. Secrets stay masked unless `revealSecrets` is set, which only the
 * agent API (serving the device itself) may do.
 */
export function createDeviceResolver(deps: { db: Kysely<Database>; codec: EnvCodec; envStore: EnvStore; software: SoftwareStore; deployments: DeploymentStore }) {
  const { db, codec, envStore } = deps

  async function loadDevice(deviceUuid: string) {
    const device = await db.selectFrom('devices').select(['id', 'fleet_id']).where('id', '=', deviceUuid).executeTakeFirst()
    if (!device) throw new NotFoundError('DEVICE_NOT_FOUND', 'device')
    return device
  }

  async function resolveAll(deviceUuid: string, revealSecrets: boolean): Promise<{ software: ResolvedSoftware[]; fleet: Record<string, MergeVarSet>; device: Record<string, MergeVarSet> }> {
    const device = await loadDevice(deviceUuid)
    const open = (set: StoredVarSet | undefined): MergeVarSet => (revealSecrets ? codec.reveal(set) : codec.mask(set))
    const openAll = (sets: Record<string, StoredVarSet>) => Object.fromEntries(Object.entries(sets).map(([c, s]) => [c, open(s)]))

    const [deployments, fleetSets, deviceSets, pins] = await Promise.all([
      deps.deployments.forDevice(device),
      device.fleet_id ? envStore.list('fleet', device.fleet_id) : {},
      envStore.list('device', device.id),
      db.selectFrom('device_targets').select(['software_id', 'version', 'attempt']).where('device_id', '=', device.id).execute(),
    ])
    const fleet = openAll(fleetSets)
    const own = openAll(deviceSets)

    // A rollout's pin wins over deployments: the release it sent this device, or none (version null).
    // How a release replaces the running one stays the deployment's choice, whichever release the device is sent.
    const strategyOf = new Map(deployments.map((d) => [d.software_id, { update_strategy: d.update_strategy, override_lock: d.override_lock }]))
    const wanted = new Map(deployments.map((d) => [d.software_id, { version: d.effective_version, attempt: 0 }]))
    for (const pin of pins) {
      if (pin.version === null) wanted.delete(pin.software_id)
      else wanted.set(pin.software_id, { version: pin.version, attempt: pin.attempt })
    }
    const software: ResolvedSoftware[] = []
    for (const [softwareId, want] of wanted) {
      const sw = await deps.software.get(softwareId)
      const version = await deps.software.version(sw.id, want.version)
      const defaults = asSoftwareEnv(version.env_vars)
      const services = composeServices(version.docker_compose_yaml)
      const resolved = mergeEnv(services, { softwareAll: open(defaults.vars), softwareServices: openAll(defaults.services), fleet, device: own })
      const env = Object.fromEntries(Object.entries(resolved).map(([service, set]) => [service, flattenEnv(set)]))
      const plan: PlannedSoftware = { software_id: sw.id, name: sw.name, version: version.version, compose: version.docker_compose_yaml, env }
      const strategy = strategyOf.get(softwareId)
      if (strategy?.update_strategy) plan.update_strategy = strategy.update_strategy
      if (strategy?.override_lock) plan.override_lock = true
      if (want.attempt > 0) plan.attempt = want.attempt
      software.push({ plan, resolved })
    }
    return { software, fleet, device: own }
  }

  /** The deployment plan. Admin routes call it with secrets masked; the agent API with them revealed. */
  async function resolveForDevice(deviceUuid: string, options: { revealSecrets: boolean }): Promise<DeploymentPlan> {
    const { software } = await resolveAll(deviceUuid, options.revealSecrets)
    return { software: software.map((s) => s.plan) }
  }

  /**
   * Each container's effective variables with the level each came from, for
   * the console. Containers come from the deployed compose files, plus any
   * container the fleet or device sets variables for. A container name two
   * deployed stacks share shows the first stack's (by software name) defaults.
   * Secrets are always masked here.
   */
  async function resolvedEnv(deviceUuid: string): Promise<{ containers: Record<string, ResolvedSet> }> {
    const { software, fleet, device } = await resolveAll(deviceUuid, false)
    const containers: Record<string, ResolvedSet> = {}
    for (const s of software) for (const [service, set] of Object.entries(s.resolved)) containers[service] ??= set
    const extra = [...new Set([...Object.keys(fleet), ...Object.keys(device)])].filter((c) => !(c in containers))
    Object.assign(containers, mergeEnv(extra, { fleet, device }))
    const sorted: Record<string, ResolvedSet> = {}
    for (const name of Object.keys(containers).sort()) sorted[name] = containers[name]!
    return { containers: sorted }
  }

  return { resolveForDevice, resolvedEnv }
}

export type DeviceResolver = ReturnType<typeof createDeviceResolver>
