import type { TestGateway } from './test-gateway.js'
import { requestViaHost } from './device-app.js'

/**
 * Signs a browser-like client in to an auth_required device host the way the
 * console does: the console session's hand-off, then the landing on the
 * device host. Returns the host's own cookie (`edgetainer_session=…`), which
 * is valid on that host only.
 */
export async function deviceHostCookie(gw: TestGateway, host: string, consoleToken = gw.adminToken): Promise<string> {
  const port = gw.server.httpPort
  const next = `http://${host}:${port}/`
  const handoff = await requestViaHost(port, `localhost:${port}`, `/api/auth/handoff?next=${encodeURIComponent(next)}`, { cookie: `edgetainer_session=${consoleToken}` })
  if (handoff.status !== 302 || !handoff.headers.location) throw new Error(`hand-off to ${host} failed: ${handoff.status} ${handoff.body}`)
  const landing = new URL(handoff.headers.location)
  const landed = await requestViaHost(port, `${host}:${port}`, `${landing.pathname}${landing.search}`)
  const cookie = landed.headers['set-cookie']?.[0]?.split(';')[0]
  if (landed.status !== 302 || !cookie) throw new Error(`landing on ${host} failed: ${landed.status} ${landed.body}`)
  return cookie
}
