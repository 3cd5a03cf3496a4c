import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void

/** Something that claims requests for some hosts (the subdomain proxy) or paths (ACME challenges). */
export interface HostRoute {
  /** True when this route answers the request; checked in order, before the console. */
  matches(host: string, req: IncomingMessage): boolean
  /** `host`: requestHost(req), already worked out to match the route. */
  handleRequest(req: IncomingMessage, res: ServerResponse, host: string): void
  handleUpgrade?: UpgradeHandler
}

/** `Host: a.b.localhost:8080` → `a.b.localhost` */
export function requestHost(req: IncomingMessage): string {
  const raw = req.headers.host ?? ''
  const host = raw.startsWith('[') ? raw.slice(0, raw.indexOf(']') + 1) : raw.split(':')[0]!
  return host.toLowerCase().replace(/\.$/, '')
}

/**
 * The one request handler behind the HTTP and HTTPS listeners. Routes claim
 * requests first (ACME challenges, device subdomains); everything else goes to
 * the console app, which serves the API and the console on the console host.
 */
export function createFrontDoor(deps: { consoleApp: RequestHandler; consoleUpgrade?: UpgradeHandler; routes: HostRoute[] }) {
  const { routes } = deps

  function handleRequest(req: IncomingMessage, res: ServerResponse) {
    const host = requestHost(req)
    const route = routes.find((r) => r.matches(host, req))
    if (route) route.handleRequest(req, res, host)
    else deps.consoleApp(req, res)
  }

  function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
    socket.on('error', () => socket.destroy())
    const host = requestHost(req)
    const route = routes.find((r) => r.matches(host, req))
    const handler = route ? route.handleUpgrade : deps.consoleUpgrade
    if (handler) handler(req, socket, head)
    else socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
  }

  return { handleRequest, handleUpgrade }
}

export type FrontDoor = ReturnType<typeof createFrontDoor>
