import type { Kysely } from 'kysely'
import type { Config } from '../config/config-schema.js'
import type { Database } from '../db/schema.js'
import type { Logger } from '../logger.js'
import type { MasterKey } from '../secrets/master-key.js'
import type { TunnelRegistry } from '../tunnel/tunnel-registry.js'
import type { LocateDevice } from './device-channels.js'
import { createDeviceLocator } from './device-locator.js'
import { createPeerAuth } from './peer-auth.js'
import { createPeerClient } from './peer-client.js'
import { createPeerListener } from './peer-listener.js'

/**
 * The wiring of forwarding between gateway nodes (docs/cluster-forwarding.md):
 * the peer listener (only with `peer_listen`), the signed peer client, and the
 * device locator the proxy, terminal, TCP services, agent control and jump
 * host use to reach a device whichever node holds its tunnel. Without
 * `peer_listen` this node is a single node: nothing listens, and `locate` is
 * undefined so every part keeps to the local tunnel registry.
 */
export async function startClusterForwarding(deps: {
  cluster: Config['cluster']
  db: Kysely<Database>
  registry: TunnelRegistry
  masterKey: MasterKey
  logger: Logger
}) {
  const { cluster, logger } = deps
  if (!cluster.peerListen) {
    return { peerUrl: cluster.peerUrl, locate: undefined as LocateDevice | undefined, join(_nodeId: string) {}, async close() {} }
  }
  // Every node derives the same key from the shared secret_key; nothing else of it ever crosses the peer channel.
  const auth = createPeerAuth({ key: deps.masterKey.derive('cluster-peer') })
  const listener = createPeerListener({ auth, registry: deps.registry, logger })
  const port = await listener.listen(cluster.peerListen.host, cluster.peerListen.port)
  const host = cluster.peerListen.host.includes(':') ? `[${cluster.peerListen.host}]` : cluster.peerListen.host
  const peerUrl = cluster.peerUrl ?? `http://${host}:${port}/`
  logger.info({ peer_listen: `${host}:${port}`, peer_url: peerUrl }, 'cluster peer listener up')
  let nodeId = ''
  const locator = createDeviceLocator({
    db: deps.db,
    registry: deps.registry,
    nodeId: () => nodeId,
    peers: createPeerClient({ auth, nodeId: () => nodeId }),
    cacheMs: cluster.ownerCacheMs,
    logger,
  })
  return {
    /** What this node advertises in gateway_nodes.peer_url: the configured one, else the bound listener. */
    peerUrl,
    locate: locator.locate as LocateDevice | undefined,
    /** The node registry's id, known once it exists (it is created with peerUrl above). */
    join(id: string) {
      nodeId = id
    },
    close: () => listener.close(),
  }
}

export type ClusterForwarding = Awaited<ReturnType<typeof startClusterForwarding>>
