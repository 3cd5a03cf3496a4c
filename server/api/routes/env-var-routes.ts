import { z } from 'zod'
import type { DeviceResolver } from '../../deployments/device-resolver.js'
import type { DeviceStore } from '../../devices/device-store.js'
import type { EnvCodec, StoredVarSet } from '../../env/env-codec.js'
import { createEnvStore, type EnvLevel, type EnvStore } from '../../env/env-store.js'
import { containerNamePattern, envImportBody, envVarsBody } from '../../env/env-var-schema.js'
import { createRestartQueue, type RestartQueue } from '../../env/restart-queue.js'
import { NotFoundError, ValidationError } from '../../errors.js'
import type { FleetStore } from '../../fleets/fleet-store.js'
import type { RouteRegistry } from '../route-registry.js'
import { uuidParam } from '../validation.js'

export interface EnvVarRouteDeps {
  envStore: EnvStore
  codec: EnvCodec
  restarts: RestartQueue
  resolver: DeviceResolver
  fleets: FleetStore
  devices: DeviceStore
}

const resolvedQuery = z.object({ resolved: z.enum(['true', 'false', '1', '0']).optional() }).strict()

function container(value: string | undefined): string {
  if (!value || !containerNamePattern.test(value)) throw new ValidationError('container', 'must be a compose service name: letters, digits, dot, dash or underscore')
  return value
}

/**
 * Fleet and device variables, one set per container. Viewers read (secrets
 * masked), operators write: DESIGN.md has operators make env changes and
 * restart containers.
 */
export function registerEnvVarRoutes(api: RouteRegistry, deps: EnvVarRouteDeps) {
  const { envStore, codec, resolver } = deps

  const owners: Record<EnvLevel, { base: string; tag: string; find(ref: string | undefined): Promise<string> }> = {
    fleet: { base: '/api/fleets/:id/env-vars', tag: 'fleets', find: async (ref) => (await deps.fleets.get(uuidParam(ref, 'FLEET_NOT_FOUND', 'fleet'))).id },
    device: { base: '/api/devices/:id/env-vars', tag: 'devices', find: async (ref) => (await deps.devices.get(ref ?? '')).id },
  }

  const maskAll = (sets: Record<string, StoredVarSet>) => Object.fromEntries(Object.entries(sets).map(([c, set]) => [c, codec.mask(set)]))

  for (const level of ['fleet', 'device'] as const) {
    const { base, tag, find } = owners[level]

    api.route({
      method: 'get',
      path: base,
      summary:
        level === 'device'
          ? 'The device\'s own variables per container (secrets masked); with resolved=true, each container\'s effective variables with their source level and what they override'
          : 'The fleet\'s variables per container (secrets masked)',
      tag,
      access: 'viewer',
      query: level === 'device' ? resolvedQuery : undefined,
      async handler({ params, query }) {
        const ownerId = await find(params.id)
        const resolved = (query as z.output<typeof resolvedQuery> | undefined)?.resolved
        if (level === 'device' && (resolved === 'true' || resolved === '1')) return resolver.resolvedEnv(ownerId)
        return { containers: maskAll(await envStore.list(level, ownerId)) }
      },
    })

    // Registered before `:container` so these two names reach them; the list above still shows a container so named.
    api.route({
      method: 'get',
      path: `${base}/export`,
      summary: `Export the ${level}'s variables as JSON that the import takes back (secrets masked)`,
      tag,
      access: 'viewer',
      async handler({ params }) {
        const ownerId = await find(params.id)
        const sets = maskAll(await envStore.list(level, ownerId))
        return {
          level,
          [`${level}_id`]: ownerId,
          exported_at: new Date().toISOString(),
          containers: Object.fromEntries(Object.entries(sets).map(([c, vars]) => [c, { vars }])),
        }
      },
    })

    api.route({
      method: 'post',
      path: `${base}/import`,
      summary: `Import variables exported as JSON: each container named replaces that container's set, all or nothing; a secret sent as ******** keeps its stored value`,
      tag,
      access: 'operator',
      body: envImportBody,
      async handler({ params, body, transaction }) {
        const ownerId = await find(params.id)
        const containers = Object.fromEntries(Object.entries(body.containers).map(([c, { vars }]) => [c, vars]))
        await transaction(async (trx, audit) => {
          const changes = await createEnvStore({ db: trx, codec }).importSets(level, ownerId, containers)
          await audit('env.import', level, ownerId, { containers: changes })
        })
        return { containers: maskAll(await envStore.list(level, ownerId)) }
      },
    })

    api.route({
      method: 'get',
      path: `${base}/:container`,
      summary: `The ${level}'s variables for one container (secrets masked)`,
      tag,
      access: 'viewer',
      async handler({ params }) {
        const ownerId = await find(params.id)
        const name = container(params.container)
        return { container: name, vars: codec.mask(await envStore.get(level, ownerId, name)) }
      },
    })

    api.route({
      method: 'put',
      path: `${base}/:container`,
      summary: `Replace the ${level}'s variables for one container: {"vars": {"NAME": {"value", "secret", "description"}}} or "NAME": "value". A secret sent as ******** keeps its value`,
      tag,
      access: 'operator',
      body: envVarsBody,
      async handler({ params, body, transaction }) {
        const ownerId = await find(params.id)
        const name = container(params.container)
        const after = await transaction(async (trx, audit) => {
          const written = await createEnvStore({ db: trx, codec }).put(level, ownerId, name, body.vars)
          await audit('env.update', level, ownerId, { container: name, changes: written.changes })
          return written.after
        })
        return { container: name, vars: codec.mask(after) }
      },
    })

    api.route({
      method: 'delete',
      path: `${base}/:container`,
      summary: `Remove all of the ${level}'s variables for one container`,
      tag,
      access: 'operator',
      status: 204,
      async handler({ params, transaction }) {
        const ownerId = await find(params.id)
        const name = container(params.container)
        await transaction(async (trx, audit) => {
          const removed = await createEnvStore({ db: trx, codec }).remove(level, ownerId, name)
          if (!removed) throw new NotFoundError('ENV_VARS_NOT_FOUND', 'env vars')
          await audit('env.delete', level, ownerId, { container: name, changes: removed.changes })
        })
        return undefined
      },
    })
  }

  api.route({
    method: 'post',
    path: '/api/devices/:id/env-vars/:container/restart',
    summary: 'Queue a restart of one container for the device\'s agent (e.g. after changing its variables); a restart already waiting is reused',
    tag: 'devices',
    access: 'operator',
    status: 202,
    async handler({ params, user, transaction }) {
      const device = await deps.devices.get(params.id!)
      const name = container(params.container)
      const request = await transaction(async (trx, audit) => {
        const { request, queued } = await createRestartQueue({ db: trx }).request(device.id, name, user.username)
        if (queued) await audit('container.restart', 'device', device.id, { container: name, request_id: request.id })
        return request
      })
      return { ...request, status: 'queued' }
    },
  })
}
