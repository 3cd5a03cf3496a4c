import { EventEmitter } from 'node:events'
import type { GatewayEventMap, GatewayEvents } from './gateway-events.js'

/**
 * A bus for a store built on a route's transaction: what the store emits is
 * handed to `defer` (the route's after-commit queue) and reaches the real bus
 * only once the change is committed, so no listener reloads state that is
 * not there yet, or never will be.
 */
export function deferredEvents(events: GatewayEvents, defer: (task: () => void) => void): GatewayEvents {
  const local = new EventEmitter<GatewayEventMap>()
  local.emit = ((name: keyof GatewayEventMap, ...args: GatewayEventMap[keyof GatewayEventMap]) => {
    defer(() => (events.emit as (n: string, ...a: unknown[]) => boolean)(name, ...args))
    return true
  }) as GatewayEvents['emit']
  return local
}
