import { EventEmitter } from 'node:events'
import type { DeviceStatus } from '../db/schema.js'

/** Everything parts of the gateway tell each other about, typed. */
export interface GatewayEventMap {
  /** A device row was created, updated or deleted (routes and caches keyed by it are stale). */
  'device.changed': [{ id: string; device_id: string }]
  /** A device's tunnel came up or went down. */
  'device.status': [{ id: string; device_id: string; status: DeviceStatus; last_seen: Date | null }]
  /** An exposed service was created, updated, enabled, disabled or deleted. */
  'service.changed': [{ device_uuid: string }]
  /** A device's shipped log entries were stored (live log streams read them). */
  'device.logs': [{ device_uuid: string }]
}

export type GatewayEvents = EventEmitter<GatewayEventMap>

/** One bus per gateway instance, created in the composition root and passed down. */
export function createGatewayEvents(): GatewayEvents {
  const events = new EventEmitter<GatewayEventMap>()
  // Console event streams each add a listener; many open consoles are normal.
  events.setMaxListeners(0)
  return events
}
