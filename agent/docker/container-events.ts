import { createInterface } from 'node:readline'
import type { Logger } from '../agent-logger.js'
import { createBackoff } from '../tunnel/backoff.js'
import { MANAGED_LABEL, LEGACY_OWNER } from './containers.js'
import type { DockerCli } from './docker-cli.js'

/** Failed starts in a row before the agent says so at warn level: a dockerd that restarts fails a few times, and that is no news. */
export const FAILURES_BEFORE_WARNING = 5

/**
 * What a container event can change in what the agent reports: its state, its health, its name, its
 * existence. `exec_*` (every terminal session runs one), `attach`, `resize`, `top` and `copy` change none.
 */
const STATE_ACTIONS = new Set(['create', 'start', 'restart', 'die', 'destroy', 'pause', 'unpause', 'rename', 'update', 'oom', 'kill', 'stop'])

/**
 * The action (`start`, `die`, `health_status: healthy`…) and container id when one line of `docker events --format
 * '{{json .}}'` is a state change of a container this agent owns (its managed label holds the device id,
 * or `true` from earlier agents). Anything else, including a line that is not such JSON at all, gives
 * undefined: the worst an odd line can do is not wake the watch.
 */
export function ownStateChange(line: string, owner: string): { action: string; id: string } | undefined {
  let event: unknown
  try {
    event = JSON.parse(line)
  } catch {
    return undefined
  }
  if (!event || typeof event !== 'object') return undefined
  const { Type, Action, Actor } = event as { Type?: unknown; Action?: unknown; Actor?: { ID?: unknown; Attributes?: Record<string, unknown> } }
  if (Type !== 'container' || typeof Action !== 'string') return undefined
  if (!STATE_ACTIONS.has(Action) && !Action.startsWith('health_status')) return undefined
  const value = Actor && typeof Actor === 'object' && Actor.Attributes && typeof Actor.Attributes === 'object' ? Actor.Attributes[MANAGED_LABEL] : undefined
  if (value !== owner && value !== LEGACY_OWNER) return undefined
  return { action: Action, id: typeof Actor!.ID === 'string' ? Actor!.ID : '' }
}

/**
 * Follows `docker events` for the agent's containers, so the watch looks when something changes instead
 * of asking docker every few seconds: on a small device each `docker ps` costs a process start, and a
 * crash is now reported as it happens. `onChange` runs for each state change of an own container, and
 * once whenever the stream (re)starts, since changes may have happened while it was down. The stream is
 * restarted with backoff when it ends (dockerd restarting, docker missing); `live` says whether it runs,
 * and while it does not, the watch falls back to looking on its timer.
 */
export function followContainerEvents(deps: {
  docker: DockerCli
  owner: string
  /** `action` is docker's (`start`, `die`…) and `id` the container's, or `stream started` with no id. */
  onChange(change: { action: string; id?: string }): void
  onLiveChange(live: boolean): void
  logger: Logger
  /** How long the stream must run before it counts as up (docker exits at once when it cannot reach the daemon). */
  settleMs?: number
  retry?: { baseMs: number; capMs: number }
}) {
  const settleMs = deps.settleMs ?? 500
  const backoff = createBackoff(deps.retry ?? { baseMs: 1000, capMs: 60_000 })
  let live = false
  let closed = false
  /** Starts in a row that never came up; at FAILURES_BEFORE_WARNING the operator is told, once, until one does. */
  let failedStarts = 0
  let stop: (() => void) | undefined
  let retryTimer: NodeJS.Timeout | undefined

  function setLive(value: boolean) {
    if (live === value) return
    live = value
    deps.onLiveChange(value)
  }

  function startFailed(detail: Record<string, unknown>) {
    failedStarts++
    if (failedStarts === FAILURES_BEFORE_WARNING) {
      deps.logger.warn({ ...detail, failed_starts: failedStarts }, 'docker events keeps failing to start: the agent looks at its containers on its timer until it runs')
    } else {
      deps.logger.debug(detail, 'docker events could not start; looking at containers on the timer')
    }
    retryLater()
  }

  function retryLater() {
    setLive(false)
    if (closed) return
    retryTimer = setTimeout(() => void open(), backoff.next())
  }

  async function open(): Promise<void> {
    if (closed) return
    let child: Awaited<ReturnType<DockerCli['spawn']>>['child']
    try {
      ;({ child } = await deps.docker.spawn(['events', '--filter', 'type=container', '--filter', `label=${MANAGED_LABEL}`, '--format', '{{json .}}']))
    } catch (err) {
      return startFailed({ err: (err as Error).message })
    }
    if (closed) return void child.kill()
    const startedAt = Date.now()
    let cameUp = false
    const settle = setTimeout(() => {
      cameUp = true
      if (failedStarts >= FAILURES_BEFORE_WARNING) deps.logger.info({ failed_starts: failedStarts }, 'docker events runs again')
      failedStarts = 0
      setLive(true)
      deps.onChange({ action: 'stream started' })
    }, settleMs)
    stop = () => {
      clearTimeout(settle)
      child.kill()
    }
    // What docker says when it exits at once ("Cannot connect to the Docker daemon at …"): the last of it, for the log.
    let stderrTail = ''
    child.stderr?.on('data', (chunk: Buffer) => (stderrTail = (stderrTail + chunk.toString('utf8')).slice(-500)))
    if (child.stdout) {
      createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (line) => {
        // Before the stream counts as up, the look that follows settling sees what these lines say.
        const change = live ? ownStateChange(line, deps.owner) : undefined
        if (change) deps.onChange(change)
      })
    }
    void child.then(
      (r) => ended(r.exitCode),
      () => ended(undefined),
    )
    function ended(exitCode: number | undefined) {
      clearTimeout(settle)
      stop = undefined
      if (closed) return
      // A stream that ran a while was fine: the next failure starts the backoff from its base again.
      if (Date.now() - startedAt > 30_000) backoff.reset()
      // Docker exits at once when it cannot reach the daemon: that is a start that failed, not a stream that ended.
      if (!cameUp) return startFailed({ exitCode, stderr: stderrTail.trim().split('\n').pop() })
      deps.logger.debug({ exitCode }, 'docker events ended; it is started again after a pause')
      retryLater()
    }
  }

  return {
    start(): void {
      void open()
    },
    get live() {
      return live
    },
    close(): void {
      closed = true
      clearTimeout(retryTimer)
      stop?.()
      live = false
    },
  }
}

export type ContainerEvents = ReturnType<typeof followContainerEvents>
