import type { NodeRegistry } from '../../cluster/node-registry.js'
import type { RouteRegistry } from '../route-registry.js'

/** The cluster's gateway nodes (issue 17): who is registered, and whose heartbeat has gone stale. */
export function registerClusterRoutes(api: RouteRegistry, deps: { nodes: NodeRegistry }) {
  api.route({
    method: 'get',
    path: '/api/cluster/nodes',
    summary: 'Gateway nodes sharing this database, oldest first; stale when the heartbeat is older than three intervals',
    tag: 'cluster',
    access: 'admin',
    async handler() {
      const nodes = await deps.nodes.list()
      return {
        node_id: deps.nodes.id,
        items: nodes.map((n) => ({
          id: n.id,
          peer_url: n.peer_url,
          started_at: n.started_at,
          heartbeat_at: n.heartbeat_at,
          heartbeat_interval_ms: n.heartbeat_interval_ms,
          stale: n.stale,
          self: n.self,
        })),
      }
    },
  })
}
