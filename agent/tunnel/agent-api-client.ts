import http from 'node:http'
import type { Duplex } from 'node:stream'
import { AGENT_API_HOST, AGENT_API_PORT } from '../../shared/agent-protocol.js'
import { asSocketLike } from '../../shared/channel-socket.js'
import type { TunnelConnection } from './tunnel-client.js'
import type { AgentRoute } from '../../shared/agent-wire.js'

export class AgentApiError extends Error {
  override name = 'AgentApiError'
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** From a 429's Retry-After: how long the gateway asked us to wait. */
    readonly retryAfterMs?: number,
  ) {
    super(message)
  }
}

const NOT_MODIFIED = Symbol('not modified')

/** Retry-After in seconds (the gateway's form) or an HTTP date; bounded, so a bad header cannot park the agent for days. */
function retryAfterMs(header: string | undefined): number {
  const seconds = Number(header)
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header ?? '') - Date.now()
  return Math.min(Math.max(Number.isFinite(ms) ? ms : 1000, 100), 300_000)
}

/** An http.Agent whose connections are `direct-tcpip` channels to the gateway's agent API, inside one tunnel connection. */
class TunnelApiAgent extends http.Agent {
  constructor(readonly connection: TunnelConnection) {
    // Idle channels close before the gateway's 65 s keep-alive timeout would cut them under a request.
    super({ keepAlive: true, maxSockets: 8, timeout: 30_000 })
  }

  override createConnection(_options: unknown, callback: (err: Error | null, socket?: Duplex) => void): undefined {
    this.connection.openApiChannel().then(
      (channel) => callback(null, asSocketLike(channel)),
      (err: Error) => callback(err),
    )
    return undefined
  }
}

/**
 * JSON calls to the gateway's agent API through the current tunnel. The
 * gateway knows the device from the tunnel, so requests carry no credential.
 */
export function createAgentApiClient(deps: { connection: () => TunnelConnection | undefined }) {
  const agents = new WeakMap<TunnelConnection, TunnelApiAgent>()
  // After a 429 every call waits out the gateway's Retry-After here, without touching the wire.
  let blockedUntil = 0

  function agentFor(connection: TunnelConnection): TunnelApiAgent {
    let agent = agents.get(connection)
    if (!agent) agents.set(connection, (agent = new TunnelApiAgent(connection)))
    return agent
  }

  function request<T>(method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs = 30_000, headers: Record<string, string> = {}): Promise<T> {
    const connection = deps.connection()
    if (!connection) return Promise.reject(new AgentApiError(0, 'TUNNEL_DOWN', 'the tunnel is down'))
    const wait = blockedUntil - Date.now()
    if (wait > 0) return Promise.reject(new AgentApiError(429, 'RATE_LIMITED', 'backing off after the gateway limited this device', wait))
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          agent: agentFor(connection),
          host: AGENT_API_HOST,
          port: AGENT_API_PORT,
          method,
          path,
          headers: { ...headers, ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('error', reject)
          res.on('end', () => {
            let parsed: Record<string, unknown> = {}
            try {
              parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'))
            } catch {
              // Answered below by status.
            }
            const status = res.statusCode ?? 0
            if (status === 304) return resolve(NOT_MODIFIED as T)
            if (status >= 200 && status < 300) return resolve(parsed as T)
            if (status === 429) {
              const wait = retryAfterMs(res.headers['retry-after'])
              blockedUntil = Math.max(blockedUntil, Date.now() + wait)
              return reject(new AgentApiError(429, String(parsed.code ?? 'RATE_LIMITED'), String(parsed.error ?? 'rate limited'), wait))
            }
            reject(new AgentApiError(status, String(parsed.code ?? 'HTTP_ERROR'), String(parsed.error ?? `agent API answered ${status}`)))
          })
        },
      )
      // Our own timer: a channel's socket timeouts are idle timers, not request deadlines.
      const timer = setTimeout(() => req.destroy(new AgentApiError(0, 'TIMEOUT', `agent API call ${path} timed out`)), timeoutMs)
      req.on('close', () => clearTimeout(timer))
      req.on('error', reject)
      req.end(payload)
    })
  }

  /**
   * Streams a binary answer (the agent executable) into `write`; rejects on a
   * non-2xx status with the gateway's code, or once more than `maxBytes` arrive.
   */
  function download(path: string, write: (chunk: Buffer) => void, maxBytes: number, timeoutMs = 600_000): Promise<number> {
    const connection = deps.connection()
    if (!connection) return Promise.reject(new AgentApiError(0, 'TUNNEL_DOWN', 'the tunnel is down'))
    return new Promise((resolve, reject) => {
      let received = 0
      const req = http.request({ agent: agentFor(connection), host: AGENT_API_HOST, port: AGENT_API_PORT, method: 'GET', path }, (res) => {
        const status = res.statusCode ?? 0
        if (status < 200 || status >= 300) {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.length < 64 && chunks.push(c))
          res.on('end', () => {
            let parsed: Record<string, unknown> = {}
            try {
              parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'))
            } catch {
              // Answered by status.
            }
            reject(new AgentApiError(status, String(parsed.code ?? 'HTTP_ERROR'), String(parsed.error ?? `agent API answered ${status}`)))
          })
          return
        }
        res.on('data', (c: Buffer) => {
          received += c.length
          if (received > maxBytes) return req.destroy(new AgentApiError(0, 'TOO_LARGE', `the download is larger than the ${maxBytes} bytes expected`))
          write(c)
        })
        res.on('error', reject)
        res.on('end', () => (res.complete ? resolve(received) : reject(new AgentApiError(0, 'INCOMPLETE', 'the download ended early'))))
      })
      const timer = setTimeout(() => req.destroy(new AgentApiError(0, 'TIMEOUT', `download ${path} timed out`)), timeoutMs)
      req.on('close', () => clearTimeout(timer))
      req.on('error', reject)
      req.end()
    })
  }

  /** A call typed by its route in the shared table: the body and the answer are the route's own. */
  function call<Request, Response>(route: AgentRoute<Request, Response>, ...body: Request extends undefined ? [] : [Request]): Promise<Response> {
    return request<Response>(route.method, route.path, body[0])
  }

  /** A GET of a route that answers with an ETag: undefined when the gateway says it is still `etag` (304). */
  async function callUnlessMatch<Response>(route: AgentRoute<undefined, Response>, etag: string | undefined): Promise<Response | undefined> {
    const answer = await request<Response | typeof NOT_MODIFIED>(route.method, route.path, undefined, 30_000, etag ? { 'if-none-match': etag } : {})
    return answer === NOT_MODIFIED ? undefined : answer
  }

  return { request, call, callUnlessMatch, download }
}

export type AgentApiClient = ReturnType<typeof createAgentApiClient>
