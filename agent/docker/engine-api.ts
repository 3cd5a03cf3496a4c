import http from 'node:http'

/** Where dockerd listens when neither the agent's `docker_host` nor DOCKER_HOST says otherwise. */
export const DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock'

/** The dockerd the agent talks to: its `docker_host` setting, else a unix-socket DOCKER_HOST, else the default socket. */
export function resolveDockerHost(configured: string | undefined, env: NodeJS.ProcessEnv): string {
  if (configured) return configured
  return env.DOCKER_HOST?.startsWith('unix:///') ? env.DOCKER_HOST : DEFAULT_DOCKER_HOST
}

/** The answer to a read was more than any container or image description (a misbehaving socket). */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024

export class EngineApiError extends Error {
  override name = 'EngineApiError'
}

/**
 * Reads from dockerd's Engine API over its unix socket. The agent looks at its containers after every
 * docker event and every half second while it verifies a deploy; through the docker CLI each look was
 * two Go processes (about 10 ms of CPU each on the test machine, more on a small device), where a request
 * costs well under a millisecond. Writes (compose, start, stop) stay with the CLI, as do the long-lived `events` and
 * `logs` streams.
 */
export function createEngineApi(host: string) {
  const socketPath = host.replace(/^unix:\/\//, '')
  // A connection per request, as each docker command was. Node 20's default agent keeps connections open
  // and reuses them, and a request sent on one that dockerd is closing fails with ECONNRESET: a look that
  // fails so fails the deploy step that made it, which then waits for the next heartbeat. A unix-socket
  // connect costs microseconds.
  const agent = new http.Agent({ keepAlive: false })

  /** GET `path` as JSON; undefined when dockerd answers 404 (no such container or image). */
  function get<T>(path: string, timeoutMs = 30_000): Promise<T | undefined> {
    return new Promise((resolve, reject) => {
      const req = http.get({ socketPath, path, agent, timeout: timeoutMs, headers: { host: 'docker' } }, (res) => {
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (d: Buffer) => {
          size += d.length
          if (size > MAX_ANSWER_BYTES) return req.destroy(new EngineApiError(`dockerd's answer to GET ${path} passed ${MAX_ANSWER_BYTES} bytes`))
          chunks.push(d)
        })
        res.on('error', reject)
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8')
          if (res.statusCode === 404) return resolve(undefined)
          if (res.statusCode !== 200) return reject(new EngineApiError(`dockerd answered ${res.statusCode} to GET ${path}: ${messageOf(body)}`))
          try {
            resolve(JSON.parse(body) as T)
          } catch {
            reject(new EngineApiError(`dockerd's answer to GET ${path} is not JSON`))
          }
        })
      })
      req.on('timeout', () => req.destroy(new EngineApiError(`dockerd at ${host} did not answer GET ${path} within ${timeoutMs / 1000} s`)))
      req.on('error', (err: NodeJS.ErrnoException) =>
        reject(err instanceof EngineApiError ? err : new EngineApiError(`cannot reach dockerd at ${host}: ${err.code ?? err.message}`)),
      )
    })
  }

  return { host, get }
}

/** dockerd's error answers are `{"message": "..."}`. */
function messageOf(body: string): string {
  try {
    const message = (JSON.parse(body) as { message?: unknown }).message
    if (typeof message === 'string') return message
  } catch {
    // Not JSON: say what came, shortened.
  }
  return body.trim().slice(0, 200) || 'no message'
}

export type EngineApi = ReturnType<typeof createEngineApi>
