import type { RouteRegistry } from '../route-registry.js'

export function registerTerminalKeyRoutes(api: RouteRegistry, deps: { terminalPublicKey: string; user: string }) {
  api.route({
    method: 'get',
    path: '/api/provision/terminal-key',
    summary: "The gateway's terminal public key, for the device user's authorized_keys (Ignition puts it there)",
    tag: 'terminal',
    access: 'viewer',
    async handler({ res }) {
      res.type('text/plain').send(`${deps.terminalPublicKey} edgetainer-terminal\n`)
      return undefined
    },
  })
}
