import type { Authenticator } from '../../auth/authenticator.js'
import type { LiveAccess } from '../../auth/live-access.js'
import type { GatewayEventMap, GatewayEvents } from '../../events/gateway-events.js'
import type { RouteRegistry } from '../route-registry.js'

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
      res.writeHead(200, {
        'Content-Type': 'text/event-stream; charset=utf-8',
        'Cache-Control': 'no-cache, no-transform',
        Connection: 'keep-alive',
        // nginx buffers responses by default, which would hold events back.
        'X-Accel-Buffering': 'no',
      })
      res.socket?.setNoDelay(true)
      // Reconnect after 3 s if the stream drops; the console refetches on reconnect.
      res.write('retry: 3000\n: connected\n\n')

      const send = (event: string, data: unknown) => {
        res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
      }
      // Pick fields explicitly: device.changed carries the whole row (public key and all) on the bus.
      const onStatus = (e: DeviceStatusEvent) => send('device.status', { id: e.id, device_id: e.device_id, status: e.status, last_seen: e.last_seen })
      const onChanged = (e: DeviceChangedEvent) => send('device.changed', { id: e.id, device_id: e.device_id })
      events.on('device.status', onStatus)
      events.on('device.changed', onChanged)

      await new Promise<void>((resolve) => {
        let closed = false
        const close = () => {
          if (closed) return
          closed = true
          clearInterval(ping)
          untrack()
          events.off('device.status', onStatus)
          events.off('device.changed', onChanged)
          res.end()
          resolve()
        }
        const ping = setInterval(() => res.write(': ping\n\n'), pingInterval)
        // A logout, a revoked token, a disabled account or a new password ends the stream.
        const credentials = { authorization: req.get('authorization'), cookie: req.get('cookie') }
        const untrack = deps.liveAccess.track({
          user,
          requiredRole: 'viewer',
          reverify: () => authenticator.authenticateHeaders(credentials),
          close: (reason) => {
            res.write(`event: access.revoked\ndata: ${JSON.stringify({ reason })}\n\n`)
            close()
          },
        })
        req.on('close', close)
        res.on('close', close)
        res.on('error', close)
      })
      return undefined
    },
  })
}
