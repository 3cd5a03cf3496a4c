import { z } from 'zod'
import type { DeviceStore } from '../../devices/device-store.js'
import type { Kysely } from 'kysely'
import type { Database } from '../../db/schema.js'
import { deviceIdPattern, subdomainPattern } from '../../devices/device-store.js'
import type { RouteRegistry } from '../route-registry.js'
import { page, paginationQuery } from '../validation.js'
import { deviceDetailView, deviceView } from './device-view.js'
import { labelsSchema, selectorField } from '../../devices/label-selector.js'
import type { DeviceHealth } from '../../devices/device-health.js'

const name = z.string().trim().min(1).max(100)
const fleetId = z.uuid().nullish()
const publicKey = z.string().max(16_384).nullish()
const subdomain = z.string().regex(subdomainPattern, 'must be one DNS label: a-z, 0-9 and dashes, at most 63 characters')

const createDeviceBody = z
  .object({
    name,
    device_id: z.string().regex(deviceIdPattern, 'must be 1-63 lowercase letters, digits, dot, dash or underscore').optional(),
    fleet_id: fleetId,
    public_key: publicKey,
    subdomain: subdomain.optional(),
    labels: labelsSchema.optional(),
  })
  .strict()

const updateDeviceBody = z
  .object({
    name: name.optional(),
    fleet_id: fleetId,
    public_key: publicKey,
    subdomain: subdomain.optional(),
    subdomain_enabled: z.boolean().optional(),
    labels: labelsSchema.optional(),
  })
  .strict()

const deviceListQuery = paginationQuery.extend({
  fleet_id: z.uuid().optional(),
  status: z.enum(['online', 'offline', 'updating', 'error']).optional(),
  q: z.string().max(100).optional(),
  /** A label selector, e.g. `site=north,hw in (pi4,pi5)`. */
  selector: selectorField.optional(),
  attention: z.enum(['1', 'true', '0', 'false']).transform((v) => v === '1' || v === 'true').optional(),
})

const moveBody = z.object({ fleet_id: z.uuid().nullable() }).strict()

export function registerDeviceRoutes(api: RouteRegistry, deps: {
    devices: DeviceStore
    /** The store on a route's transaction; its change notices wait for the commit. */
    devicesIn: (trx: Kysely<Database>, afterCommit: (task: () => void) => void) => DeviceStore
    metrics?: { latest(deviceUuid: string): Promise<unknown> }
    /** Why devices need attention, in words; lists and the detail carry it as `attention`. */
    health?: DeviceHealth
  },
) {
  const { devices } = deps

  api.route({
    method: 'get',
    path: '/api/devices',
    summary: 'List devices; filter by fleet_id, status, attention (1: a failed or rolled-back deploy, or an error), a search q or a label selector (site=north,hw in (pi4,pi5))',
    tag: 'devices',
    access: 'viewer',
    query: deviceListQuery,
    async handler({ query }) {
      const { items, total } = await devices.list({ ...query, selector: query.selector?.requirements })
      const attention = deps.health ? await deps.health.attention(items) : new Map<string, string>()
      return page(items.map((d) => ({ ...deviceView(d), attention: attention.get(d.id) ?? null })), total, query)
    },
  })

  api.route({
    method: 'get',
    path: '/api/devices/:id/release',
    summary: 'What the device runs: each software with the version it runs and its last deploy result in words, each container with state, health, restarts, ports and since when',
    tag: 'devices',
    access: 'viewer',
    async handler({ params }) {
      const device = await devices.get(params.id!)
      if (!deps.health) return { online: device.status === 'online', reported_at: null, docker_error: null, software: [], other_containers: [] }
      return { online: device.status === 'online', last_seen: device.last_seen, ...(await deps.health.release(device.id)) }
    },
  })

  api.route({
    method: 'post',
    path: '/api/devices',
    summary: 'Register a device by hand (provisioning tokens do this for field installs)',
    tag: 'devices',
    access: 'admin',
    status: 201,
    body: createDeviceBody,
    async handler({ body, transaction }) {
      const device = await transaction(async (trx, audit, afterCommit) => {
        const created = await deps.devicesIn(trx, afterCommit).create(body)
        await audit('device.create', 'device', created.id, { device_id: created.device_id, name: created.name, fleet_id: created.fleet_id })
        return created
      })
      return deviceView(device)
    },
  })

  api.route({
    method: 'get',
    path: '/api/devices/:id',
    summary: 'Get a device by id or device_id',
    tag: 'devices',
    access: 'viewer',
    async handler({ params }) {
      const device = await devices.get(params.id!)
      const attention = deps.health ? ((await deps.health.attention([device])).get(device.id) ?? null) : null
      return { ...(deps.metrics ? deviceDetailView(device, await deps.metrics.latest(device.id)) : deviceView(device)), attention }
    },
  })

  api.route({
    method: 'put',
    path: '/api/devices/:id',
    summary: 'Update a device (name, fleet, public key, subdomain, labels: all of them replaced)',
    tag: 'devices',
    access: 'admin',
    body: updateDeviceBody,
    async handler({ params, body, transaction }) {
      const device = await transaction(async (trx, audit, afterCommit) => {
        const updated = await deps.devicesIn(trx, afterCommit).update(params.id!, body)
        await audit('device.update', 'device', updated.id, { fields: Object.keys(body) })
        return updated
      })
      return deviceView(device)
    },
  })

  api.route({
    method: 'delete',
    path: '/api/devices/:id',
    summary: 'Delete a device; its SSH port and subdomain are released',
    tag: 'devices',
    access: 'admin',
    status: 204,
    async handler({ params, transaction }) {
      await transaction(async (trx, audit, afterCommit) => {
        const device = await deps.devicesIn(trx, afterCommit).remove(params.id!)
        await audit('device.delete', 'device', device.id, { device_id: device.device_id })
      })
      return undefined
    },
  })

  api.route({
    method: 'post',
    path: '/api/devices/:id/move',
    summary: 'Move a device to another fleet (or none, with fleet_id null)',
    tag: 'devices',
    access: 'admin',
    body: moveBody,
    async handler({ params, body, transaction }) {
      const device = await transaction(async (trx, audit, afterCommit) => {
        const store = deps.devicesIn(trx, afterCommit)
        const before = await store.get(params.id!)
        const moved = await store.update(before.id, { fleet_id: body.fleet_id })
        await audit('device.move', 'device', moved.id, { from_fleet_id: before.fleet_id, to_fleet_id: moved.fleet_id })
        return moved
      })
      return deviceView(device)
    },
  })
}
