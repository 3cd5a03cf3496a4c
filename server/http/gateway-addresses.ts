import { effectivePublicUrl } from '../provision/gateway-endpoints.js'

/** The ports the listeners got; read lazily, since listeners bound to port 0 (tests) only know theirs after listen(). */
export interface BoundPorts {
  http(): number
  /** undefined while (or when) no HTTPS listener runs. */
  https(): number | undefined
}

/**
 * Where users reach the gateway, worked out once for links, redirects and
 * origin checks. Devices reach it through the same public URL (see
 * gateway-endpoints.ts, which Ignition and the CLI use without listeners).
 *
 * The scheme and port of every user-facing origin come from the public URL
 * (`public_url`, or the derived `http://<console_host>:<http_port>`): behind a
 * reverse proxy or NAT the gateway is reached on a port it does not bind. One
 * exception: a plain-HTTP public URL on a gateway that serves HTTPS (the
 * derived default once TLS is on) would downgrade every link, so the HTTPS
 * listener's own origin is used instead.
 */
export function createGatewayAddresses(deps: {
  baseDomain: string
  consoleHost: string
  /** The configured (or derived) public URL; port 0 means the bound HTTP port. */
  publicUrl: string
  ports: BoundPorts
  /** A host the proxy serves for a device (device hosts serve untrusted pages). */
  isDeviceHost(host: string): boolean
}) {
  const { ports } = deps

  function publicUrl(): URL {
    return new URL(effectivePublicUrl(deps.publicUrl, ports.http()))
  }

  /** The listener's own scheme and port: HTTPS when it runs. */
  function listenerOrigin(host: string): string {
    const https = ports.https()
    return https === undefined ? originOf('http', host, ports.http()) : originOf('https', host, https)
  }

  /** The origin users reach `host` at. */
  function origin(host: string): string {
    const pub = publicUrl()
    if (pub.protocol === 'http:' && ports.https() !== undefined) return listenerOrigin(host)
    const scheme = pub.protocol === 'https:' ? 'https' : 'http'
    return originOf(scheme, host, pub.port ? Number(pub.port) : scheme === 'https' ? 443 : 80)
  }

  const consoleOrigin = () => origin(deps.consoleHost)

  /**
   * Origins the console may be used from (cookie-authenticated writes and the
   * terminal check them): the public one, the listener's own (an admin on the
   * gateway's network), and the public URL's when it names another console
   * name, unless that name is a device host.
   */
  function consoleOrigins(): ReadonlySet<string> {
    const origins = new Set([consoleOrigin(), listenerOrigin(deps.consoleHost)])
    const pub = publicUrl()
    if (!deps.isDeviceHost(pub.hostname) && !(pub.protocol === 'http:' && ports.https() !== undefined)) origins.add(pub.origin)
    return origins
  }

  /** True when `url` is a device host at an origin the gateway serves it on. */
  function isDeviceOrigin(url: URL): boolean {
    if (!deps.isDeviceHost(url.hostname)) return false
    return url.origin === origin(url.hostname) || url.origin === listenerOrigin(url.hostname)
  }

  return {
    origin,
    consoleOrigin,
    consoleOrigins,
    isDeviceOrigin,
    deviceHost: (subdomain: string) => `${subdomain}.${deps.baseDomain}`,
    serviceHost: (service: string, subdomain: string) => `${service}.${subdomain}.${deps.baseDomain}`,
    /** A path-routed service lives on the device's own host; the others on their own subdomain. */
    serviceUrl(subdomain: string, service: { name: string; url_path: string | null }): string {
      if (service.url_path) return `${origin(`${subdomain}.${deps.baseDomain}`)}${service.url_path}`
      return `${origin(`${service.name}.${subdomain}.${deps.baseDomain}`)}/`
    },
  }
}

function originOf(scheme: 'http' | 'https', host: string, port: number): string {
  const standard = (scheme === 'http' && port === 80) || (scheme === 'https' && port === 443)
  return `${scheme}://${host}${standard ? '' : `:${port}`}`
}

export type GatewayAddresses = ReturnType<typeof createGatewayAddresses>
