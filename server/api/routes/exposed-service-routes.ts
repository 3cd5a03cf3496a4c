import { z } from 'zod'
import type { ExposedServiceRow } from '../../db/schema.js'
import type { DeviceStore } from '../../devices/device-store.js'
import type { GatewayAddresses } from '../../http/gateway-addresses.js'
import type { ExposedServiceStore } from '../../services/exposed-service-store.js'
import type { TunnelRegistry } from '../../tunnel/tunnel-registry.js'
import type { Kysely } from 'kysely'
import type { Database } from '../../db/schema.js'
import type { RouteRegistry } from '../route-registry.js'
import { uuidParam } from '../validation.js'
import { AGENT_CONTROL_NAME } from '../../../shared/agent-protocol.js'

const label = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'must be one DNS label: a-z, 0-9 and dashes')
const containerName = z
  .string()
  .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/, 'must be a container or compose service name')
  // The agent's control channel travels under this name; exposing it would publish the agent's API.
  .refine((name) => name.toLowerCase() !== AGENT_CONTROL_NAME, `${AGENT_CONTROL_NAME} is reserved for the agent`)
const urlPath = z
  .string()
  .regex(/^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/, 'must be an absolute path such as /grafana')
  .transform((p) => (p.length > 1 ? p.replace(/\/+$/, '') : p))
  .refine((p) => p !== '/', 'use no url_path for the device root')

const serviceFields = {
  name: label,
  container_name: containerName,
  internal_port: z.number().int().min(1).max(65535),
  protocol: z.enum(['http', 'tcp']),
  url_path: urlPath.nullish(),
  auth_required: z.boolean(),
  enabled: z.boolean(),
}
const createBody = z
  .object({ ...serviceFields, protocol: serviceFields.protocol.optional(), auth_required: serviceFields.auth_required.optional(), enabled: serviceFields.enabled.optional() })
  .strict()
const updateBody = z.object(serviceFields).partial().strict()

export function registerExposedServiceRoutes(api: RouteRegistry, deps: {
    devices: DeviceStore
    services: ExposedServiceStore
    /** The store on a route's transaction; its change events wait for the commit. */
    servicesIn: (trx: Kysely<Database>, afterCommit: (task: () => void) => void) => ExposedServiceStore
    urls: GatewayAddresses
    registry: TunnelRegistry
  },
) {
  const { devices, services, urls, registry } = deps

  function view(device: { id: string; subdomain: string }, s: ExposedServiceRow) {
    const session = registry.get(device.id)
    return {
      id: s.id,
      device_id: s.device_id,
      name: s.name,
      container_name: s.container_name,
      internal_port: s.internal_port,
      protocol: s.protocol,
      url_path: s.url_path,
      auth_required: s.auth_required,
      enabled: s.enabled,
      url: s.protocol === 'http' ? urls.serviceUrl(device.subdomain, s) : null,
      /** For `tcp` services: the gateway's loopback port that reaches the service. */
      gateway_port: s.protocol === 'tcp' ? s.external_port : null,
      /** Whether the device currently forwards this service through its tunnel. */
      connected: Boolean(session?.hasServiceForward(s.container_name, s.internal_port)),
      created_at: s.created_at,
      updated_at: s.updated_at,
    }
  }

  api.route({
    method: 'get',
    path: '/api/devices/:id/exposed-services',
    summary: "List a device's exposed services with their public URLs",
    tag: 'exposed-services',
    access: 'viewer',
    async handler({ params }) {
      const device = await devices.get(params.id!)
      return { items: (await services.list(device.id)).map((s) => view(device, s)) }
    },
  })

  api.route({
    method: 'post',
    path: '/api/devices/:id/exposed-services',
    summary: 'Expose a container service of the device on a subdomain',
    tag: 'exposed-services',
    access: 'operator',
    status: 201,
    body: createBody,
    async handler({ params, body, transaction }) {
      const device = await devices.get(params.id!)
      const service = await transaction(async (trx, audit, afterCommit) => {
        const created = await deps.servicesIn(trx, afterCommit).create(device.id, body)
        await audit('service.create', 'exposed_service', created.id, { device_id: device.device_id, name: created.name, auth_required: created.auth_required, enabled: created.enabled })
        return created
      })
      return view(device, service)
    },
  })

  api.route({
    method: 'get',
    path: '/api/devices/:id/exposed-services/:service_id',
    summary: 'Get an exposed service',
    tag: 'exposed-services',
    access: 'viewer',
    async handler({ params }) {
      const device = await devices.get(params.id!)
      return view(device, await services.get(device.id, uuidParam(params.service_id, 'SERVICE_NOT_FOUND', 'exposed service')))
    },
  })

  api.route({
    method: 'put',
    path: '/api/devices/:id/exposed-services/:service_id',
    summary: 'Update an exposed service',
    tag: 'exposed-services',
    access: 'operator',
    body: updateBody,
    async handler({ params, body, transaction }) {
      const device = await devices.get(params.id!)
      const serviceId = uuidParam(params.service_id, 'SERVICE_NOT_FOUND', 'exposed service')
      const service = await transaction(async (trx, audit, afterCommit) => {
        const store = deps.servicesIn(trx, afterCommit)
        const before = await store.get(device.id, serviceId)
        const after = await store.update(device.id, serviceId, body)
        const changes = Object.fromEntries(
          (Object.keys(body) as (keyof typeof body)[]).filter((k) => before[k] !== after[k]).map((k) => [k, { before: before[k], after: after[k] }]),
        )
        await audit('service.update', 'exposed_service', after.id, { device_id: device.device_id, name: after.name, fields: Object.keys(body), changes })
        // Opening a service to the public is the change an audit must never hide: it gets a row of its own.
        if (before.auth_required && !after.auth_required) {
          await audit('service.auth_required.off', 'exposed_service', after.id, { device_id: device.device_id, name: after.name, auth_required: { before: true, after: false } })
        }
        return after
      })
      return view(device, service)
    },
  })

  api.route({
    method: 'delete',
    path: '/api/devices/:id/exposed-services/:service_id',
    summary: 'Delete an exposed service',
    tag: 'exposed-services',
    access: 'operator',
    status: 204,
    async handler({ params, transaction }) {
      const device = await devices.get(params.id!)
      const serviceId = uuidParam(params.service_id, 'SERVICE_NOT_FOUND', 'exposed service')
      await transaction(async (trx, audit, afterCommit) => {
        const service = await deps.servicesIn(trx, afterCommit).remove(device.id, serviceId)
        await audit('service.delete', 'exposed_service', service.id, { device_id: device.device_id, name: service.name })
      })
      return undefined
    },
  })

  for (const action of ['enable', 'disable'] as const) {
    api.route({
      method: 'post',
      path: `/api/devices/:id/exposed-services/:service_id/${action}`,
      summary: `${action === 'enable' ? 'Enable' : 'Disable'} an exposed service`,
      tag: 'exposed-services',
      access: 'operator',
      async handler({ params, transaction }) {
        const device = await devices.get(params.id!)
        const serviceId = uuidParam(params.service_id, 'SERVICE_NOT_FOUND', 'exposed service')
        const service = await transaction(async (trx, audit, afterCommit) => {
          const updated = await deps.servicesIn(trx, afterCommit).update(device.id, serviceId, { enabled: action === 'enable' })
          await audit(`service.${action}`, 'exposed_service', updated.id, { device_id: device.device_id, name: updated.name })
          return updated
        })
        return view(device, service)
      },
    })
  }

  api.route({
    method: 'get',
    path: '/api/devices/:id/status',
    summary: "The device's live tunnel: since when, from where, and what it forwards",
    tag: 'devices',
    access: 'viewer',
    async handler({ params }) {
      const device = await devices.get(params.id!)
      const session = registry.get(device.id)
      return {
        device_id: device.device_id,
        // The live registry is the truth; the table is written in batches and may lag by a moment.
        status: session ? 'online' : device.status === 'online' ? 'offline' : device.status,
        last_seen: device.last_seen,
        online: Boolean(session),
        session: session ? { since: session.since, remote_address: session.remoteAddress, forwards: session.forwards() } : null,
      }
    },
  })
}
