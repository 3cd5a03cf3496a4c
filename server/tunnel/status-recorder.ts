import type { Kysely } from 'kysely'
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
      await db.transaction().execute(async (tx) => {
        for (const [id, s] of batch) {
          await tx
            .updateTable('devices')
            .set({ status: s.status, last_seen: s.last_seen, ...(s.ip_address ? { ip_address: s.ip_address } : {}) })
            .where('id', '=', id)
            .execute()
        }
      })
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
