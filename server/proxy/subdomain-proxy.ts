import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { createProxyServer } from 'http-proxy-3'
import { parse as parseCookie, serialize as serializeCookie } from 'cookie'
import type { Authenticator } from '../auth/authenticator.js'
import { SESSION_COOKIE } from '../auth/authenticator.js'
import type { Logger } from '../logger.js'
import type { HostRoute } from '../http/front-door.js'
import type { TunnelRegistry } from '../tunnel/tunnel-registry.js'
import type { PublicUrls } from './public-urls.js'
import type { HandoffTickets } from '../auth/handoff-tickets.js'
import type { RouteTable } from './route-table.js'
import { createTunnelAgents } from './tunnel-agent.js'
import { refuseUpgrade, sendProxyError } from './proxy-pages.js'

type Decision =
  | { ok: false; status: number; code: string; message: string }
  | { ok: true; agent: ReturnType<ReturnType<typeof createTunnelAgents>['get']>; stripPrefix: string | undefined; authenticatedByBearer: boolean }

/** Our session cookie is for the gateway only; a device's app never sees it. */
function stripSessionCookie(req: IncomingMessage) {
  const header = req.headers.cookie
  if (!header || !header.includes(SESSION_COOKIE)) return
  const kept = Object.entries(parseCookie(header)).filter(([name]) => name !== SESSION_COOKIE)
  if (kept.length) req.headers.cookie = kept.map(([n, v]) => serializeCookie(n, v ?? '')).join('; ')
  else delete req.headers.cookie
}

/**
 * Serves `<service>.<device>.<base>` and `<device>.<base>` from the devices'
 * tunnels, for plain requests and WebSocket upgrades alike.
 */
export function createSubdomainProxy(deps: {
  routes: RouteTable
  registry: TunnelRegistry
  authenticator: Authenticator
  urls: PublicUrls
  consoleHost: string
  handoff: HandoffTickets
  logger: Logger
}): HostRoute {
  const { routes, registry, authenticator, urls, logger } = deps
  const agents = createTunnelAgents()
  const proxy = createProxyServer({ xfwd: true, ws: true, proxyTimeout: 120_000 })

  proxy.on('error', (err, req, res) => {
    logger.debug({ err: err.message, host: req.headers.host }, 'device service did not answer')
    if ('writeHead' in res) sendProxyError(req, res as ServerResponse, 502, 'SERVICE_UNREACHABLE', 'The device is online, but this service did not answer.')
    else res.destroy()
  })

  async function decide(req: IncomingMessage, host: string): Promise<Decision> {
    const resolution = await routes.resolve(host, req.url ?? '/')
    if (resolution.kind !== 'route') return { ok: false, status: 404, code: 'NOT_FOUND', message: 'There is no service at this address.' }
    const { device, service } = resolution
    let authenticatedByBearer = false
    if (service.auth_required) {
      const user = await authenticator.authenticateHeaders({ authorization: req.headers.authorization, cookie: req.headers.cookie }, { deviceHost: host })
      if (!user) return { ok: false, status: 401, code: 'UNAUTHORIZED', message: 'This service needs a console sign-in or an API token.' }
      authenticatedByBearer = Boolean(req.headers.authorization)
    }
    const session = registry.get(device.id)
    if (!session) return { ok: false, status: 502, code: 'DEVICE_OFFLINE', message: 'The device is offline. It will be reachable again when its tunnel reconnects.' }
    if (!session.hasServiceForward(service.container_name, service.internal_port)) {
      return { ok: false, status: 502, code: 'SERVICE_NOT_CONNECTED', message: 'The device is online but does not forward this service right now.' }
    }
    return {
      ok: true,
      agent: agents.get(session, service.container_name, service.internal_port),
      stripPrefix: resolution.stripPrefix,
      authenticatedByBearer,
    }
  }

  function prepare(req: IncomingMessage, decision: Extract<Decision, { ok: true }>) {
    stripSessionCookie(req)
    // A Bearer credential that we checked was meant for us, not for the device.
    if (decision.authenticatedByBearer) delete req.headers.authorization
    if (decision.stripPrefix) {
      const rest = (req.url ?? '/').slice(decision.stripPrefix.length)
      req.url = rest.startsWith('/') ? rest : `/${rest}`
      req.headers['x-forwarded-prefix'] = decision.stripPrefix
    }
  }

  /** Browsers go to the console, which signs them in if needed and hands the session to this host. */
  function loginRedirect(req: IncomingMessage, res: ServerResponse, host: string) {
    const next = `${urls.origin(host)}${req.url ?? '/'}`
    res.writeHead(302, { Location: `${urls.consoleOrigin()}/api/auth/handoff?next=${encodeURIComponent(next)}`, 'Cache-Control': 'no-store' })
    res.end()
  }

  /** `/.edgetainer/handoff?ticket=…&next=/path`: redeem the one-time ticket into a host-only session cookie. */
  function landHandoff(req: IncomingMessage, res: ServerResponse, host: string) {
    const url = new URL(req.url ?? '/', 'http://device')
    const token = deps.handoff.redeem(url.searchParams.get('ticket') ?? '', host)
    const next = url.searchParams.get('next') ?? '/'
    if (!token) return sendProxyError(req, res, 401, 'HANDOFF_INVALID', 'This sign-in link has expired or was already used. Open the service again.')
    const secure = Boolean((req.socket as { encrypted?: boolean }).encrypted)
    res.writeHead(302, {
      'Set-Cookie': serializeCookie(SESSION_COOKIE, token, { httpOnly: true, sameSite: 'lax', secure, path: '/' }),
      // Only a path on this same host: never an open redirect.
      Location: next.startsWith('/') && !next.startsWith('//') ? next : '/',
      'Cache-Control': 'no-store',
    })
    res.end()
  }

  return {
    matches: (host) => host !== deps.consoleHost && routes.isDeviceHost(host),

    handleRequest(req, res) {
      const host = (req.headers.host ?? '').split(':')[0]!.toLowerCase()
      if (req.url?.startsWith('/.edgetainer/handoff?')) return landHandoff(req, res, host)
      decide(req, host).then(
        (decision) => {
          if (!decision.ok) {
            if (decision.status === 401 && (req.headers.accept ?? '').includes('text/html')) return loginRedirect(req, res, host)
            return sendProxyError(req, res, decision.status, decision.code, decision.message)
          }
          prepare(req, decision)
          proxy.web(req, res, { target: decision.agent.target, agent: decision.agent })
        },
        (err: Error) => {
          logger.error({ err }, 'proxy routing failed')
          sendProxyError(req, res, 502, 'GATEWAY_ERROR', 'The gateway could not route this request.')
        },
      )
    },

    handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
      const host = (req.headers.host ?? '').split(':')[0]!.toLowerCase()
      decide(req, host).then(
        (decision) => {
          if (!decision.ok) return refuseUpgrade(socket, decision.status, decision.code)
          prepare(req, decision)
          proxy.ws(req, socket, head, { target: decision.agent.target, agent: decision.agent })
        },
        () => refuseUpgrade(socket, 502, 'GATEWAY_ERROR'),
      )
    },
  }
}
