import { sql, type Kysely } from 'kysely'
import { STALE_AFTER_BEATS } from '../cluster/node-registry.js'
import type { Database } from '../db/schema.js'
import type { GatewayEvents } from '../events/gateway-events.js'
import type { Logger } from '../logger.js'

/**
 * One device session's claim on its device row. Its epoch is the device's
 * session_epoch after this session's connect was written; a disconnect only
 * counts while the row still carries it.
 */
export interface SessionClaim {
  readonly device: { id: string; device_id: string }
  epoch: number | undefined
}

interface PendingOnline {
  claim: SessionClaim
  last_seen: Date
  ip_address: string
}

interface PendingOffline {
  claim: SessionClaim
  last_seen: Date
}

/**
 * Device status follows the tunnel. Events go out at once; the database
 * writes are coalesced and flushed in batches, so 10,000 devices reconnecting
 * after a gateway restart do not mean 10,000 serial round trips.
 *
 * Several gateway nodes may share the database (issue 17), and a device that
 * moves from node 1 to node 2 may be seen leaving node 1 after it arrived on
 * node 2 (openBalena's tracker had exactly this bug). So a connect bumps the
 * device's session_epoch and records this node as owner in one UPDATE, and a
 * disconnect marks the device offline only WHERE session_epoch is still the one
 * its own connect got: a late disconnect never erases a newer connect.
 */
export function createStatusRecorder(deps: { db: Kysely<Database>; events: GatewayEvents; logger: Logger; nodeId: string; flushDelayMs?: number }) {
  const { db, events, logger, nodeId } = deps
  // Connects by device (a newer session of the same device on this node replaces an unwritten one); disconnects in order.
  const onlines = new Map<string, PendingOnline>()
  let offlines: PendingOffline[] = []
  let timer: NodeJS.Timeout | undefined
  let flushing: Promise<void> = Promise.resolve()

  let closed = false

  function schedule() {
    // Sessions that end after the shutdown drain (their close events come late) are not written: the
    // database is closing, and this node's next start (or a live node's sweep) resets its devices anyway.
    if (closed) return
    timer ??= setTimeout(() => {
      timer = undefined
      flushing = flushing.then(flush)
    }, deps.flushDelayMs ?? 50)
  }

  async function flushOnlines(batch: PendingOnline[]) {
    // One statement per thousand devices instead of one round trip each: at 10,000
    // sessions the per-row updates held the embedded database (and every SSH
    // authentication waiting on it) for seconds.
    for (let i = 0; i < batch.length; i += 1000) {
      const slice = batch.slice(i, i + 1000)
      const rows = slice.map((p) => sql`(${p.claim.device.id}::uuid, ${p.last_seen}::timestamptz, ${p.ip_address}::text)`)
      const result = await sql<{ id: string; session_epoch: number }>`
        update devices as d
        set status = 'online', last_seen = v.last_seen, ip_address = coalesce(v.ip_address, d.ip_address),
            owner_node = ${nodeId}, session_epoch = d.session_epoch + 1
        from (values ${sql.join(rows)}) as v(id, last_seen, ip_address)
        where d.id = v.id
        returning d.id, d.session_epoch`.execute(db)
      const epochs = new Map(result.rows.map((r) => [r.id, Number(r.session_epoch)]))
      for (const p of slice) p.claim.epoch = epochs.get(p.claim.device.id)
    }
  }

  async function flushOfflines(batch: PendingOffline[]) {
    // A claim without an epoch never reached the row (its connect failed to write, or the device was deleted): nothing of its own to undo.
    const claimed = batch.filter((p) => p.claim.epoch !== undefined)
    for (let i = 0; i < claimed.length; i += 1000) {
      const rows = claimed.slice(i, i + 1000).map((p) => sql`(${p.claim.device.id}::uuid, ${p.claim.epoch}::integer, ${p.last_seen}::timestamptz)`)
      await sql`
        update devices as d
        set status = 'offline', last_seen = v.last_seen, owner_node = null
        from (values ${sql.join(rows)}) as v(id, epoch, last_seen)
        where d.id = v.id and d.session_epoch = v.epoch`.execute(db)
    }
  }

  async function flush() {
    const up = [...onlines.values()]
    onlines.clear()
    const down = offlines
    offlines = []
    // Connects first: a session that came and went within one batch gets its epoch before its disconnect is written.
    try {
      if (up.length) await flushOnlines(up)
    } catch (err) {
      logger.error({ err, devices: up.length }, 'could not persist device status')
    }
    try {
      if (down.length) await flushOfflines(down)
    } catch (err) {
      logger.error({ err, devices: down.length }, 'could not persist device status')
    }
  }

  function emit(device: { id: string; device_id: string }, status: 'online' | 'offline', lastSeen: Date) {
    events.emit('device.status', { id: device.id, device_id: device.device_id, status, last_seen: lastSeen })
  }

  return {
    /** Records a session's connect; the claim it returns is what its disconnect hands back. */
    online(device: { id: string; device_id: string }, ipAddress: string): SessionClaim {
      const claim: SessionClaim = { device: { id: device.id, device_id: device.device_id }, epoch: undefined }
      const lastSeen = new Date()
      onlines.set(device.id, { claim, last_seen: lastSeen, ip_address: ipAddress })
      emit(device, 'online', lastSeen)
      schedule()
      return claim
    },
    offline(claim: SessionClaim) {
      const lastSeen = new Date()
      offlines.push({ claim, last_seen: lastSeen })
      emit(claim.device, 'offline', lastSeen)
      schedule()
    },
    /** Writes what is pending and stops writing: the last thing before the database closes. */
    async close() {
      await this.drain()
      closed = true
    },
    /** Writes what is pending; tests that read the table call it. */
    async drain() {
      if (timer) {
        clearTimeout(timer)
        timer = undefined
        flushing = flushing.then(flush)
      }
      await flushing
    },
    /**
     * A node that starts holds no tunnels: what a crash of this node left "online"
     * is not. Devices held by other live nodes of a shared database are left alone;
     * those of nodes that left the registry or went stale are reset too.
     */
    async resetOwned() {
      await sql`
        update devices as d set status = 'offline', owner_node = null
        where d.status = 'online'
          and (d.owner_node is null or d.owner_node = ${nodeId} or not exists (
            select 1 from gateway_nodes n
            where n.id = d.owner_node
              and n.heartbeat_at >= now() - make_interval(secs => n.heartbeat_interval_ms * ${STALE_AFTER_BEATS} / 1000.0)))`.execute(db)
    },
  }
}

export type StatusRecorder = ReturnType<typeof createStatusRecorder>
