import type { Config } from '../config/config-schema.js'
import type { GatewayEndpoints } from './ignition-configs.js'

/**
 * The public URL devices use. A configured port 0 means "the port the HTTP
 * listener got" (tests and throwaway gateways), which is only known once it
 * listens; any other URL is taken as configured, since a gateway behind a
 * proxy or NAT is reached on a port it does not bind itself.
 */
export function effectivePublicUrl(publicUrl: string, boundHttpPort: number): string {
  const url = new URL(publicUrl)
  if (url.port === '0') url.port = String(boundHttpPort)
  return url.toString().replace(/\/+$/, '')
}

/** Endpoints from the config and, once they listen, the bound ports; the CLI passes none and gets the configured ones. */
export function gatewayEndpoints(config: Pick<Config, 'publicUrl' | 'sshPort'>, bound: { httpPort?: number; sshPort?: number } = {}): GatewayEndpoints {
  const url = bound.httpPort ? effectivePublicUrl(config.publicUrl, bound.httpPort) : config.publicUrl.replace(/\/+$/, '')
  const host = new URL(url).hostname.replace(/^\[(.*)\]$/, '$1')
  return { url, ssh: { host, port: bound.sshPort || config.sshPort } }
}
