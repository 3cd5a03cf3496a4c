import type { GatewayEndpoints } from '../../provision/ignition-configs.js'
import type { RouteRegistry } from '../route-registry.js'

/**
 * `GET /api/gateway`: what a client needs to reach this gateway beyond its
 * API: the SSH endpoint (the jump host for `ssh -J`, the same one devices
 * dial) and its host key, so the `edgetainer` CLI pins the key instead of
 * trusting it on first use, and the device account (EDGETAINER_TERMINAL_USER,
 * `core` on Flatcar) that gateway certificates name. Nothing here is secret; it is behind sign-in
 * only because nobody else needs it.
 */
export function registerGatewayInfoRoutes(api: RouteRegistry, deps: { version: string; endpoints: () => GatewayEndpoints; hostPublicKey: string; deviceUser: string }) {
  api.route({
    method: 'get',
    path: '/api/gateway',
    summary: "The gateway's version, public URL, SSH endpoint, SSH host key and the device account its certificates are for (the CLI's ssh and tunnel use them)",
    tag: 'gateway',
    access: 'viewer',
    async handler() {
      const { url, ssh } = deps.endpoints()
      return { version: deps.version, url, ssh: { host: ssh.host, port: ssh.port, host_key: deps.hostPublicKey, device_user: deps.deviceUser } }
    },
  })
}
