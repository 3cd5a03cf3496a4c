import type { Logger } from '../agent-logger.js'
import type { AgentApiClient } from '../tunnel/agent-api-client.js'
import { AGENT_PATHS, type StatusAck, type StatusBatch } from '../../shared/agent-wire.js'
import type { Outbox } from './outbox.js'

const BATCH_EVENTS = 500
const BATCH_BYTES = 512 * 1024

/**
 * Delivers the outbox to the gateway, one batch at a time and oldest first,
 * whenever the tunnel is up: on append (after a short pause that gathers a
 * burst into one batch), on reconnect, and on a timer as a safety net.
 */
export function createOutboxSender(deps: { outbox: Outbox; api: AgentApiClient; logger: Logger; online: () => boolean; retryMs?: number }) {
  const { outbox, api, logger } = deps
  let running: Promise<void> | undefined
  let again = false
  let closed = false
  let timer: NodeJS.Timeout | undefined

  async function drain() {
    while (!closed && deps.online() && outbox.pending > 0) {
      const { events, dropped } = outbox.peek(BATCH_EVENTS, BATCH_BYTES)
      const batch: StatusBatch = { outbox_id: outbox.id, events, dropped_log_lines: dropped }
      const ack = await api.request<StatusAck>('POST', AGENT_PATHS.status, batch)
      outbox.ack(ack.acked_seq, dropped)
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
        logger.debug({ err: err.message, pending: outbox.pending }, 'outbox delivery paused')
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
