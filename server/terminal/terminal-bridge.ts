import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer } from 'ws'
import type { AuditLog } from '../audit/audit-log.js'
import type { Authenticator } from '../auth/authenticator.js'
import type { LiveAccess } from '../auth/live-access.js'
import { roleAllows } from '../auth/roles.js'
import type { DeviceStore } from '../devices/device-store.js'
import type { Logger } from '../logger.js'
import type { TunnelRegistry } from '../tunnel/tunnel-registry.js'
import type { LocateDevice } from '../cluster/device-channels.js'
import type { HostKey } from '../tunnel/host-key.js'
import { runTerminal } from './terminal-session.js'
import { isDatabaseUnavailable } from '../db/database-errors.js'
import { statusOf, type ErrorCode } from '../error-codes.js'

const terminalPath = /^\/api\/devices\/([^/]+)\/terminal$/
const containerPattern = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/

function refuse(socket: Duplex, code: ErrorCode, reason: string) {
  const status = statusOf(code)
  const body = JSON.stringify({ error: reason, code })
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
}

/**
 * `/api/devices/:id/terminal`: operators and admins open a shell on a device
 * (or in one of its containers) from the console. Authenticated by the
 * console cookie only, so no credential ends up in a URL or a log; the
 * Origin must be one of our hosts, so another site cannot open it.
 */
export function createTerminalBridge(deps: {
  authenticator: Authenticator
  devices: DeviceStore
  registry: TunnelRegistry
  /** Cluster forwarding: a device another gateway node holds is reached through it. */
  locate?: LocateDevice
  auditLog: AuditLog
  /** Ends open terminals when their user's access ends (logout, disable, demotion, new password). */
  liveAccess: LiveAccess
  terminalKey: HostKey
  user: string
  idleSeconds: number
  /** How often the gateway pings the browser (30 s), below the idle cut of proxies in between. */
  pingSeconds?: number
  logger: Logger
}) {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 })
  const open = new Set<import('ws').WebSocket>()

  async function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
    // A path URL cannot parse (`//x[`) or decode (`%ZZ`) is the client's mistake, answered before any lookup.
    let url: URL
    let deviceRef: string
    try {
      url = new URL(req.url ?? '/', 'http://gateway')
      const match = terminalPath.exec(url.pathname)
      if (!match) return refuse(socket, 'NOT_FOUND', 'Not Found')
      deviceRef = decodeURIComponent(match[1]!)
    } catch {
      return refuse(socket, 'BAD_REQUEST', 'Bad Request')
    }
    const origin = req.headers.origin
    if (!origin || !deps.authenticator.isConsoleOrigin(origin)) return refuse(socket, 'FORBIDDEN', 'Forbidden')
    const user = await deps.authenticator.authenticateHeaders({ cookie: req.headers.cookie })
    if (!user) return refuse(socket, 'UNAUTHORIZED', 'Unauthorized')
    if (!roleAllows(user.role, 'operator')) return refuse(socket, 'FORBIDDEN', 'Forbidden')
    const container = url.searchParams.get('container') ?? undefined
    if (container !== undefined && !containerPattern.test(container)) return refuse(socket, 'BAD_REQUEST', 'Bad Request')
    const device = await deps.devices.find(deviceRef)
    if (!device) return refuse(socket, 'DEVICE_NOT_FOUND', 'Not Found')
    // Looked up before the handshake: a device another node holds is found through the database.
    const located = deps.registry.get(device.id) ?? (await deps.locate?.(device.id))
    const cols = clamp(url.searchParams.get('cols'), 80)
    const rows = clamp(url.searchParams.get('rows'), 24)

    wss.handleUpgrade(req, socket, head, (ws) => {
      open.add(ws)
      ws.on('close', () => open.delete(ws))
      const session = located && !located.closed ? located : undefined
      const started = new Date()
      const audit = (action: string, details: Record<string, unknown>) =>
        deps.auditLog
          .record({ actorUserId: user.id, actor: user.username, action, targetType: 'device', targetId: device.id, details: { device_id: device.device_id, container, ...details }, ip: req.socket.remoteAddress ?? null })
          .catch((err) => deps.logger.error({ err }, 'could not audit terminal session'))
      if (!session) {
        ws.send(JSON.stringify({ type: 'exit', code: 1, reason: 'the device is offline' }))
        ws.close(1000, 'device offline')
        return
      }
      void audit('terminal.open', {})
      const revoked = new AbortController()
      const cookie = req.headers.cookie
      const untrack = deps.liveAccess.track({
        user,
        requiredRole: 'operator',
        reverify: () => deps.authenticator.authenticateHeaders({ cookie }),
        close: (reason) => revoked.abort(reason),
      })
      runTerminal(ws, session, {
        user: deps.user,
        privateKey: deps.terminalKey.privateKey,
        container,
        deviceId: device.device_id,
        cols,
        rows,
        idleSeconds: deps.idleSeconds,
        pingSeconds: deps.pingSeconds ?? 30,
        signal: revoked.signal,
      }).then((end) => {
        untrack()
        void audit('terminal.close', { duration_seconds: Math.round((Date.now() - started.getTime()) / 1000), exit_code: end.code, reason: end.reason })
      })
    })
  }

  return {
    handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
      socket.on('error', () => socket.destroy())
      handleUpgrade(req, socket, head).catch((err) => {
        // Past the parsing above, what can fail is the database: a documented 503, never a 500.
        if (!isDatabaseUnavailable(err)) deps.logger.error({ err }, 'terminal upgrade failed')
        refuse(socket, 'DATABASE_UNAVAILABLE', 'Service Unavailable')
      })
    },
    close() {
      for (const ws of open) ws.terminate()
      wss.close()
    },
  }
}

function clamp(value: string | null, fallback: number): number {
  const n = Number(value)
  return Number.isInteger(n) && n >= 2 && n <= 1000 ? n : fallback
}
