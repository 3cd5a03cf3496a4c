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

  return {
    /** Looks once; returns the containers seen (the log collector reads them too). */
    async check(): Promise<ContainerInfo[]> {
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
      deps.report(events)
      return now
    },
    /** The containers as last seen, for heartbeats. */
    get latest(): ContainerInfo[] {
      return latest
    },
  }
}

export type ContainerWatch = ReturnType<typeof createContainerWatch>
