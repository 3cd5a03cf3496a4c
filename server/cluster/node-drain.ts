import type { Logger } from '../logger.js'
import type { TunnelRegistry } from '../tunnel/tunnel-registry.js'

export interface DrainSettings {
  /** The longest a draining node waits for its devices to move before it closes anyway. */
  graceMs: number
  /** Device sessions are closed at random moments within this window, so they do not all land on the next node at once. */
  spreadMs: number
}

/**
 * Draining a node (SIGTERM): it stops taking new connections on every
 * listener, so the load balancer's next pick for a device or a browser is
 * another node, then closes its device sessions one by one at random moments
 * of a spread window. The agent has no "move elsewhere" message; a closed
 * session IS that message: it reconnects with exponential backoff and full
 * jitter, through the load balancer, and lands on a node that still listens.
 * The drain ends when no device session is left here, or at the grace period.
 */
export function createNodeDrain(deps: { registry: TunnelRegistry; stopAccepting: (() => void)[]; settings: DrainSettings; logger: Logger; pollMs?: number }) {
  const { registry, settings, logger } = deps
  let draining: Promise<void> | undefined

  async function run(): Promise<void> {
    const started = Date.now()
    for (const stop of deps.stopAccepting) {
      try {
        stop()
      } catch (err) {
        logger.warn({ err: (err as Error).message }, 'a listener did not stop cleanly')
      }
    }
    const sessions = [...registry.sessions()]
    logger.info({ devices: sessions.length, grace_ms: settings.graceMs, spread_ms: settings.spreadMs }, 'draining: devices are asked to reconnect elsewhere')
    const spread = Math.min(settings.spreadMs, settings.graceMs)
    const timers = sessions.map((session) =>
      setTimeout(() => void session.close().catch((err: Error) => logger.warn({ err: err.message }, 'a session did not close cleanly')), Math.random() * spread),
    )
    const deadline = started + settings.graceMs
    while (registry.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, deps.pollMs ?? 100))
    }
    for (const timer of timers) clearTimeout(timer)
    logger.info({ left: registry.size, ms: Date.now() - started }, registry.size ? 'drain grace period over; closing with devices left' : 'drained: every device left this node')
  }

  return {
    /** Runs once, however often it is called (a second SIGTERM waits for the same drain). */
    drain(): Promise<void> {
      draining ??= run()
      return draining
    },
    get draining() {
      return draining !== undefined
    },
  }
}

export type NodeDrain = ReturnType<typeof createNodeDrain>
