import http from 'node:http'

export interface ServiceContainer {
  id: string
  state: string
  startedAt: string
  restartCount: number
}

/** The machine's dockerd, as the docker CLI finds it without DOCKER_HOST. */
const DOCKER_SOCKET = '/var/run/docker.sock'

/**
 * One GET on dockerd's Engine API; undefined for a 404 (a container removed meanwhile). The tests poll
 * container state every 50 ms while they wait: through the API a poll is a request, where the docker CLI
 * was two processes, each forked from a test process of hundreds of MB.
 */
function engineGet<T>(path: string): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath: DOCKER_SOCKET, path, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (d: Buffer) => chunks.push(d))
      res.on('error', reject)
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8')
        if (res.statusCode === 404) return resolve(undefined)
        if (res.statusCode !== 200) return reject(new Error(`dockerd answered ${res.statusCode} to GET ${path}: ${body.trim()}`))
        resolve(JSON.parse(body) as T)
      })
    })
    req.on('timeout', () => req.destroy(new Error(`dockerd did not answer GET ${path} within 30 s`)))
    req.on('error', reject)
  })
}

/** The containers of one compose service, read straight from dockerd (not through the agent). */
export async function serviceContainers(project: string, service: string): Promise<ServiceContainer[]> {
  const filters = JSON.stringify({ label: [`com.docker.compose.project=${project}`, `com.docker.compose.service=${service}`] })
  const listed = (await engineGet<{ Id: string }[]>(`/containers/json?all=1&filters=${encodeURIComponent(filters)}`)) ?? []
  const inspected = await Promise.all(
    listed.map((c) => engineGet<{ Id: string; State: { Status: string; StartedAt: string }; RestartCount: number }>(`/containers/${c.Id}/json`)),
  )
  return inspected.flatMap((c) => (c ? [{ id: c.Id, state: c.State.Status, startedAt: c.State.StartedAt, restartCount: c.RestartCount }] : []))
}

/** The one running container of a service, or undefined. */
export async function runningContainer(project: string, service: string): Promise<ServiceContainer | undefined> {
  const running = (await serviceContainers(project, service)).filter((c) => c.state === 'running')
  return running.length === 1 ? running[0] : undefined
}
