/**
 * Where users reach things. Ports are read lazily: listeners bound to port 0
 * (tests) only know theirs after listen().
 */
export function createPublicUrls(deps: { baseDomain: string; consoleHost: string; scheme: () => 'http' | 'https'; port: () => number }) {
  function origin(host: string): string {
    const scheme = deps.scheme()
    const port = deps.port()
    const standard = (scheme === 'http' && port === 80) || (scheme === 'https' && port === 443)
    return `${scheme}://${host}${standard ? '' : `:${port}`}`
  }
  return {
    origin,
    consoleOrigin: () => origin(deps.consoleHost),
    deviceHost: (subdomain: string) => `${subdomain}.${deps.baseDomain}`,
    serviceHost: (service: string, subdomain: string) => `${service}.${subdomain}.${deps.baseDomain}`,
    /** A path-routed service lives on the device's own host; the others on their own subdomain. */
    serviceUrl(subdomain: string, service: { name: string; url_path: string | null }): string {
      if (service.url_path) return `${origin(`${subdomain}.${deps.baseDomain}`)}${service.url_path}`
      return `${origin(`${service.name}.${subdomain}.${deps.baseDomain}`)}/`
    },
  }
}

export type PublicUrls = ReturnType<typeof createPublicUrls>
