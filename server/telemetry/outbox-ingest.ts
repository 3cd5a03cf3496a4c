import type { Insertable, Kysely } from 'kysely'
import type { Database, DeviceLogsTable } from '../db/schema.js'
import { createDeploymentStatus } from '../deployments/deployment-status.js'
import type { OutboxEvent, RejectedEvent, StatusAck, StatusBatch } from '../../shared/agent-wire.js'

/** Device text is untrusted: keep every stored message bounded. */
const MAX_MESSAGE = 8000

/** PostgreSQL's timestamptz starts at 4713 BC, JavaScript's Date reaches further: a device clock's nonsense must not fail the insert. */
const EARLIEST = Date.UTC(1970, 0, 1)
const LATEST = Date.UTC(9999, 11, 31)

function when(at: string): Date {
  const t = Date.parse(at)
  return Number.isFinite(t) && t >= EARLIEST && t <= LATEST ? new Date(t) : new Date()
}

function logRow(deviceUuid: string, e: OutboxEvent): Insertable<DeviceLogsTable> {
  const base = { device_id: deviceUuid, created_at: when(e.at), seq: e.seq }
  switch (e.kind) {
    case 'log':
      return { ...base, log_type: e.stream, container: e.container, message: e.line.slice(0, MAX_MESSAGE) }
    case 'deploy':
      return { ...base, log_type: 'deploy', container: null, message: `${e.name} ${e.version}: ${e.status}${e.error ? `: ${e.error}` : ''}`.slice(0, MAX_MESSAGE) }
    case 'container':
      return { ...base, log_type: 'container', container: e.service ?? e.container, message: `${e.container}: ${e.previous ?? 'new'} → ${e.state}${e.health ? ` (${e.health})` : ''}` }
    case 'agent':
      return { ...base, log_type: 'agent', container: null, message: e.message.slice(0, MAX_MESSAGE) }
  }
}

/**
 * Stores one outbox batch exactly once. The device's cursor (outbox id and
 * last stored seq) moves in the same transaction as the rows, so a batch
 * resent after a lost reply stores nothing new and is acknowledged again.
 * Events refused at validation (`rejected`) move the cursor too, and leave a
 * `rejected` row saying what was refused, so they are neither stored later
 * nor block what follows them.
 */
export function createOutboxIngest(deps: { db: Kysely<Database>; onStored?: (deviceUuid: string) => void }) {
  const { db } = deps

  async function ingest(deviceUuid: string, batch: StatusBatch, rejected: RejectedEvent[] = []): Promise<StatusAck & { stored: number }> {
    const result = await store(deviceUuid, batch, rejected)
    // After the commit: live log streams read what is there now.
    if (result.stored > 0 || result.rejected?.length) deps.onStored?.(deviceUuid)
    return result
  }

  function store(deviceUuid: string, batch: StatusBatch, rejected: RejectedEvent[]): Promise<StatusAck & { stored: number }> {
    return db.transaction().execute(async (tx) => {
      const cursor = await tx.selectFrom('agent_outbox_cursors').selectAll().where('device_id', '=', deviceUuid).forUpdate().executeTakeFirst()
      const lastSeq = cursor && cursor.outbox_id === batch.outbox_id ? Number(cursor.last_seq) : 0
      const fresh = batch.events.filter((e) => e.seq > lastSeq).sort((a, b) => a.seq - b.seq)
      const freshRejected = rejected.filter((r): r is RejectedEvent & { seq: number } => r.seq !== null && r.seq > lastSeq && r.code !== 'DUPLICATE_SEQ')
      const reply = rejected.length ? { rejected } : {}
      if (!fresh.length && !freshRejected.length) {
        return { acked_seq: Math.max(lastSeq, ...batch.events.map((e) => e.seq), ...rejected.map((r) => r.seq ?? 0)), ...reply, stored: 0 }
      }

      const rows = fresh.map((e) => logRow(deviceUuid, e))
      for (const r of freshRejected) {
        rows.push({ device_id: deviceUuid, log_type: 'rejected', container: null, seq: r.seq, created_at: new Date(), message: `outbox event ${r.seq} refused (${r.code}): ${r.error}` })
      }
      if (batch.dropped_log_lines > 0) {
        rows.unshift({
          device_id: deviceUuid,
          log_type: 'dropped',
          container: null,
          seq: fresh[0]?.seq ?? freshRejected[0]!.seq,
          created_at: fresh[0] ? when(fresh[0].at) : new Date(),
          message: `${batch.dropped_log_lines} events (log lines first, then superseded container states and notices) were dropped on the device to keep its outbox within its size limit`,
        })
      }
      for (let i = 0; i < rows.length; i += 500) await tx.insertInto('device_logs').values(rows.slice(i, i + 500)).execute()

      // Deploy results move the per-device status, in the device's order; software deleted since is skipped.
      const deploys = fresh.filter((e): e is Extract<OutboxEvent, { kind: 'deploy' }> => e.kind === 'deploy')
      if (deploys.length) {
        const known = new Set(
          (await tx.selectFrom('software').select('id').where('id', 'in', [...new Set(deploys.map((d) => d.software_id))]).execute()).map((r) => r.id),
        )
        const status = createDeploymentStatus({ db: tx })
        for (const d of deploys) if (known.has(d.software_id)) await status.report(deviceUuid, d.software_id, { version: d.version, status: d.status, error: d.error })
      }

      const acked = Math.max(...fresh.map((e) => e.seq), ...freshRejected.map((r) => r.seq))
      await tx
        .insertInto('agent_outbox_cursors')
        .values({ device_id: deviceUuid, outbox_id: batch.outbox_id, last_seq: acked })
        .onConflict((oc) => oc.column('device_id').doUpdateSet({ outbox_id: batch.outbox_id, last_seq: acked, updated_at: new Date() }))
        .execute()
      return { acked_seq: acked, ...reply, stored: fresh.length }
    })
  }

  return { ingest }
}

export type OutboxIngest = ReturnType<typeof createOutboxIngest>
