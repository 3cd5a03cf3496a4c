import { execFileSync } from 'node:child_process'

export interface ServiceContainer {
  id: string
  state: string
  startedAt: string
  restartCount: number
}

/** The containers of one compose service, read straight from dockerd (not through the agent). */
export function serviceContainers(project: string, service: string): ServiceContainer[] {
  const ids = execFileSync(
    'docker',
    ['ps', '-aq', '--no-trunc', '--filter', `label=com.docker.compose.project=${project}`, '--filter', `label=com.docker.compose.service=${service}`],
    { encoding: 'utf8' },
  )
    .split('\n')
    .filter(Boolean)
  if (!ids.length) return []
  const inspected = JSON.parse(execFileSync('docker', ['inspect', ...ids], { encoding: 'utf8' })) as {
    Id: string
    State: { Status: string; StartedAt: string }
    RestartCount: number
  }[]
  return inspected.map((c) => ({ id: c.Id, state: c.State.Status, startedAt: c.State.StartedAt, restartCount: c.RestartCount }))
}

/** The one running container of a service, or undefined. */
export function runningContainer(project: string, service: string): ServiceContainer | undefined {
  const running = serviceContainers(project, service).filter((c) => c.state === 'running')
  return running.length === 1 ? running[0] : undefined
}
