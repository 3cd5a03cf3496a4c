import type { Kysely } from 'kysely'
import { z } from 'zod'
import type { Database } from '../../db/schema.js'
import type { DeploymentStatus } from '../../deployments/deployment-status.js'
import type { DeploymentStore, DeployTarget } from '../../deployments/deployment-store.js'
import { deploymentViews } from '../../deployments/deployment-view.js'
import type { DeviceResolver } from '../../deployments/device-resolver.js'
import type { DeviceStore } from '../../devices/device-store.js'
import { DomainError, ValidationError } from '../../errors.js'
import type { FleetStore } from '../../fleets/fleet-store.js'
import type { RouteRegistry } from '../route-registry.js'
import { page, paginationQuery, uuidParam } from '../validation.js'
import { versionLabel } from '../../software/software-schema.js'
import { UPDATE_STRATEGIES } from '../../../shared/agent-wire.js'

const deployBody = z
  .object({
    fleet_id: z.uuid().optional(),
    /** The device's UUID or its device_id. */
    device_id: z.string().min(1).max(100).optional(),
    version: versionLabel.optional(),
    pinned: z.boolean().optional(),
    /** docs/agent-updates-behaviour.md: null goes back to the agent's default (download-then-kill). */
    update_strategy: z.enum(UPDATE_STRATEGIES).nullable().optional(),
    /** Kill and restart even while a container holds its update lock. */
    override_lock: z.boolean().optional(),
  })
  .strict()

const listQuery = paginationQuery.extend({
  software_id: z.uuid().optional(),
  fleet_id: z.uuid().optional(),
  /** A device's UUID or device_id: its own deployments and its fleet's. */
  device_id: z.string().min(1).max(100).optional(),
})

export interface DeploymentRouteDeps {
  db: Kysely<Database>
  /** The store on a route's transaction (its software store on the same one). */
  deploymentsIn: (trx: Kysely<Database>) => DeploymentStore
  deployments: DeploymentStore
  status: DeploymentStatus
  resolver: DeviceResolver
  fleets: FleetStore
  devices: DeviceStore
}

export function registerDeploymentRoutes(api: RouteRegistry, deps: DeploymentRouteDeps) {
  const { db, deployments, status, resolver, fleets, devices } = deps

  const view = async (d: Awaited<ReturnType<DeploymentStore['get']>>) => (await deploymentViews(db, status, [d]))[0]!

  /** A body reference to a missing fleet or device is a 400 on that field, as elsewhere in the API. */
  async function target(body: z.output<typeof deployBody>): Promise<DeployTarget> {
    if ((body.fleet_id === undefined) === (body.device_id === undefined)) {
      throw new ValidationError(body.fleet_id === undefined ? 'fleet_id' : 'device_id', 'give exactly one of fleet_id or device_id')
    }
    if (body.fleet_id) {
      const fleet = await fleets.get(body.fleet_id).catch((err: unknown) => {
        if (err instanceof DomainError && err.code === 'FLEET_NOT_FOUND') return undefined
        throw err
      })
      if (!fleet) throw new ValidationError('fleet_id', `no fleet ${body.fleet_id}`)
      return { fleetId: fleet.id }
    }
    const device = await devices.find(body.device_id!)
    if (!device) throw new ValidationError('device_id', `no device ${body.device_id}`)
    return { deviceUuid: device.id }
  }

  api.route({
    method: 'post',
    path: '/api/software/:id/deploy',
    summary:
      'Deploy software to a fleet (including devices that join later) or one device (overriding its fleet\'s deployment of the same software). Naming a version pins it unless pinned is false; unpinned deployments follow current_version. Deploying again to the same target updates that deployment',
    tag: 'deployments',
    access: 'admin',
    status: 201,
    body: deployBody,
    async handler({ params, body, transaction }) {
      const softwareId = uuidParam(params.id, 'SOFTWARE_NOT_FOUND', 'software')
      const to = await target(body)
      const deployment = await transaction(async (trx, audit) => {
        const { deployment, previous } = await deps.deploymentsIn(trx).deploy(softwareId, {
          target: to,
          version: body.version,
          pinned: body.pinned,
          updateStrategy: body.update_strategy,
          overrideLock: body.override_lock,
        })
        await audit(previous ? 'deployment.update' : 'deployment.create', 'deployment', deployment.id, {
          software_id: deployment.software_id,
          software: deployment.software_name,
          fleet_id: deployment.fleet_id,
          device_id: deployment.device_id,
          version: deployment.version,
          pinned: deployment.pinned,
          update_strategy: deployment.update_strategy,
          override_lock: deployment.override_lock,
          ...(previous ? { previous_version: previous.version, previous_pinned: previous.pinned } : {}),
        })
        return deployment
      })
      return view(deployment)
    },
  })

  api.route({
    method: 'get',
    path: '/api/deployments',
    summary: 'List deployments with each device\'s status; filter by software_id, fleet_id or device_id (a device\'s own and its fleet\'s)',
    tag: 'deployments',
    access: 'viewer',
    query: listQuery,
    async handler({ query }) {
      const device = query.device_id ? await devices.get(query.device_id) : undefined
      const { items, total } = await deployments.list({ ...query, device })
      return page(await deploymentViews(db, status, items), total, query)
    },
  })

  api.route({
    method: 'get',
    path: '/api/deployments/:id',
    summary: 'Get a deployment with each device\'s status',
    tag: 'deployments',
    access: 'viewer',
    async handler({ params }) {
      return view(await deployments.get(uuidParam(params.id, 'DEPLOYMENT_NOT_FOUND', 'deployment')))
    },
  })

  api.route({
    method: 'delete',
    path: '/api/deployments/:id',
    summary: 'Remove a deployment; its devices stop being told to run that software',
    tag: 'deployments',
    access: 'admin',
    status: 204,
    async handler({ params, transaction }) {
      const id = uuidParam(params.id, 'DEPLOYMENT_NOT_FOUND', 'deployment')
      await transaction(async (trx, audit) => {
        const removed = await deps.deploymentsIn(trx).remove(id)
        await audit('deployment.delete', 'deployment', removed.id, {
          software_id: removed.software_id,
          software: removed.software_name,
          fleet_id: removed.fleet_id,
          device_id: removed.device_id,
        })
      })
      return undefined
    },
  })

  api.route({
    method: 'get',
    path: '/api/devices/:id/deployment-plan',
    summary: 'What the device should run: each software with version, compose and the merged env per service (secrets masked)',
    tag: 'deployments',
    access: 'viewer',
    async handler({ params }) {
      const device = await devices.get(params.id!)
      return resolver.resolveForDevice(device.id, { revealSecrets: false })
    },
  })
}
