import { createHmac } from 'node:crypto'
import http from 'node:http'
import { DomainError } from '../errors.js'
import type { Logger } from '../logger.js'
import { createTunnelAgents } from '../proxy/tunnel-agent.js'
import type { TunnelRegistry } from '../tunnel/tunnel-registry.js'
import { ForwardError, type LocateDevice } from '../cluster/device-channels.js'
import { AGENT_CONTROL_NAME, AGENT_CONTROL_PORT } from '../../shared/agent-protocol.js'
import { CONTROL_KEY_HEADER, CONTROL_PATHS, type CommandRequest, type CommandResult, type ControlContainerRequest, type ControlContainerResult, type ControlRestartRequest } from '../../shared/agent-wire.js'

/** The per-device control key: derived, so it survives gateway restarts without being stored. */
export function controlKeyFor(secret: Buffer, deviceUuid: string): string {
  return createHmac('sha256', secret).update(deviceUuid).digest('base64url')
}

/** Refusal codes an agent may pass through to the caller (each has its status in the error table). */
type RelayedCode = 'COMMAND_NOT_ALLOWED' | 'VALIDATION_FAILED' | 'CONTAINER_NOT_FOUND' | 'CONTAINER_AMBIGUOUS'
const RELAYED_CODES: ReadonlySet<string> = new Set<RelayedCode>(['COMMAND_NOT_ALLOWED', 'VALIDATION_FAILED', 'CONTAINER_NOT_FOUND', 'CONTAINER_AMBIGUOUS'])

/** Output the gateway accepts from an agent's answer; the agent cuts its own well below this. */
const MAX_REPLY_BYTES = 4 * 1024 * 1024

/**
 * Sends control requests to a device's agent: HTTP over `forwarded-tcpip`
 * channels to the agent's control forward. The agent decides what it runs;
 * the gateway relays and reports.
 */
export function createAgentControl(deps: { registry: TunnelRegistry; secret: Buffer; logger: Logger; locate?: LocateDevice }) {
  const agents = createTunnelAgents()

  /** This node's tunnel, or (cluster forwarding) the node holding it; the agent's control key is the same on every node. */
  async function sessionFor(deviceUuid: string) {
    const session = deps.registry.get(deviceUuid) ?? (await deps.locate?.(deviceUuid))
    if (!session) throw new DomainError('DEVICE_OFFLINE', 'the device is offline')
    if (!session.hasServiceForward(AGENT_CONTROL_NAME, AGENT_CONTROL_PORT)) {
      throw new DomainError('AGENT_NOT_CONNECTED', 'the device is online but its agent takes no commands (no control forward)')
    }
    return session
  }

  async function post<T>(deviceUuid: string, path: string, body: unknown, timeoutMs: number): Promise<{ status: number; body: T }> {
    const session = await sessionFor(deviceUuid)
    const payload = Buffer.from(JSON.stringify(body))
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          agent: agents.get(session, AGENT_CONTROL_NAME, AGENT_CONTROL_PORT),
          host: AGENT_CONTROL_NAME,
          port: AGENT_CONTROL_PORT,
          method: 'POST',
          path,
          headers: { 'content-type': 'application/json', 'content-length': payload.length, [CONTROL_KEY_HEADER]: controlKeyFor(deps.secret, deviceUuid) },
        },
        (res) => {
          const chunks: Buffer[] = []
          let size = 0
          res.on('data', (c: Buffer) => {
            size += c.length
            if (size > MAX_REPLY_BYTES) return req.destroy(new DomainError('AGENT_REPLY_TOO_LARGE', "the agent's answer is too large"))
            chunks.push(c)
          })
          res.on('end', () => {
            try {
              resolve({ status: res.statusCode ?? 502, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as T })
            } catch {
              reject(new DomainError('AGENT_BAD_REPLY', 'the agent answered with something other than JSON'))
            }
          })
        },
      )
      // A deadline of our own: channel sockets have no timers for http's `timeout` to use.
      const timer = setTimeout(() => req.destroy(new DomainError('AGENT_TIMEOUT', 'the agent did not answer in time')), timeoutMs)
      req.on('close', () => clearTimeout(timer))
      req.on('error', (err) => {
        if (err instanceof DomainError) return reject(err)
        // The owning node said the device no longer forwards the agent's control port.
        if (err instanceof ForwardError && err.code === 'SERVICE_NOT_CONNECTED') return reject(new DomainError('AGENT_NOT_CONNECTED', 'the device is online but its agent takes no commands (no control forward)'))
        deps.logger.debug({ err: err.message, device: session.device.device_id ?? session.device.id, path }, 'agent control request failed')
        reject(new DomainError('AGENT_UNREACHABLE', 'the agent could not be reached through the tunnel'))
      })
      req.end(payload)
    })
  }

  /**
   * Refusals the agent may pass on to the caller keep their code (and so its status from the table);
   * anything else a device says becomes AGENT_ERROR, so a compromised device cannot choose the answer.
   */
  function relay<T>(reply: { status: number; body: T }): T {
    if (reply.status >= 400) {
      const { error, code } = reply.body as { error?: unknown; code?: unknown }
      const message = typeof error === 'string' ? error.slice(0, 500) : 'the agent refused'
      throw new DomainError(typeof code === 'string' && RELAYED_CODES.has(code) ? (code as RelayedCode) : 'AGENT_ERROR', message)
    }
    return reply.body
  }

  return {
    async runCommand(deviceUuid: string, request: CommandRequest): Promise<CommandResult> {
      return relay(await post<CommandResult>(deviceUuid, CONTROL_PATHS.command, request, (request.timeout_seconds + 15) * 1000))
    },
    async restart(deviceUuid: string, request: ControlRestartRequest): Promise<Record<string, unknown>> {
      return relay(await post<Record<string, unknown>>(deviceUuid, CONTROL_PATHS.restart, request, 120_000))
    },
    /** Restarts, stops or starts one compose service's containers; the agent finds them by service label. */
    async container(deviceUuid: string, request: ControlContainerRequest): Promise<ControlContainerResult> {
      return relay(await post<ControlContainerResult>(deviceUuid, CONTROL_PATHS.container, request, 120_000))
    },
    /** Asks the agent to refetch its config and software now instead of at its next heartbeat. Best effort. */
    async sync(deviceUuid: string): Promise<boolean> {
      try {
        relay(await post(deviceUuid, CONTROL_PATHS.sync, {}, 10_000))
        return true
      } catch {
        return false
      }
    },
  }
}

export type AgentControl = ReturnType<typeof createAgentControl>
