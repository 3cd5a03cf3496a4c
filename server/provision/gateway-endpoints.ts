import { BlockList, isIP } from 'node:net'
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

/**
 * True for a host a device in the field can never reach the gateway at: names
 * that resolve to the device itself (`localhost`, `*.localhost`), 127.0.0.0/8,
 * ::1, the unspecified addresses (0.0.0.0, ::) and IPv4-mapped forms of those.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '')
  if (h === 'localhost' || h.endsWith('.localhost')) return true
  const v4 = /^(?:::ffff:)?(\d{1,3})\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.exec(h)
  if (v4 && isIP(h.replace(/^::ffff:/, ''))) return v4[1] === '127' || h.replace(/^::ffff:/, '') === '0.0.0.0'
  if (isIP(h) === 6) {
    const bytes = new BlockList()
    bytes.addSubnet('::1', 128, 'ipv6')
    bytes.addSubnet('::', 128, 'ipv6')
    bytes.addSubnet('::ffff:127.0.0.0', 104, 'ipv6')
    bytes.addSubnet('::ffff:0.0.0.0', 128, 'ipv6')
    return bytes.check(h, 'ipv6')
  }
  return false
}

/**
 * Why a config rendered with these endpoints would leave the device unable to
 * reach the gateway, naming the settings to change; undefined when it is fine.
 */
export function loopbackProblem(endpoints: GatewayEndpoints): string | undefined {
  const urlHost = new URL(endpoints.url).hostname
  const bad = [
    ...(isLoopbackHost(urlHost) ? [`the server URL ${endpoints.url}`] : []),
    ...(isLoopbackHost(endpoints.ssh.host) ? [`the SSH endpoint ${endpoints.ssh.host}:${endpoints.ssh.port}`] : []),
  ]
  if (!bad.length) return undefined
  return (
    `devices would dial ${bad.join(' and ')}, a loopback address that on a device means the device itself. ` +
    'Set public_url (EDGETAINER_PUBLIC_URL) in the gateway config to the URL devices reach this gateway at; ' +
    'its host is also the SSH host devices dial, on ssh_port (EDGETAINER_SSH_PORT). ' +
    'For a lab test with the device on this machine, render it anyway with ?allow_loopback=1 (CLI: --allow-loopback).'
  )
}
