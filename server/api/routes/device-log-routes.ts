import { z } from 'zod'
import type { Authenticator } from '../../auth/authenticator.js'
import type { LiveAccess } from '../../auth/live-access.js'
import type { DeviceStore } from '../../devices/device-store.js'
import { ValidationError } from '../../errors.js'
import type { GatewayEvents } from '../../events/gateway-events.js'
import type { Logger } from '../../logger.js'
import { decodeCursor, publicEntry, type DeviceLogStore } from '../../telemetry/device-log-store.js'
import type { RouteRegistry } from '../route-registry.js'
import { openSseStream } from '../sse-stream.js'
import { isUuid, paginationQuery } from '../validation.js'

const since = z.iso.datetime({ offset: true }).transform((s) => new Date(s))
const flag = z.enum(['1', 'true', '0', 'false']).transform((v) => v === '1' || v === 'true')

const logsQuery = paginationQuery.extend({
  since: since.optional(),
  container: z.string().min(1).max(255).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(200),
  /** A cursor from `next_before`; empty means "from the newest". */
  before: z.string().max(64).optional(),
  follow: flag.optional(),
})

/** Rows one follower reads per database round; more wait for the next round, so a burst cannot fill memory. */
const FOLLOW_BATCH = 500

/**
 * `GET /api/devices/:id/logs`: pages of what the device shipped, and a live
 * follow. Paging: without `before`, oldest first by offset (as it always
 * was); with `before`, newest first behind a cursor, with no ceiling on how
 * far back. Follow (`follow=1`): Server-Sent Events, first the newest
 * `limit` entries (the backfill), then each entry as it arrives. Arrival is
 * noticed at once on this node (the ingest's bus event) and by a short poll
 * for entries that another gateway node stored.
 */
export function registerDeviceLogRoutes(
  api: RouteRegistry,
  deps: { devices: DeviceStore; logs: DeviceLogStore; events: GatewayEvents; authenticator: Authenticator; liveAccess: LiveAccess; keepAliveMs: number; pollMs: number; logger: Logger },
) {
  const { devices, logs } = deps

  api.route({
    method: 'get',
    path: '/api/devices/:id/logs',
    summary:
      'Logs the device shipped (container output, deploy results, state changes). Oldest first by offset; with before=<cursor> newest first behind next_before; with follow=1 a Server-Sent Events stream (backfill, then live lines)',
    tag: 'devices',
    access: 'viewer',
    query: logsQuery,
    streaming: true,
    async handler({ params, query, req, res, user }) {
      const device = await devices.get(params.id!)
      if (query.follow && query.before !== undefined) throw new ValidationError('query.before', 'cannot be combined with follow')
      if (!query.follow) {
        const page =
          query.before === undefined
            ? await logs.list(device.id, query)
            : await logs.before(device.id, { ...query, before: query.before === '' ? undefined : decodeCursor(query.before) })
        return { ...page, limit: query.limit, offset: query.before === undefined ? query.offset : 0 }
      }

      // Where to start: after the entry the client saw last (a reconnect), else after a backfill.
      const lastEventId = req.get('last-event-id')
      const resumeAt = lastEventId && isUuid(lastEventId) ? await logs.arrivalOf(device.id, lastEventId.toLowerCase()) : undefined
      let position = resumeAt ?? (await logs.lastArrival(device.id))
      const backfill = resumeAt === undefined ? await logs.newest(device.id, { ...query, upTo: position }) : []

      const stream = openSseStream({ req, res, user, requiredRole: 'viewer', authenticator: deps.authenticator, liveAccess: deps.liveAccess, keepAliveMs: deps.keepAliveMs, keepAliveComment: 'keep-alive' })
      for (const entry of backfill) await stream.send('log', publicEntry(entry), entry.id)

      let reading = false
      let again = false
      const read = async () => {
        if (reading) {
          again = true
          return
        }
        reading = true
        try {
          do {
            again = false
            for (;;) {
              const fresh = await logs.after(device.id, position, { container: query.container, limit: FOLLOW_BATCH })
              for (const entry of fresh) {
                if (stream.closed) return
                await stream.send('log', publicEntry(entry), entry.id)
                position = entry.arrival
              }
              if (fresh.length < FOLLOW_BATCH) break
            }
          } while (again && !stream.closed)
        } catch (err) {
          // A database blip skips a round; the next wake-up or poll reads from the same position.
          deps.logger.warn({ err }, 'live log stream could not read new entries')
        } finally {
          reading = false
        }
      }
      const onLogs = (e: { device_uuid: string }) => {
        if (e.device_uuid === device.id) void read()
      }
      deps.events.on('device.logs', onLogs)
      const poll = setInterval(() => void read(), deps.pollMs)
      stream.onClose(() => {
        deps.events.off('device.logs', onLogs)
        clearInterval(poll)
      })
      // Entries stored between the backfill and the listener above.
      void read()
      await stream.done
      return undefined
    },
  })
}
