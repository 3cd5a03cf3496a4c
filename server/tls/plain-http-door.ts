import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { createFrontDoor, requestHost, type FrontDoor, type HostRoute } from '../http/front-door.js'

/**
 * The plain-HTTP listener once TLS is on:
 * - ACME HTTP-01 challenges are answered (the CA only ever asks on port 80);
 * - requests for the gateway's own names (the console host and everything
 *   under the base domain) are redirected to the same host and path over
 *   HTTPS, with 308 so API calls keep their method and body;
 * - requests addressed otherwise (an IP address: health checks, tools on the
 *   host) reach the usual front door, since no certificate could match them.
 */
export function createPlainHttpDoor(deps: { challengeRoute: HostRoute; servesHost: (host: string) => boolean; httpsPort: () => number; fallback: FrontDoor }): FrontDoor {
  function location(req: IncomingMessage): string {
    const port = deps.httpsPort()
    const path = req.url?.startsWith('/') ? req.url : '/'
    return `https://${requestHost(req)}${port === 443 ? '' : `:${port}`}${path}`
  }

  const redirect: HostRoute = {
    matches: (host) => deps.servesHost(host),
    handleRequest(req: IncomingMessage, res: ServerResponse) {
      const target = location(req)
      res.writeHead(308, { Location: target, 'Content-Type': 'text/plain' }).end(`moved to ${target}\n`)
    },
    handleUpgrade(req: IncomingMessage, socket: Duplex) {
      socket.end(`HTTP/1.1 308 Permanent Redirect\r\nLocation: ${location(req)}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
    },
  }

  return createFrontDoor({ consoleApp: deps.fallback.handleRequest, consoleUpgrade: deps.fallback.handleUpgrade, routes: [deps.challengeRoute, redirect] })
}
