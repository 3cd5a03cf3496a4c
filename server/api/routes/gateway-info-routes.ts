import type { GatewayEndpoints } from '../../provision/ignition-configs.js'
import type { RouteRegistry } from '../route-registry.js'

/**
 * `GET /api/gateway`: what a client needs to reach this gateway beyond its
 * API: the SSH endpoint (the jump host for `ssh -J`, the same one devices
 * dial) and its host key, so the `edgetainer` CLI pins the key instead of
 * trusting it on first use. Nothing here is secret; it is behind sign-in
 * only because nobody else needs it.
 */
export function registerGatewayInfoRoutes(api: RouteRegistry, deps: { version: string; endpoints: () => GatewayEndpoints; hostPublicKey: string }) {
  api.route({
    method: 'get',
    path: '/api/gateway',
    summary: "The gateway's version, public URL, SSH endpoint and SSH host key (for the CLI's ssh, tunnel and ssh_config)",
    tag: 'gateway',
    access: 'viewer',
    async handler() {
      const { url, ssh } = deps.endpoints()
      return { version: deps.version, url, ssh: { host: ssh.host, port: ssh.port, host_key: deps.hostPublicKey } }
    },
  })
}
