import { effectivePublicUrl } from '../provision/gateway-endpoints.js'
import type { PublicUrls } from '../proxy/public-urls.js'

/**
 * The origins (scheme, host, port) this gateway is reached at, worked out in
 * one place. The console's: the listener's own origin for the console host
 * and, when a public URL is configured (a reverse proxy in front), that URL's
 * origin, unless it names a device host (device hosts serve untrusted pages).
 * A device host's: the same scheme and port as the console, nothing else.
 *
 * Ports are known only after listen() (tests bind port 0), so both are read
 * lazily; the console's set is kept once the ports stop changing.
 */
export function createGatewayOrigins(deps: {
  urls: PublicUrls
  /** The configured (or derived) public URL; port 0 means the bound HTTP port. */
  publicUrl: string
  httpPort: () => number
  isDeviceHost(host: string): boolean
}) {
  let cached: { key: string; origins: ReadonlySet<string> } | undefined

  /** The public URL, unless it would downgrade an HTTPS gateway to plain HTTP (the derived default does, once TLS is on). */
  function publicUrl(): URL | undefined {
    let url: URL
    try {
      url = new URL(effectivePublicUrl(deps.publicUrl, deps.httpPort()))
    } catch {
      return undefined
    }
    if (url.protocol === 'http:' && deps.urls.consoleOrigin().startsWith('https:')) return undefined
    return url
  }

  function consoleOrigins(): ReadonlySet<string> {
    const own = deps.urls.consoleOrigin()
    const key = `${own} ${deps.httpPort()}`
    if (cached?.key === key) return cached.origins
    const origins = new Set([own])
    const pub = publicUrl()
    if (pub && !deps.isDeviceHost(pub.hostname)) origins.add(pub.origin)
    cached = { key, origins }
    return origins
  }

  /** True when `url` is on a device host at the gateway's own scheme and port (or those of the public URL). */
  function isDeviceOrigin(url: URL): boolean {
    if (!deps.isDeviceHost(url.hostname)) return false
    if (url.origin === deps.urls.origin(url.hostname)) return true
    const pub = publicUrl()
    return pub !== undefined && url.protocol === pub.protocol && url.port === pub.port
  }

  return { consoleOrigins, isDeviceOrigin }
}

export type GatewayOrigins = ReturnType<typeof createGatewayOrigins>
