import http from 'node:http'
import type { Duplex } from 'node:stream'
import { asSocketLike } from '../../shared/channel-socket.js'
import { AGENT_API_HOST, AGENT_API_PORT } from '../../shared/agent-protocol.js'
import type { HttpClient } from './http-client.js'
import { newKeyPair } from './keys.js'
import { connectSsh2Device, type Ssh2Device } from './ssh2-device.js'

interface Teardown {
  teardown(fn: () => Promise<void> | void): void
}

export interface AgentApiReply {
  status: number
  headers: http.IncomingHttpHeaders
  text: string
  body: any
}

export interface AgentApiDevice {
  device: Ssh2Device
  /** The registration answer: id (uuid), device_id, … */
  registration: Record<string, any>
  /** One raw request to the agent API through a fresh direct-tcpip channel; the body goes as given (bytes, so anything). */
  request(method: string, path: string, body?: Buffer | string, headers?: Record<string, string>): Promise<AgentApiReply>
  json(method: string, path: string, body?: unknown): Promise<AgentApiReply>
}

/**
 * A device that registers with a token and then speaks the agent API by
 * hand, as a compromised or buggy agent might: raw HTTP over direct-tcpip
 * channels to edgetainer-api:80 inside its authenticated tunnel.
 */
export async function connectAgentApiDevice(t: Teardown, options: { http: HttpClient; token: string; sshPort: number; hostPublicKey: string }): Promise<AgentApiDevice> {
  const key = newKeyPair('agent-api-device')
  const reg = await options.http.post('/api/provision/register', { token: options.token, public_key: key.publicKey })
  if (reg.status !== 201 && reg.status !== 200) throw new Error(`register: ${reg.status} ${JSON.stringify(reg.body)}`)
  const device = await connectSsh2Device(t, { port: options.sshPort, hostPublicKey: options.hostPublicKey, deviceId: reg.body.device_id, key })

  function request(method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<AgentApiReply> {
    const payload = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body)
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: AGENT_API_HOST,
          port: AGENT_API_PORT,
          method,
          path,
          headers: { connection: 'close', ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}), ...headers },
          createConnection: (_opts: unknown, done: (err: Error | null, socket?: Duplex) => void) => {
            device.client.forwardOut('127.0.0.1', 0, AGENT_API_HOST, AGENT_API_PORT, (err, channel) => (err ? done(err) : done(null, asSocketLike(channel))))
            return undefined
          },
        } as http.RequestOptions,
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('error', reject)
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8')
            let parsed: unknown
            try {
              parsed = JSON.parse(text)
            } catch {
              parsed = undefined
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body: parsed })
          })
        },
      )
      req.setTimeout(20_000, () => req.destroy(new Error(`agent API ${method} ${path} timed out`)))
      req.on('error', reject)
      req.end(payload)
    })
  }

  return {
    device,
    registration: reg.body,
    request,
    json: (method, path, body) => request(method, path, body === undefined ? undefined : JSON.stringify(body)),
  }
}
