import type { ContainerInfo, Containers } from '../docker/containers.js'
import type { OutboxEventInput } from '../../shared/agent-wire.js'

/**
 * Notices the agent's containers changing state (started, exited, became
 * unhealthy, removed) and reports each change as an outbox event, so the
 * gateway learns what happened even while the device was offline.
 */
export function createContainerWatch(deps: { containers: Containers; report(events: OutboxEventInput[]): void }) {
  let known = new Map<string, ContainerInfo>()
  let latest: ContainerInfo[] = []
  /** Bumped by invalidate(); `latest` is fresh while it was looked at in the newest generation. */
  let generation = 0
  let latestGeneration = 0
  /** Looks never overlap: two would report the same change twice. */
  let looking: Promise<unknown> = Promise.resolve()

  async function look(): Promise<ContainerInfo[]> {
    const lookedIn = generation
    const now = await deps.containers.managed()
    const at = new Date().toISOString()
    const events: OutboxEventInput[] = []
    const next = new Map(now.map((c) => [c.id, c]))
    for (const c of now) {
      const before = known.get(c.id)
      if (!before || before.state !== c.state || before.health !== c.health || before.started_at !== c.started_at) {
        events.push({ kind: 'container', at, container: c.name, service: c.service, state: c.state, health: c.health, previous: before?.state ?? null })
      }
    }
    for (const [id, c] of known) {
      if (!next.has(id)) events.push({ kind: 'container', at, container: c.name, service: c.service, state: 'removed', health: null, previous: c.state })
    }
    known = next
    latest = now
    latestGeneration = lookedIn
    deps.report(events)
    return now
  }

  function check(): Promise<ContainerInfo[]> {
    const result = looking.then(look)
    looking = result.catch(() => {})
    return result
  }

  return {
    /** Looks once; returns the containers seen (the log collector reads them too). */
    check,
    /**
     * What was seen so far may predate a change the gateway now knows of (a deploy just reported
     * `running`): a heartbeat must not send the old release's last moments (the replaced container,
     * killed with 137) as the new release's health.
     */
    invalidate(): void {
      generation++
    },
    /** The containers, looked at again first when invalidated since; the last seen when docker cannot answer. */
    async fresh(): Promise<ContainerInfo[]> {
      if (latestGeneration === generation) return latest
      return check().catch(() => latest)
    },
  }
}

export type ContainerWatch = ReturnType<typeof createContainerWatch>
