import { createEngineApi, DEFAULT_DOCKER_HOST } from '../../agent/docker/engine-api.js'

export interface ServiceContainer {
  id: string
  state: string
  startedAt: string
  restartCount: number
}

/**
 * The machine's dockerd through the agent's own Engine API reader. The tests poll container state every
 * 50 ms while they wait: a poll is a request, where the docker CLI was two processes, each forked from a
 * test process of hundreds of MB.
 */
const engine = createEngineApi(DEFAULT_DOCKER_HOST)

/** The containers of one compose service, read straight from dockerd (not through the agent). */
export async function serviceContainers(project: string, service: string): Promise<ServiceContainer[]> {
  const filters = JSON.stringify({ label: [`com.docker.compose.project=${project}`, `com.docker.compose.service=${service}`] })
  const listed = (await engine.get<{ Id: string }[]>(`/containers/json?all=1&filters=${encodeURIComponent(filters)}`)) ?? []
  const inspected = await Promise.all(
    listed.map((c) => engine.get<{ Id: string; State: { Status: string; StartedAt: string }; RestartCount: number }>(`/containers/${c.Id}/json`)),
  )
  return inspected.flatMap((c) => (c ? [{ id: c.Id, state: c.State.Status, startedAt: c.State.StartedAt, restartCount: c.RestartCount }] : []))
}

/** The one running container of a service, or undefined. */
export async function runningContainer(project: string, service: string): Promise<ServiceContainer | undefined> {
  const running = (await serviceContainers(project, service)).filter((c) => c.state === 'running')
  return running.length === 1 ? running[0] : undefined
}
