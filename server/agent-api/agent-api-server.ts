import http from 'node:http'
import type { Duplex } from 'node:stream'
import express, { type Express, type Request } from 'express'
import type { ServerChannel } from 'ssh2'
import { DomainError, NotFoundError } from '../errors.js'
import { createErrorHandler } from '../http/error-handler.js'
import type { Logger } from '../logger.js'
import type { DeviceSession } from '../tunnel/device-session.js'
import type { InTunnelService } from '../tunnel/tunnel-server.js'
import { AGENT_API_HOST, AGENT_API_PORT } from '../../shared/agent-protocol.js'
import { createAgentRateLimit, type AgentRateLimitOptions } from './agent-api-rate-limit.js'

/**
 * The gateway API that agents call from inside their tunnel. It is an HTTP
 * server that never listens on a port: its only connections are the
 * `direct-tcpip` channels devices open to AGENT_API_HOST:AGENT_API_PORT, so
 * the public listener cannot reach it, and each request's device is the
 * tunnel session its channel belongs to.
 */
export function createAgentApiServer(deps: { logger: Logger; rateLimit?: AgentRateLimitOptions; mount(app: Express, sessionOf: (req: Request) => DeviceSession): void }) {
  const sessions = new WeakMap<Duplex, DeviceSession>()
  const app = express()
  app.disable('x-powered-by')
  app.disable('etag')

  function sessionOf(req: Request): DeviceSession {
    const session = sessions.get(req.socket)
    // A replaced or closed session speaks for no one any more.
    if (!session || session.closed) throw new DomainError('SESSION_CLOSED', 'this tunnel session is closed')
    return session
  }

  // Counted before the body is read: a limited device costs no parsing.
  app.use(createAgentRateLimit(sessionOf, deps.rateLimit))
  app.use(express.json({ limit: '8mb' }))
  deps.mount(app, sessionOf)
  app.use((_req, _res, next) => next(new NotFoundError('ROUTE_NOT_FOUND', 'route')))
  app.use(createErrorHandler(deps.logger))

  const server = http.createServer(app)
  // Agents keep channels open between heartbeats; close idle ones well after the agent's own idle timeout.
  server.keepAliveTimeout = 65_000
  server.headersTimeout = 70_000

  const service: InTunnelService = {
    accepts: (host, port) => host === AGENT_API_HOST && port === AGENT_API_PORT,
    handle(channel: ServerChannel, session: DeviceSession) {
      sessions.set(channel, session)
      channel.on('error', () => channel.destroy())
      server.emit('connection', channel)
    },
  }

  return {
    service,
    close(): void {
      server.closeAllConnections()
      server.close()
    },
  }
}

export type AgentApiServer = ReturnType<typeof createAgentApiServer>
