import type { Authenticator } from '../../auth/authenticator.js'
import type { LiveAccess } from '../../auth/live-access.js'
import type { GatewayEventMap, GatewayEvents } from '../../events/gateway-events.js'
import type { RouteRegistry } from '../route-registry.js'
import { openSseStream } from '../sse-stream.js'

/** Proxies and load balancers drop connections that stay silent for about a minute. */
const PING_INTERVAL_MS = 25_000

type DeviceStatusEvent = GatewayEventMap['device.status'][0]
type DeviceChangedEvent = GatewayEventMap['device.changed'][0]

/**
 * `GET /api/events`: a Server-Sent Events stream the console subscribes to, so
 * device badges change without a reload. Only ids and status leave the
 * gateway here; the console fetches anything else through the normal routes,
 * which apply their own access rules.
 */
export function registerEventRoutes(api: RouteRegistry, deps: { events: GatewayEvents; authenticator: Authenticator; liveAccess: LiveAccess; pingIntervalMs?: number }) {
  const { events, authenticator } = deps
  const pingInterval = deps.pingIntervalMs ?? PING_INTERVAL_MS

  api.route({
    method: 'get',
    path: '/api/events',
    summary: 'Server-Sent Events: device.status and device.changed, with a comment ping every 25 s',
    tag: 'events',
    access: 'viewer',
    streaming: true,
    async handler({ req, res, user }) {
      const stream = openSseStream({ req, res, user, requiredRole: 'viewer', authenticator, liveAccess: deps.liveAccess, keepAliveMs: pingInterval, keepAliveComment: 'ping' })
      // Pick fields explicitly: device.changed carries the whole row (public key and all) on the bus.
      const onStatus = (e: DeviceStatusEvent) => void stream.send('device.status', { id: e.id, device_id: e.device_id, status: e.status, last_seen: e.last_seen })
      const onChanged = (e: DeviceChangedEvent) => void stream.send('device.changed', { id: e.id, device_id: e.device_id })
      events.on('device.status', onStatus)
      events.on('device.changed', onChanged)
      stream.onClose(() => {
        events.off('device.status', onStatus)
        events.off('device.changed', onChanged)
      })
      await stream.done
      return undefined
    },
  })
}
