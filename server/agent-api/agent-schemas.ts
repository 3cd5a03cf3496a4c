import { z } from 'zod'

/**
 * The agent API's inputs, validated at the edge like any other input: a
 * device is trusted to be itself, not to send well-formed data.
 */

const count = z.number().finite().nonnegative().nullable()
const text = (max: number) => z.string().max(max)

export const heartbeatBody = z.object({
  agent_version: text(64),
  at: text(64),
  metrics: z.object({
    cpu_percent: count,
    memory_used_bytes: count,
    memory_total_bytes: count,
    disk_used_bytes: count,
    disk_total_bytes: count,
    uptime_seconds: count,
    load_1: count,
    net_rx_bytes: count,
    net_tx_bytes: count,
  }),
  containers: z
    .array(
      z.object({
        name: text(255),
        project: text(255).nullable(),
        service: text(255).nullable(),
        image: text(512),
        state: text(32),
        health: text(32).nullable(),
        exit_code: z.number().int().nullable(),
        restart_count: z.number().int().nonnegative(),
        started_at: text(64).nullable(),
      }),
    )
    .max(500),
  software: z.array(z.object({ software_id: text(64), name: text(255), version: text(255) })).max(200),
  outbox: z.object({ pending: z.number().int().nonnegative(), dropped_log_lines: z.number().int().nonnegative() }),
})

const base = { seq: z.number().int().positive(), at: text(64) }

export const outboxEvent = z.discriminatedUnion('kind', [
  z.object({ ...base, kind: z.literal('log'), container: text(255), stream: z.enum(['stdout', 'stderr']), line: text(65_536) }),
  z.object({
    ...base,
    kind: z.literal('deploy'),
    software_id: z.uuid(),
    name: text(255),
    version: text(255),
    status: z.enum(['deploying', 'running', 'failed', 'rolled_back']),
    error: text(65_536).nullable(),
  }),
  z.object({ ...base, kind: z.literal('container'), container: text(255), service: text(255).nullable(), state: text(32), health: text(32).nullable(), previous: text(32).nullable() }),
  z.object({ ...base, kind: z.literal('agent'), message: text(65_536) }),
])

export const statusBody = z.object({
  outbox_id: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/),
  events: z.array(outboxEvent).max(5000),
  dropped_log_lines: z.number().int().nonnegative(),
})
