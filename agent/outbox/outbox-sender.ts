import type { Logger } from '../agent-logger.js'
import { AgentApiError, type AgentApiClient } from '../tunnel/agent-api-client.js'
import { agentApi, type StatusAck, type StatusBatch } from '../../shared/agent-wire.js'
import type { Outbox } from './outbox.js'

const BATCH_EVENTS = 500
const BATCH_BYTES = 512 * 1024
/** Refusals in a row before the sender narrows to the oldest event alone, and again before it quarantines that event. */
export const POISON_FAILURES = 3

/** A failure that says something about the batch, not about the tunnel, the gateway's database or our rate. */
function countsAgainstBatch(err: unknown): boolean {
  if (!(err instanceof AgentApiError)) return false
  if (err.code === 'TIMEOUT') return true
  return err.status >= 400 && err.status !== 429 && err.status !== 502 && err.status !== 503
}

/**
 * Delivers the outbox to the gateway, one batch at a time and oldest first,
 * whenever the tunnel is up: on append (after a short pause that gathers a
 * burst into one batch), on reconnect, and on a timer as a safety net.
 *
 * Nothing can jam it: events the gateway refuses come back in the ack and
 * are quarantined; a batch refused as a whole again and again is narrowed to
 * its oldest event, and that event is quarantined if it keeps failing. A 429
 * waits out the gateway's Retry-After.
 */
export function createOutboxSender(deps: { outbox: Outbox; api: AgentApiClient; logger: Logger; online: () => boolean; retryMs?: number }) {
  const { outbox, api, logger } = deps
  let running: Promise<void> | undefined
  let again = false
  let closed = false
  let timer: NodeJS.Timeout | undefined
  let failures = 0
  // After a batch kept failing, its events go one at a time up to this seq, so the one to blame is found.
  let suspectUpTo = 0

  async function drain() {
    while (!closed && deps.online() && outbox.pending > 0) {
      const head = outbox.peek(1, BATCH_BYTES).events[0]!
      if (head.seq > suspectUpTo) suspectUpTo = 0
      const narrow = suspectUpTo > 0
      const { events, dropped } = outbox.peek(narrow ? 1 : BATCH_EVENTS, BATCH_BYTES)
      const batch: StatusBatch = { outbox_id: outbox.id, events, dropped_log_lines: dropped }
      let ack: StatusAck
      try {
        ack = await api.call(agentApi.status, batch)
      } catch (err) {
        if (!countsAgainstBatch(err)) throw err
        failures++
        if (!narrow) {
          if (failures >= POISON_FAILURES) {
            suspectUpTo = events.at(-1)!.seq
            failures = 0
          }
        } else if (failures >= POISON_FAILURES) {
          failures = 0
          outbox.quarantineHead((err as AgentApiError).code, `refused ${POISON_FAILURES} times on its own: ${(err as Error).message}`)
          continue
        }
        throw err
      }
      failures = 0
      outbox.ack(ack, dropped)
    }
  }

  function kick() {
    if (closed) return
    if (running) {
      again = true
      return
    }
    running = drain()
      .catch((err: Error) => {
        logger.debug({ err: err.message, pending: outbox.pending, failures }, 'outbox delivery paused')
        if (err instanceof AgentApiError && err.retryAfterMs) schedule(err.retryAfterMs)
        else if (failures > 0 || suspectUpTo > 0) schedule(Math.min(200 * 2 ** failures, 2000))
      })
      .finally(() => {
        running = undefined
        if (again) {
          again = false
          schedule(50)
        }
      })
  }

  function schedule(ms: number) {
    if (closed || timer) return
    timer = setTimeout(() => {
      timer = undefined
      kick()
    }, ms)
  }

  const unsubscribe = outbox.onAppend(() => schedule(200))
  const safety = setInterval(() => {
    if (outbox.pending > 0) kick()
  }, deps.retryMs ?? 5000)

  return {
    /** Sends now (the tunnel just came up). */
    kick,
    /** Resolves when a delivery in flight has finished. */
    async idle(): Promise<void> {
      await running
    },
    async close(): Promise<void> {
      closed = true
      unsubscribe()
      clearInterval(safety)
      if (timer) clearTimeout(timer)
      await running
    },
  }
}

export type OutboxSender = ReturnType<typeof createOutboxSender>
