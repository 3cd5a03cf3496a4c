import type { Kysely } from 'kysely'
import pLimit from 'p-limit'
import type { Database } from '../db/schema.js'
import type { Logger } from '../logger.js'
import type { GitImporter } from './git-importer.js'
import type { GitSourceStore } from './git-source-store.js'

export interface GitPollerSettings {
  /** How often the poller looks for git software whose next poll is due. */
  checkIntervalMs: number
  /** Syncs running at once, polls and webhooks together. */
  concurrency: number
}

/**
 * Polls git software on their own intervals: every check, the sources whose
 * `next_poll_at` has passed are synced (each sync sets the next one, success
 * or not). A failed sync is recorded on the source and logged; it never ends
 * the loop. One sync per source at a time: a source still syncing is skipped.
 */
export function createGitPoller(deps: { db: Kysely<Database>; sources: GitSourceStore; importer: GitImporter; logger: Logger; settings: GitPollerSettings }) {
  const { settings, logger } = deps
  const limit = pLimit(settings.concurrency)
  const inFlight = new Set<string>()
  let timer: NodeJS.Timeout | undefined
  let checking: Promise<void> | undefined
  let closed = false

  async function check(): Promise<void> {
    const ids = await deps.sources.due(deps.db, new Date(), settings.concurrency * 4)
    const started: Promise<unknown>[] = []
    for (const id of ids) {
      if (inFlight.has(id) || deps.importer.isRunning(id)) continue
      inFlight.add(id)
      started.push(
        limit(() => (closed ? undefined : deps.importer.sync(id, 'poll', 'git-poller')))
          // The importer recorded and logged the failure on the source already.
          .catch(() => undefined)
          .finally(() => inFlight.delete(id)),
      )
    }
    await Promise.all(started)
  }

  function schedule() {
    if (closed) return
    timer = setTimeout(() => {
      checking = check()
        .catch((err: Error) => logger.warn({ err: err.message }, 'git poll check failed'))
        .finally(() => {
          checking = undefined
          schedule()
        })
    }, settings.checkIntervalMs)
    timer.unref()
  }

  return {
    start: schedule,
    /** Waits for a check in progress (its fetches are bounded by the git timeout). */
    async close() {
      closed = true
      clearTimeout(timer)
      limit.clearQueue()
      await checking
    },
  }
}

export type GitPoller = ReturnType<typeof createGitPoller>
