import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { createProxyServer } from 'http-proxy-3'
import { serialize as serializeCookie } from 'cookie'
import type { Authenticator } from '../auth/authenticator.js'
import { SESSION_COOKIE } from '../auth/authenticator.js'
import type { Logger } from '../logger.js'
import { requestHost, type HostRoute } from '../http/front-door.js'
import type { TunnelRegistry } from '../tunnel/tunnel-registry.js'
import type { GatewayAddresses } from '../http/gateway-addresses.js'
import type { HandoffTickets } from '../auth/handoff-tickets.js'
import type { RouteTable } from './route-table.js'
import { createTunnelAgents } from './tunnel-agent.js'
import { refuseUpgrade, safeNext, sendProxyError } from './proxy-pages.js'
import { forwardRequest } from './request-forwarder.js'
import { createChannelPools } from './channel-pool.js'
import { normalisedHost, prepareDeviceHeaders, requestOrigin } from './proxy-headers.js'
import type { ErrorCode } from '../error-codes.js'
import { ForwardError, type DeviceChannels, type LocateDevice } from '../cluster/device-channels.js'

type Decision =
  | { ok: false; code: ErrorCode; message: string }
  | { ok: true; session: DeviceChannels; service: string; port: number; stripPrefix: string | undefined; signedInByCookie: boolean }

/** Node's own refusals of a header or a path: the client's bytes, so a 400, not a 5xx. */
const badHeaderCodes = new Set(['ERR_INVALID_CHAR', 'ERR_INVALID_HTTP_TOKEN', 'ERR_HTTP_INVALID_HEADER_VALUE', 'ERR_INVALID_ARG_TYPE', 'ERR_UNESCAPED_CHARACTERS', 'ERR_INVALID_URL'])

/** A device service that sends nothing for this long ends the request. */
const PROXY_TIMEOUT_MS = 120_000

/** What a browser is told when the node holding the device could not give a channel. */
const forwardMessages: Record<ForwardError['code'], string> = {
  FORWARD_LOOP: 'The gateway node this request reached does not hold the device tunnel, and a forwarded request is never forwarded again.',
  PEER_UNREACHABLE: 'The gateway node holding this device could not be reached. Try again shortly.',
  SERVICE_NOT_CONNECTED: 'The device is online but does not forward this service right now.',
  SERVICE_UNREACHABLE: 'The device is online, but this service did not answer.',
  DEVICE_OFFLINE: 'The device is offline. It will be reachable again when its tunnel reconnects.',
}

/**
 * Serves `<service>.<device>.<base>` and `<device>.<base>` from the devices'
 * tunnels, for plain requests and WebSocket upgrades alike.
 */
export function createSubdomainProxy(deps: {
  routes: RouteTable
  registry: TunnelRegistry
  authenticator: Authenticator
  urls: GatewayAddresses
  consoleHost: string
  handoff: HandoffTickets
  logger: Logger
  /** Cluster forwarding: finds a device another gateway node holds (unset: this node's tunnels only). */
  locate?: LocateDevice
}): HostRoute {
  const { routes, registry, authenticator, urls, logger } = deps
  // Plain requests use kept-alive channels of their own (request-forwarder.ts); WebSocket upgrades go through http-proxy-3.
  const pools = createChannelPools()
  const agents = createTunnelAgents()
  // WebSocket upgrades only (plain requests go through forwardRequest).
  // xfwd off: http-proxy would append to the client's X-Forwarded-* claims; prepareDeviceHeaders replaces them.
  // toProxy: the path goes to the device as the client sent it. Otherwise http-proxy re-parses it as a WHATWG URL,
  // which turns `\` into `/`, percent-encodes `<`, and throws on `/\x`.
  const proxy = createProxyServer({ xfwd: false, ws: true, toProxy: true, proxyTimeout: PROXY_TIMEOUT_MS })

  /** Client sockets already switched to WebSocket: an error there ends the stream, it cannot become a 502 page. */
  const upgraded = new WeakSet<Duplex>()

  /** Why the device's side failed, for a request (a 502 page) or an upgrade (a 502 line, or the end of the stream). */
  function answerForwardError(err: Error, req: IncomingMessage, res: ServerResponse | Duplex) {
    logger.debug({ err: err.message, host: req.headers.host }, 'device service did not answer')
    // A forwarded channel the owning node refused keeps its reason (FORWARD_LOOP, SERVICE_NOT_CONNECTED, ...); all are 502.
    const code = err instanceof ForwardError ? err.code : 'SERVICE_UNREACHABLE'
    const message = err instanceof ForwardError ? forwardMessages[err.code] : 'The device is online, but this service did not answer.'
    if ('writeHead' in res) sendProxyError(req, res as ServerResponse, code, message)
    else if (upgraded.has(res as Duplex) || (res as Duplex).destroyed) (res as Duplex).destroy()
    else refuseUpgrade(res as Duplex, code)
  }
  proxy.on('error', (err, req, res) => answerForwardError(err, req, res))
  // http-proxy only half-closes the channel when the client goes, and opens it even if the client is already gone:
  // tie both ends together so a dropped client never leaves a channel open in the device's tunnel.
  proxy.on('proxyReqWs', (proxyReq, _req, socket) => {
    const abort = () => proxyReq.destroy()
    if (socket.destroyed) return abort()
    socket.once('close', abort)
    proxyReq.once('upgrade', (_res, channel) => {
      socket.off('close', abort)
      upgraded.add(socket)
      channel.on('error', () => channel.destroy())
      if (socket.destroyed) return channel.destroy()
      socket.once('close', () => channel.destroy())
      channel.once('close', () => socket.destroy())
    })
  })

  async function decide(req: IncomingMessage, host: string): Promise<Decision> {
    const resolution = await routes.resolve(host, req.url ?? '/')
    if (resolution.kind !== 'route') return { ok: false, code: 'NOT_FOUND', message: 'There is no service at this address.' }
    const { device, service } = resolution
    let signedInByCookie = false
    if (service.auth_required) {
      const user = await authenticator.authenticateHeaders({ authorization: req.headers.authorization, cookie: req.headers.cookie }, { deviceHost: host })
      if (!user) return { ok: false, code: 'UNAUTHORIZED', message: 'This service needs a console sign-in or an API token.' }
      // The authenticator prefers a Bearer header; without one it was the cookie, i.e. a browser.
      signedInByCookie = !/^Bearer\s+\S+$/i.test(req.headers.authorization ?? '')
    }
    const session = registry.get(device.id) ?? (await deps.locate?.(device.id))
    if (!session) return { ok: false, code: 'DEVICE_OFFLINE', message: 'The device is offline. It will be reachable again when its tunnel reconnects.' }
    if (!session.hasServiceForward(service.container_name, service.internal_port)) {
      return { ok: false, code: 'SERVICE_NOT_CONNECTED', message: 'The device is online but does not forward this service right now.' }
    }
    return {
      ok: true,
      session,
      service: service.container_name,
      port: service.internal_port,
      stripPrefix: resolution.stripPrefix,
      signedInByCookie,
    }
  }

  /**
   * The decision without waiting, when everything it needs is at hand: a loaded route to a service without
   * sign-in, on a device whose tunnel this node holds. Undefined sends the request the long way (decide).
   * Most proxied requests are these, and each promise they skip is CPU on the gateway's busiest path.
   */
  function decideNow(req: IncomingMessage, host: string): Extract<Decision, { ok: true }> | undefined {
    const resolution = routes.resolveNow(host, req.url ?? '/')
    if (resolution?.kind !== 'route' || resolution.service.auth_required) return undefined
    const { device, service } = resolution
    const session = registry.get(device.id)
    if (!session || !session.hasServiceForward(service.container_name, service.internal_port)) return undefined
    return { ok: true, session, service: service.container_name, port: service.internal_port, stripPrefix: resolution.stripPrefix, signedInByCookie: false }
  }

  /** Decides, or answers why not: a lookup that fails (the database is down) is a 503, never a crash. */
  async function decideSafely(req: IncomingMessage, host: string): Promise<Decision> {
    try {
      return await decide(req, host)
    } catch (err) {
      logger.error({ err }, 'proxy routing failed')
      return { ok: false, code: 'ROUTING_UNAVAILABLE', message: 'The gateway cannot look up this address right now. Try again shortly.' }
    }
  }

  function prepare(req: IncomingMessage, host: string, decision: Extract<Decision, { ok: true }>) {
    if (decision.stripPrefix) {
      const rest = (req.url ?? '/').slice(decision.stripPrefix.length)
      req.url = rest.startsWith('/') ? rest : `/${rest}`
    }
    prepareDeviceHeaders(req, normalisedHost(host, req.headers.host), decision.stripPrefix)
  }

  /** A browser's WebSocket to a signed-in service must come from a page on that very host (scheme, host and port). */
  function originAllowed(req: IncomingMessage, host: string): boolean {
    const origin = req.headers.origin?.toLowerCase()
    if (!origin) return false
    return origin === urls.origin(host) || origin === requestOrigin(req, normalisedHost(host, req.headers.host))
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
    if (!token) return sendProxyError(req, res, 'HANDOFF_INVALID', 'This sign-in link has expired or was already used. Open the service again.')
    const secure = Boolean((req.socket as { encrypted?: boolean }).encrypted)
    res.writeHead(302, {
      'Set-Cookie': serializeCookie(SESSION_COOKIE, token, { httpOnly: true, sameSite: 'lax', secure, path: '/' }),
      // Only a path on this same host: never an open redirect.
      Location: safeNext(url.searchParams.get('next')),
      'Cache-Control': 'no-store',
    })
    res.end()
  }

  async function serveRequest(req: IncomingMessage, res: ServerResponse, host: string) {
    const decision = await decideSafely(req, host)
    if (res.destroyed) return
    if (!decision.ok) {
      if (decision.code === 'UNAUTHORIZED' && (req.headers.accept ?? '').includes('text/html')) return loginRedirect(req, res, host)
      return sendProxyError(req, res, decision.code, decision.message)
    }
    forward(req, res, host, decision)
  }

  function forward(req: IncomingMessage, res: ServerResponse, host: string, decision: Extract<Decision, { ok: true }>) {
    prepare(req, host, decision)
    try {
      const pool = pools.get(decision.session, decision.service, decision.port)
      forwardRequest(req, res, { pool, timeoutMs: PROXY_TIMEOUT_MS, onError: (err) => answerForwardError(err, req, res) })
    } catch (err) {
      // http.request refuses some header bytes Node's parser let in: the client's doing, so a 400.
      const code = (err as NodeJS.ErrnoException).code ?? ''
      logger.debug({ err: (err as Error).message, code }, 'proxy refused a request')
      if (badHeaderCodes.has(code)) sendProxyError(req, res, 'BAD_HEADER', 'The request carries a header or path that cannot be passed on.')
      else sendProxyError(req, res, 'SERVICE_UNREACHABLE', 'The device is online, but this service did not answer.')
    }
  }

  async function serveUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, host: string) {
    // http-proxy would drop anything else without a word; say what was wrong instead.
    if (req.method !== 'GET' || req.headers.upgrade?.toLowerCase() !== 'websocket') return refuseUpgrade(socket, 'BAD_UPGRADE')
    const decision = await decideSafely(req, host)
    if (socket.destroyed) return
    if (!decision.ok) return refuseUpgrade(socket, decision.code)
    if (decision.signedInByCookie && !originAllowed(req, host)) return refuseUpgrade(socket, 'ORIGIN_REFUSED')
    prepare(req, host, decision)
    try {
      const agent = agents.get(decision.session, decision.service, decision.port)
      proxy.ws(req, socket, head, { target: agent.target, agent })
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? ''
      logger.debug({ err: (err as Error).message, code }, 'proxy refused an upgrade')
      refuseUpgrade(socket, badHeaderCodes.has(code) ? 'BAD_HEADER' : 'SERVICE_UNREACHABLE')
    }
  }

  /** The last line of defence: whatever slipped past the handlers above ends this request, not the process. */
  function contain(what: string, end: () => void) {
    return (err: unknown) => {
      logger.error({ err }, `proxy ${what} failed`)
      try {
        end()
      } catch {
        // Nothing more to tell a client whose connection is already broken.
      }
    }
  }

  return {
    matches: (host) => host !== deps.consoleHost && routes.isDeviceHost(host),

    handleRequest(req, res, host = requestHost(req)) {
      if (req.url?.startsWith('/.edgetainer/handoff?')) {
        try {
          return landHandoff(req, res, host)
        } catch (err) {
          return contain('hand-off', () => sendProxyError(req, res, 'HANDOFF_INVALID', 'This sign-in link is malformed.'))(err)
        }
      }
      const fail = contain('request', () => sendProxyError(req, res, 'GATEWAY_ERROR', 'The gateway could not route this request.'))
      let now: Extract<Decision, { ok: true }> | undefined
      try {
        now = decideNow(req, host)
      } catch (err) {
        return fail(err)
      }
      if (!now) return void serveRequest(req, res, host).catch(fail)
      try {
        forward(req, res, host, now)
      } catch (err) {
        fail(err)
      }
    },

    handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
      // Errors on the client socket (a reset mid-handshake) are this request's end, never the process's.
      if (socket.listenerCount('error') === 0) socket.on('error', () => socket.destroy())
      serveUpgrade(req, socket, head, requestHost(req)).catch(contain('upgrade', () => socket.destroy()))
    },
  }
}
