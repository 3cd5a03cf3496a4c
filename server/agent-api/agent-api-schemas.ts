import { z } from 'zod'
import { DEPLOY_STATES, type OutboxEvent, type RejectedEvent } from '../../shared/agent-wire.js'

/**
 * The agent API's inputs, validated at the edge like any other input: a
 * device is trusted to be itself, not to send well-formed data.
 */

const count = z.number().finite().nonnegative().nullable()
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
/** PostgreSQL text and jsonb refuse NUL, and broken UTF-16 would be stored as something else than was sent. */
const storable = (s: string) => !s.includes('\u0000') && !LONE_SURROGATE.test(s)
const text = (max: number) => z.string().max(max).refine(storable, 'must not contain NUL or unpaired surrogates')

export const heartbeatBody = z.object({
  agent_version: text(64),
  /** Older agents do not send it; they are x64. */
  agent_arch: z.enum(['x64', 'arm64']).optional(),
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
        // Optional: agents before published-port reporting leave it out.
        ports: z
          .array(
            z.object({
              container_port: z.number().int().min(1).max(65535),
              protocol: z.enum(['tcp', 'udp']),
              host_port: z.number().int().min(1).max(65535).nullable(),
              host_ip: text(64).nullable(),
              source: z.enum(['published', 'exposed', 'listening']),
            }),
          )
          .max(64)
          .optional(),
        software_id: text(64).nullable().optional(),
      }),
    )
    .max(500),
  docker_error: text(1000).optional(),
  software: z.array(z.object({ software_id: text(64), name: text(255), version: text(255) })).max(200),
  outbox: z.object({ pending: z.number().int().nonnegative(), dropped_log_lines: z.number().int().nonnegative(), quarantined: z.number().int().nonnegative().optional() }),
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
    // `deploying` stays for agents that predate the phases.
    status: z.enum(DEPLOY_STATES),
    error: text(65_536).nullable(),
  }),
  z.object({ ...base, kind: z.literal('container'), container: text(255), service: text(255).nullable(), state: text(32), health: text(32).nullable(), previous: text(32).nullable() }),
  z.object({ ...base, kind: z.literal('agent'), message: text(65_536) }),
])

/** The batch's envelope is checked as a whole; its events one by one (see triageEvents), so one bad event cannot block the rest. */
export const statusBody = z.object({
  outbox_id: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/),
  events: z.array(z.unknown()).max(5000),
  dropped_log_lines: z.number().int().nonnegative(),
})

const seqOf = z.object({ seq: z.number().int().positive() })

/**
 * Splits a batch's events into those the gateway stores and those it will
 * never store, each with a reason. A sequence number seen twice in one batch
 * keeps its first event.
 */
export function triageEvents(items: unknown[]): { valid: OutboxEvent[]; rejected: RejectedEvent[] } {
  const valid: OutboxEvent[] = []
  const rejected: RejectedEvent[] = []
  const seen = new Set<number>()
  for (const item of items) {
    const seq = seqOf.safeParse(item)
    const parsed = outboxEvent.safeParse(item)
    const n = seq.success ? seq.data.seq : null
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!
      rejected.push({ seq: n, code: 'INVALID_EVENT', error: `${issue.path.map(String).join('.') || 'event'}: ${issue.message}`.slice(0, 500) })
    } else if (seen.has(parsed.data.seq)) {
      rejected.push({ seq: n, code: 'DUPLICATE_SEQ', error: 'another event in this batch has the same seq' })
    } else {
      seen.add(parsed.data.seq)
      valid.push(parsed.data)
    }
  }
  return { valid, rejected }
}
