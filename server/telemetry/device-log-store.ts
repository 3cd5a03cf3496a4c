import type { Kysely, SelectQueryBuilder } from 'kysely'
import type { Database } from '../db/schema.js'
import { ValidationError } from '../errors.js'

export interface LogQuery {
  since?: Date
  container?: string
  limit: number
  offset: number
}

/** One log entry as the API shows it (web/src/api/types.ts DeviceLogEntry). */
export interface LogEntry {
  id: string
  log_type: string
  container: string | null
  message: string
  created_at: Date
  seq: number | null
}

/** An entry with its arrival number, which callers turn into cursors and stream positions. */
export interface ArrivedEntry extends LogEntry {
  arrival: bigint
}

/**
 * Cursors are opaque to callers: base64url of `a:<arrival>`. Opaque so the
 * order they follow can change without breaking a client that stored one.
 */
export function encodeCursor(arrival: bigint): string {
  return Buffer.from(`a:${arrival}`).toString('base64url')
}

/** The arrival number a cursor names; a 400 naming `before` for anything this gateway did not hand out. */
export function decodeCursor(cursor: string): bigint {
  const text = /^[A-Za-z0-9_-]{1,40}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('latin1') : ''
  const m = /^a:(\d{1,18})$/.exec(text)
  if (!m) throw new ValidationError('query.before', 'is not a log cursor this gateway handed out (use next_before from a previous answer)')
  return BigInt(m[1]!)
}

const columns = ['id', 'log_type', 'container', 'message', 'created_at', 'seq', 'arrival'] as const

function toEntry(r: { id: string; log_type: string; container: string | null; message: string; created_at: Date; seq: string | number | null; arrival: string | number }): ArrivedEntry {
  return { id: r.id, log_type: r.log_type, container: r.container, message: r.message, created_at: r.created_at, seq: r.seq === null ? null : Number(r.seq), arrival: BigInt(r.arrival) }
}

/** The entry without its arrival number, as the API shows it. */
export function publicEntry(e: ArrivedEntry): LogEntry {
  const { arrival: _arrival, ...entry } = e
  return entry
}

/**
 * Reads what devices shipped into `device_logs`: container log lines, deploy
 * results, container state changes and agent notices. Three views: pages
 * oldest first in the device's own order (offset paging, as before), pages
 * newest first behind a cursor (`before`, no ceiling), and what arrived after
 * a position (live followers).
 */
export function createDeviceLogStore(deps: { db: Kysely<Database> }) {
  const { db } = deps

  function filtered(deviceUuid: string, q: { since?: Date; container?: string }) {
    let base = db.selectFrom('device_logs').where('device_id', '=', deviceUuid)
    if (q.since) base = base.where('created_at', '>=', q.since)
    if (q.container) base = base.where('container', '=', q.container)
    return base
  }

  async function count(base: SelectQueryBuilder<Database, 'device_logs', object>): Promise<number> {
    return Number((await base.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n)
  }

  async function list(deviceUuid: string, q: LogQuery) {
    const base = filtered(deviceUuid, q)
    const [rows, total] = await Promise.all([base.select(columns).orderBy('created_at').orderBy('seq').limit(q.limit).offset(q.offset).execute(), count(base)])
    const items = rows.map(toEntry)
    // Paging back from the oldest line shown, when there is anything before it.
    const nextBefore = q.offset > 0 && items[0] ? encodeCursor(items[0].arrival) : null
    return { items: items.map(publicEntry), total, next_before: nextBefore }
  }

  /** The `limit` entries that arrived before the cursor (or the newest, without one), newest first. */
  async function before(deviceUuid: string, q: { before?: bigint; since?: Date; container?: string; limit: number }) {
    const base = filtered(deviceUuid, q)
    let older = base
    if (q.before !== undefined) older = older.where('arrival', '<', q.before.toString() as never)
    const [rows, total] = await Promise.all([older.select(columns).orderBy('arrival', 'desc').limit(q.limit + 1).execute(), count(base)])
    const items = rows.slice(0, q.limit).map(toEntry)
    const nextBefore = rows.length > q.limit ? encodeCursor(items.at(-1)!.arrival) : null
    return { items: items.map(publicEntry), total, next_before: nextBefore }
  }

  /** Entries that arrived after `arrival`, oldest first, at most `limit`. */
  async function after(deviceUuid: string, arrival: bigint, q: { container?: string; limit: number }): Promise<ArrivedEntry[]> {
    const rows = await filtered(deviceUuid, q).where('arrival', '>', arrival.toString() as never).select(columns).orderBy('arrival').limit(q.limit).execute()
    return rows.map(toEntry)
  }

  /** The newest `limit` entries matching the filter, oldest first: a follower's backfill. */
  async function newest(deviceUuid: string, q: { since?: Date; container?: string; limit: number; upTo: bigint }): Promise<ArrivedEntry[]> {
    const rows = await filtered(deviceUuid, q).where('arrival', '<=', q.upTo.toString() as never).select(columns).orderBy('arrival', 'desc').limit(q.limit).execute()
    return rows.map(toEntry).reverse()
  }

  /** Where an entry the caller last saw sits (SSE `Last-Event-ID`); undefined when it is gone or another device's. */
  async function arrivalOf(deviceUuid: string, entryId: string): Promise<bigint | undefined> {
    const row = await db.selectFrom('device_logs').select('arrival').where('device_id', '=', deviceUuid).where('id', '=', entryId).executeTakeFirst()
    return row ? BigInt(row.arrival) : undefined
  }

  /** The newest arrival number of the device's entries (0 when none). */
  async function lastArrival(deviceUuid: string): Promise<bigint> {
    const row = await db.selectFrom('device_logs').select((eb) => eb.fn.max('arrival').as('a')).where('device_id', '=', deviceUuid).executeTakeFirst()
    return row?.a == null ? 0n : BigInt(row.a as string | number)
  }

  return { list, before, after, newest, arrivalOf, lastArrival }
}

export type DeviceLogStore = ReturnType<typeof createDeviceLogStore>
