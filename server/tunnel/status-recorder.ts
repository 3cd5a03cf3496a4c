import { sql, type Kysely } from 'kysely'
import type { Database, DeviceStatus } from '../db/schema.js'
import type { GatewayEvents } from '../events/gateway-events.js'
import type { Logger } from '../logger.js'

interface PendingStatus {
  device_id: string
  status: DeviceStatus
  last_seen: Date
  ip_address?: string
}

/**
 * Device status follows the tunnel. Events go out at once; the database
 * writes are coalesced and flushed in one transaction, so 10,000 devices
 * reconnecting after a gateway restart do not mean 10,000 serial round trips.
 */
export function createStatusRecorder(deps: { db: Kysely<Database>; events: GatewayEvents; logger: Logger; flushDelayMs?: number }) {
  const { db, events, logger } = deps
  const pending = new Map<string, PendingStatus>()
  let timer: NodeJS.Timeout | undefined
  let flushing: Promise<void> = Promise.resolve()

  function schedule() {
    timer ??= setTimeout(() => {
      timer = undefined
      flushing = flushing.then(flush)
    }, deps.flushDelayMs ?? 50)
  }

  async function flush() {
    const batch = [...pending.entries()]
    pending.clear()
    if (!batch.length) return
    try {
      // One statement per thousand devices instead of one round trip each: at 10,000
      // sessions the per-row updates held the embedded database (and every SSH
      // authentication waiting on it) for seconds.
      for (let i = 0; i < batch.length; i += 1000) {
        const rows = batch.slice(i, i + 1000).map(
          ([id, s]) => sql`(${id}::uuid, ${s.status}::text, ${s.last_seen}::timestamptz, ${s.ip_address ?? null}::text)`,
        )
        await sql`
          update devices as d
          set status = v.status, last_seen = v.last_seen, ip_address = coalesce(v.ip_address, d.ip_address)
          from (values ${sql.join(rows)}) as v(id, status, last_seen, ip_address)
          where d.id = v.id`.execute(db)
      }
    } catch (err) {
      logger.error({ err, devices: batch.length }, 'could not persist device status')
    }
  }

  function record(device: { id: string; device_id: string }, status: DeviceStatus, ipAddress?: string) {
    const lastSeen = new Date()
    pending.set(device.id, { device_id: device.device_id, status, last_seen: lastSeen, ip_address: ipAddress })
    events.emit('device.status', { id: device.id, device_id: device.device_id, status, last_seen: lastSeen })
    schedule()
  }

  return {
    online: (device: { id: string; device_id: string }, ipAddress: string) => record(device, 'online', ipAddress),
    offline: (device: { id: string; device_id: string }) => record(device, 'offline'),
    /** Writes what is pending; called on shutdown and by tests that read the table. */
    async drain() {
      if (timer) {
        clearTimeout(timer)
        timer = undefined
        flushing = flushing.then(flush)
      }
      await flushing
    },
    /** A gateway that starts has no tunnels: whatever a crash left "online" is not. */
    async resetAll() {
      await db.updateTable('devices').set({ status: 'offline' }).where('status', '=', 'online').execute()
    },
  }
}

export type StatusRecorder = ReturnType<typeof createStatusRecorder>
