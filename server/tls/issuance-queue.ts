import { Semaphore } from 'async-mutex'
import type { Logger } from '../logger.js'

interface Entry {
  promise: Promise<void>
  started: boolean
  force: boolean
  /** A request that came in while this one ran: it may want hosts the running order lacks. */
  followUp?: Promise<void>
}

/**
 * Serialises certificate work per name and limits how many orders run at
 * once, so bursts (a fleet coming online, a scanner, many renewals due
 * together) stay inside the CA's rate limits:
 * - a request for a name that is already waiting joins it;
 * - a request for a name whose order is running gets one follow-up run after
 *   it (which orders nothing if the new certificate already covers it);
 * - at most `concurrency` names are worked on at a time.
 * `run` handles its own errors; the queue only logs what escapes it.
 */
export function createIssuanceQueue(deps: { concurrency: number; run: (name: string, force: boolean) => Promise<void>; logger: Logger }) {
  const semaphore = new Semaphore(deps.concurrency)
  const entries = new Map<string, Entry>()
  let closed = false

  function request(name: string, force = false): Promise<void> {
    if (closed) return Promise.resolve()
    const entry = entries.get(name)
    if (entry && !entry.started) {
      entry.force ||= force
      return entry.promise
    }
    if (entry) {
      entry.followUp ??= entry.promise.then(() => request(name))
      return entry.followUp
    }
    const fresh: Entry = { started: false, force, promise: Promise.resolve() }
    fresh.promise = semaphore
      .runExclusive(async () => {
        if (closed) return
        fresh.started = true
        await deps.run(name, fresh.force)
      })
      .catch((err: Error) => deps.logger.error({ name, err: err.message }, 'certificate work failed unexpectedly'))
      .finally(() => {
        if (entries.get(name) === fresh) entries.delete(name)
      })
    entries.set(name, fresh)
    return fresh.promise
  }

  return {
    request,
    /** Waiting or running: the certificate listing shows it as renewing. */
    busy: (name: string) => entries.has(name),
    /** Stops taking work and waits (a bounded time) for orders already running. */
    async close(timeoutMs = 5000): Promise<void> {
      closed = true
      const running = [...entries.values()].map((e) => e.promise)
      let timer: NodeJS.Timeout | undefined
      await Promise.race([Promise.allSettled(running), new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))])
      clearTimeout(timer)
    },
  }
}

export type IssuanceQueue = ReturnType<typeof createIssuanceQueue>
