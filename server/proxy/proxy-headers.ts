import type { IncomingMessage } from 'node:http'
import { API_TOKEN_PREFIX } from '../auth/api-tokens.js'
import { SESSION_COOKIE } from '../auth/authenticator.js'

/**
 * What a device's app receives of a request: the gateway's own credentials
 * removed, the client's forwarding claims replaced by ours, and every other
 * byte as the client sent it. Device apps are untrusted, so none of this may
 * depend on them; and clients are hostile, so none of it may throw.
 */

/** The issuer our session JWTs carry (server/auth/session-tokens.ts). */
const SESSION_ISSUER = 'edgetainer'

/**
 * Removes our session cookie from a Cookie header, as text: the pairs are
 * split on `;` and only those whose trimmed name is exactly ours are dropped.
 * Everything else is kept byte for byte: a parse-and-serialise round trip
 * would re-encode the app's values (`abc+/==` → `abc%2B%2F%3D%3D`) and throws
 * on names it dislikes. Returns undefined when nothing is left.
 */
export function stripSessionCookie(header: string): string | undefined {
  if (!header.includes(SESSION_COOKIE)) return header
  const kept = header.split(';').filter((pair) => {
    const eq = pair.indexOf('=')
    return (eq === -1 ? pair : pair.slice(0, eq)).trim() !== SESSION_COOKIE
  })
  const joined = kept.join(';').replace(/^[ \t]+/, '')
  return joined.trim() === '' ? undefined : joined
}

function decodeJson(segment: string): unknown {
  try {
    return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'))
  } catch {
    return undefined
  }
}

/**
 * True for `Authorization: Bearer <one of ours>`: an API token (by its
 * prefix) or a JWT shaped like our session tokens (by its issuer). Its
 * signature does not matter here: a forged one is no more the device's
 * business than a real one. A device app's own Authorization passes.
 */
export function isGatewayBearer(header: string | undefined): boolean {
  // As loose as the authenticator's own `\s` (which takes NBSP): whatever it would accept as ours must go.
  const match = header ? /^\s*Bearer\s+(.+)$/i.exec(header) : null
  if (!match) return false
  const token = match[1]!.trim()
  if (token.startsWith(API_TOKEN_PREFIX)) return true
  const parts = token.split('.')
  if (parts.length !== 3) return false
  const payload = decodeJson(parts[1]!)
  return typeof payload === 'object' && payload !== null && (payload as { iss?: unknown }).iss === SESSION_ISSUER
}

/** `Host` as we route it: lower case, no trailing dot, and a port only when it is one. */
export function normalisedHost(hostname: string, rawHost: string | undefined): string {
  const port = /:(\d{1,5})$/.exec(rawHost ?? '')?.[1]
  return port ? `${hostname}:${Number(port)}` : hostname
}

/** The browser-visible origin of a request on this host, as an Origin header would name it. */
export function requestOrigin(req: IncomingMessage, host: string): string {
  const scheme = isEncrypted(req) ? 'https' : 'http'
  const port = /:(\d+)$/.exec(host)?.[1]
  const standard = port === undefined || (scheme === 'http' && port === '80') || (scheme === 'https' && port === '443')
  return `${scheme}://${standard ? host.replace(/:\d+$/, '') : host}`
}

function isEncrypted(req: IncomingMessage): boolean {
  return Boolean((req.socket as { encrypted?: boolean }).encrypted)
}

/** RFC 7239 `for=` value: IPv6 addresses are bracketed and quoted. */
function forwardedFor(address: string): string {
  return address.includes(':') ? `"[${address}]"` : address
}

/**
 * Replaces every forwarding header the client sent (`X-Forwarded-*`,
 * `Forwarded`, `X-Real-IP`) with the gateway's own account of the request;
 * never appends to the client's claims. `X-Forwarded-Prefix` only when path
 * routing stripped one.
 */
export function setForwardingHeaders(req: IncomingMessage, host: string, prefix: string | undefined): void {
  for (const name of Object.keys(req.headers)) {
    if (name.startsWith('x-forwarded-') || name === 'forwarded' || name === 'x-real-ip') delete req.headers[name]
  }
  const address = req.socket.remoteAddress ?? ''
  const proto = isEncrypted(req) ? 'https' : 'http'
  const port = /:(\d+)$/.exec(host)?.[1] ?? String(req.socket.localPort ?? (proto === 'https' ? 443 : 80))
  req.headers.host = host
  req.headers['x-forwarded-for'] = address
  req.headers['x-forwarded-host'] = host
  req.headers['x-forwarded-proto'] = proto
  req.headers['x-forwarded-port'] = port
  if (prefix) req.headers['x-forwarded-prefix'] = prefix
  req.headers.forwarded = `for=${forwardedFor(address)};host="${host}";proto=${proto}`
}

/** All of the above, for one request about to be proxied. */
export function prepareDeviceHeaders(req: IncomingMessage, host: string, prefix: string | undefined): void {
  const cookie = req.headers.cookie
  if (cookie !== undefined) {
    const kept = stripSessionCookie(cookie)
    if (kept === undefined) delete req.headers.cookie
    else req.headers.cookie = kept
  }
  if (isGatewayBearer(req.headers.authorization)) delete req.headers.authorization
  setForwardingHeaders(req, host, prefix)
}
