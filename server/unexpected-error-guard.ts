import { Counter, type Registry } from 'prom-client'
import type { Logger } from './logger.js'

export const UNEXPECTED_ERRORS_METRIC = 'edgetainer_unexpected_errors_total'

type Kind = 'uncaught_exception' | 'unhandled_rejection'

export interface UnexpectedErrorGuard {
  /** How many unexpected errors were seen since install (also on /metrics). */
  count(): number
  /** Removes the handlers again (tests; the server keeps them for its lifetime). */
  uninstall(): void
}

/** What gets logged of a thrown value: its kind, message, code and stack; never the whole object (it may hold a request). */
function describe(value: unknown): Record<string, unknown> {
  if (value instanceof Error) {
    const code = (value as NodeJS.ErrnoException).code
    return { type: value.name, message: value.message.slice(0, 500), ...(code ? { code } : {}), stack: value.stack?.slice(0, 4000) }
  }
  return { type: typeof value }
}

/**
 * The process-level safety net of the gateway. The gateway faces the internet
 * and holds every device's tunnel, so an error that escaped its own handler
 * (a socket 'error' with no listener, a promise nobody awaited) must not end
 * the process and drop the fleet: it is logged, counted in
 * `edgetainer_unexpected_errors_total` and the gateway keeps serving. Each one
 * is a bug to fix where it arose; the counter is what tells operators.
 *
 * Installed by the composition root (`edgetainer server`), never on import.
 */
export function installUnexpectedErrorGuard(deps: { logger: Logger; metrics: Registry; target?: NodeJS.Process }): UnexpectedErrorGuard {
  const target = deps.target ?? process
  const log = deps.logger.child({ component: 'unexpected-error-guard' })
  const counter =
    (deps.metrics.getSingleMetric(UNEXPECTED_ERRORS_METRIC) as Counter<'kind'> | undefined) ??
    new Counter({
      name: UNEXPECTED_ERRORS_METRIC,
      help: 'Errors that escaped every handler (uncaught exceptions, unhandled rejections); the gateway logged them and kept serving',
      labelNames: ['kind'],
      registers: [deps.metrics],
    })
  let seen = 0

  function record(kind: Kind, value: unknown) {
    seen++
    counter.inc({ kind })
    try {
      log.error({ kind, err: describe(value) }, 'unexpected error; the gateway keeps serving')
    } catch {
      // A logger that throws (closed destination) must not turn the safety net into a crash.
    }
  }

  const onException = (err: Error) => record('uncaught_exception', err)
  const onRejection = (reason: unknown) => record('unhandled_rejection', reason)
  target.on('uncaughtException', onException)
  target.on('unhandledRejection', onRejection)
  // Both kinds start at zero, so dashboards see the series before the first error.
  counter.inc({ kind: 'uncaught_exception' }, 0)
  counter.inc({ kind: 'unhandled_rejection' }, 0)

  return {
    count: () => seen,
    uninstall() {
      target.off('uncaughtException', onException)
      target.off('unhandledRejection', onRejection)
    },
  }
}
