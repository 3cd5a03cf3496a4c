import { z } from 'zod'
import type { DeviceStore } from '../../devices/device-store.js'
import { createFleetStore, type FleetStore } from '../../fleets/fleet-store.js'
import type { RouteRegistry } from '../route-registry.js'
import { page, paginationQuery, uuidParam } from '../validation.js'
import { deviceView } from './device-view.js'
import type { DeviceHealth } from '../../devices/device-health.js'

const name = z.string().trim().min(1).max(100)
const description = z.string().max(2000).nullish()
const createFleetBody = z.object({ name, description }).strict()
const updateFleetBody = z.object({ name: name.optional(), description }).strict()
const fleetListQuery = paginationQuery.extend({ q: z.string().max(100).optional() })

export function registerFleetRoutes(api: RouteRegistry, deps: { fleets: FleetStore; devices: DeviceStore; health?: DeviceHealth }) {
  const { fleets, devices } = deps

  api.route({
    method: 'get',
    path: '/api/fleets',
    summary: 'List fleets with device counts',
    tag: 'fleets',
    access: 'viewer',
    query: fleetListQuery,
    async handler({ query }) {
      const { items, total } = await fleets.list(query)
      return page(items, total, query)
    },
  })

  api.route({
    method: 'post',
    path: '/api/fleets',
    summary: 'Create a fleet',
    tag: 'fleets',
    access: 'admin',
    status: 201,
    body: createFleetBody,
    async handler({ body, transaction }) {
      return transaction(async (trx, audit) => {
        const fleet = await createFleetStore({ db: trx }).create(body)
        await audit('fleet.create', 'fleet', fleet.id, { name: fleet.name })
        return fleet
      })
    },
  })

  api.route({
    method: 'get',
    path: '/api/fleets/:id',
    summary: 'Get a fleet',
    tag: 'fleets',
    access: 'viewer',
    async handler({ params }) {
      return fleets.get(uuidParam(params.id, 'FLEET_NOT_FOUND', 'fleet'))
    },
  })

  api.route({
    method: 'put',
    path: '/api/fleets/:id',
    summary: 'Update a fleet',
    tag: 'fleets',
    access: 'admin',
    body: updateFleetBody,
    async handler({ params, body, transaction }) {
      const id = uuidParam(params.id, 'FLEET_NOT_FOUND', 'fleet')
      return transaction(async (trx, audit) => {
        const fleet = await createFleetStore({ db: trx }).update(id, body)
        await audit('fleet.update', 'fleet', fleet.id, { fields: Object.keys(body) })
        return fleet
      })
    },
  })

  api.route({
    method: 'delete',
    path: '/api/fleets/:id',
    summary: 'Delete a fleet; its devices become unassigned',
    tag: 'fleets',
    access: 'admin',
    status: 204,
    async handler({ params, transaction }) {
      const id = uuidParam(params.id, 'FLEET_NOT_FOUND', 'fleet')
      await transaction(async (trx, audit) => {
        const fleet = await createFleetStore({ db: trx }).remove(id)
        await audit('fleet.delete', 'fleet', fleet.id, { name: fleet.name, devices_unassigned: fleet.device_count })
      })
      return undefined
    },
  })

  api.route({
    method: 'get',
    path: '/api/fleets/:id/devices',
    summary: 'List the devices of a fleet',
    tag: 'fleets',
    access: 'viewer',
    query: paginationQuery,
    async handler({ params, query }) {
      const fleet = await fleets.get(uuidParam(params.id, 'FLEET_NOT_FOUND', 'fleet'))
      const { items, total } = await devices.list({ ...query, fleet_id: fleet.id })
      const attention = deps.health ? await deps.health.attention(items) : new Map<string, string>()
      return page(items.map((d) => ({ ...deviceView(d), attention: attention.get(d.id) ?? null })), total, query)
    },
  })
}
