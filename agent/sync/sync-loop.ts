import type { Logger } from '../agent-logger.js'
import type { ComposeExecutor } from '../deploy/compose-executor.js'
import { plan, type TargetStack } from '../deploy/planner.js'
import type { StackStore } from '../deploy/stack-store.js'
import type { Outbox } from '../outbox/outbox.js'
import type { ContainerWatch } from '../status/container-watch.js'
import type { LogCollector } from '../status/log-collector.js'
import type { AgentApiClient } from '../tunnel/agent-api-client.js'
import { backoffDelay } from '../tunnel/backoff.js'
import {
  agentApi,
  type AgentConfigResponse,
  type DeviceMetrics,
  type HeartbeatRequest,
} from '../../shared/agent-wire.js'

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** The first retry of a failed sync comes within this; each failure in a row doubles it, up to the heartbeat interval. */
export const SYNC_RETRY_BASE_MS = 2000

/** With docker's event stream up, the watch still looks this often (or every watchSeconds, if longer). */
export const SAFETY_LOOK_SECONDS = 60
/** A change rarely comes alone (compose up creates, starts, and reports health): one look takes in the burst. */
const LOOK_BATCH_MS = 100

/** An error message as the heartbeat carries it (and the gateway stores it): one line, no control bytes or broken UTF-16, at most 500 characters. */
function oneLine(message: string): string {
  const wellFormed = message.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD')
  return Array.from(wellFormed.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim()).slice(0, 500).join('')
}

/**
 * The agent's rhythm. The watch (containers and their logs) runs whether
 * or not the gateway is reachable, so offline events still land in the
 * outbox. It looks when docker reports a change to one of the agent's
 * containers (`lookSoon`, from the event stream), and on a timer: every
 * `watchSeconds` while that stream is down, and every SAFETY_LOOK_SECONDS
 * while it is up, in case an event was missed. Heartbeats go out while the tunnel is up; a changed revision, a
 * queued restart or the gateway's nudge (control `sync`) triggers a sync:
 * fetch config and the target document (304 when unchanged), plan, execute.
 * Syncs never overlap. A step an update lock defers is tried again after
 * `lockRetrySeconds`; a sync that fails (the gateway or dockerd unreachable
 * for a moment) is tried again with backoff, within the heartbeat interval.
 */
export function createSyncLoop(deps: {
  api: AgentApiClient
  stacks: StackStore
  executor: ComposeExecutor
  watch: ContainerWatch
  logs: LogCollector
  outbox: Outbox
  metrics: { sample(): DeviceMetrics }
  online(): boolean
  /** The gateway's config arrived: forwards and the control key follow it. */
  applyConfig(config: AgentConfigResponse): Promise<void>
  agentVersion: string
  agentArch?: 'x64' | 'arm64'
  /** A heartbeat went through (the self-update's check that this agent works). */
  onHeartbeatAccepted?(): void
  heartbeatSeconds: number
  /** How often the watch looks while docker's event stream is down. */
  watchSeconds: number
  /** Whether docker's event stream runs (then changes arrive as `lookSoon` calls, and the timer is only a safety net). */
  eventsLive?(): boolean
  /** How soon an update deferred by an update lock is tried again. */
  lockRetrySeconds: number
  /** Overrides SYNC_RETRY_BASE_MS (tests). */
  syncRetryBaseMs?: number
  logger: Logger
}) {
  const { api, logger } = deps
  let heartbeatMs = deps.heartbeatSeconds * 1000
  let appliedRevision: string | undefined
  /** The target document last fetched, kept to be planned again when the gateway answers 304. */
  let fetched: { revision: string; target: TargetStack[] } | undefined
  let lockRetryTimer: NodeJS.Timeout | undefined
  let syncRetryTimer: NodeJS.Timeout | undefined
  /** Syncs failed in a row: the backoff's attempt. */
  let syncFailures = 0
  let syncing: Promise<void> = Promise.resolve()
  let syncQueued = false
  let closed = false
  let heartbeatTimer: NodeJS.Timeout | undefined
  let watchTimer: NodeJS.Timeout | undefined
  let watching: Promise<void> = Promise.resolve()
  let lookQueued = false

  async function syncOnce(): Promise<void> {
    const config = await api.call(agentApi.config)
    await deps.applyConfig(config)
    // The target document with an ETag: unchanged, the gateway answers 304 and resolves nothing.
    const software = await api.callUnlessMatch(agentApi.software, fetched ? `"${fetched.revision}"` : undefined)
    if (software) fetched = { revision: software.revision, target: software.software.filter((s) => uuidPattern.test(s.software_id)) }
    const { revision, target } = fetched!
    const { restarts } = await api.call(agentApi.restarts)
    const steps = plan({ current: deps.stacks.current(), target, failed: deps.stacks.failed(), restarts })
    if (steps.length) logger.info({ steps: steps.map((s) => s.kind), revision }, 'applying the gateway plan')
    let deferred = false
    for (const step of steps) {
      if (closed) return
      if ((await deps.executor.execute(step)) === 'deferred') deferred = true
    }
    if (!deferred) return void (appliedRevision = revision)
    // An update lock holds a step back: look again soon (the heartbeat would too, but at its own pace).
    clearTimeout(lockRetryTimer)
    if (!closed) lockRetryTimer = setTimeout(() => void syncNow(), deps.lockRetrySeconds * 1000)
  }

  /** Runs a sync after the current one (at most one more waits). */
  function syncNow(): Promise<void> {
    if (syncQueued) return syncing
    syncQueued = true
    syncing = syncing.then(async () => {
      syncQueued = false
      if (closed || !deps.online()) return
      try {
        await syncOnce()
        syncFailures = 0
      } catch (err) {
        // Tried again soon rather than at the next heartbeat, which an admin may have set hours apart: a
        // gateway restarting or dockerd busy for a moment must not hold a deploy that long. Exponential
        // with full jitter (as reconnects), so a fleet that failed together does not retry together.
        const delayMs = backoffDelay(syncFailures++, { baseMs: deps.syncRetryBaseMs ?? SYNC_RETRY_BASE_MS, capMs: heartbeatMs })
        logger.warn({ err: (err as Error).message, attempt: syncFailures, retry_in_ms: delayMs }, 'sync with the gateway failed; trying again')
        clearTimeout(syncRetryTimer)
        if (!closed) syncRetryTimer = setTimeout(() => void syncNow(), delayMs)
      }
    })
    return syncing
  }

  async function heartbeatBody(): Promise<HeartbeatRequest> {
    // dockerd away (restarting, crashed, its disk full) is news for the gateway, not a reason to go silent:
    // the heartbeat goes out with the metrics, the software and why no container could be read.
    let containers: Awaited<ReturnType<typeof deps.watch.fresh>> = []
    let dockerError: string | undefined
    try {
      containers = await deps.watch.fresh()
    } catch (err) {
      dockerError = oneLine((err as Error).message)
    }
    const softwareOf = new Map(deps.stacks.current().map((s) => [s.project, s.software_id]))
    return {
      agent_version: deps.agentVersion,
      ...(deps.agentArch ? { agent_arch: deps.agentArch } : {}),
      at: new Date().toISOString(),
      metrics: deps.metrics.sample(),
      // Ports read now: between looks (which come with docker's events) a server may have started listening.
      containers: containers.map(({ name, project, service, image, state, health, exit_code, restart_count, started_at, portsNow }) => ({
        name,
        project,
        service,
        image,
        state,
        health,
        exit_code,
        restart_count,
        started_at,
        ports: portsNow(),
        software_id: project ? (softwareOf.get(project) ?? null) : null,
      })),
      ...(dockerError !== undefined ? { docker_error: dockerError } : {}),
      software: deps.stacks.current().map((s) => ({ software_id: s.software_id, name: s.name, version: s.version })),
      outbox: { pending: deps.outbox.pending, dropped_log_lines: deps.outbox.dropped, quarantined: deps.outbox.quarantined },
    }
  }

  async function heartbeat(): Promise<void> {
    if (!deps.online()) return
    try {
      const reply = await api.call(agentApi.heartbeat, await heartbeatBody())
      heartbeatMs = Math.max(1000, reply.interval_seconds * 1000)
      deps.onHeartbeatAccepted?.()
      if (reply.revision !== appliedRevision || reply.restarts_pending > 0) void syncNow()
    } catch (err) {
      logger.debug({ err: (err as Error).message }, 'heartbeat failed')
    }
  }

  function scheduleHeartbeat(ms = heartbeatMs) {
    if (closed) return
    clearTimeout(heartbeatTimer)
    heartbeatTimer = setTimeout(() => void heartbeat().finally(() => scheduleHeartbeat()), ms)
  }

  async function watchOnce(): Promise<void> {
    try {
      const containers = await deps.watch.check()
      await deps.logs.collect(containers)
    } catch (err) {
      logger.debug({ err: (err as Error).message }, 'container watch failed')
    }
  }

  /** Looks after the current look (at most one more waits), then starts the timer over. */
  function lookSoon(delayMs = LOOK_BATCH_MS): void {
    if (closed || lookQueued) return
    lookQueued = true
    clearTimeout(watchTimer)
    watchTimer = setTimeout(() => {
      watching = watching
        .then(() => {
          lookQueued = false
          if (!closed) return watchOnce()
        })
        .finally(scheduleWatch)
    }, delayMs)
  }

  function scheduleWatch() {
    if (closed || lookQueued) return
    clearTimeout(watchTimer)
    const seconds = deps.eventsLive?.() ? Math.max(deps.watchSeconds, SAFETY_LOOK_SECONDS) : deps.watchSeconds
    watchTimer = setTimeout(() => lookSoon(0), seconds * 1000)
  }

  return {
    start(): void {
      lookSoon(0)
    },
    /** Docker reported a change to one of the agent's containers, or its event stream (re)started. */
    lookSoon: () => lookSoon(),
    /** The event stream stopped or started: the timer's pace changes with it. */
    onEventsLiveChange(): void {
      if (!lookQueued) scheduleWatch()
    },
    /** The tunnel came up: heartbeat and sync at once rather than at the next tick. */
    onTunnelUp(): void {
      void syncNow()
      scheduleHeartbeat(0)
    },
    syncNow,
    async close(): Promise<void> {
      closed = true
      clearTimeout(heartbeatTimer)
      clearTimeout(watchTimer)
      clearTimeout(lockRetryTimer)
      clearTimeout(syncRetryTimer)
      await Promise.allSettled([syncing, watching])
      // Followers end after the last tick, so none starts behind the close.
      await deps.logs.close()
    },
  }
}

export type SyncLoop = ReturnType<typeof createSyncLoop>
