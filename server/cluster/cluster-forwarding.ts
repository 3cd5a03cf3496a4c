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
import { PEER_TLS_KEY_PURPOSE } from './peer-tls.js'
import { defaultPeerUrl, staysOnThisHost } from './peer-url.js'

/**
 * The wiring of forwarding between gateway nodes (docs/cluster-forwarding.md):
 * the peer listener (only with `peer_listen`; TLS-PSK unless `peer_tls` is
 * off), the signed peer client, and the device locator the proxy, terminal,
 * TCP services, agent control and jump host use to reach a device whichever
 * node holds its tunnel. Without `peer_listen` this node is a single node:
 * nothing listens, and `locate` is undefined so every part keeps to the local
 * tunnel registry.
 */
export async function startClusterForwarding(deps: {
  cluster: Config['cluster']
  db: Kysely<Database>
  registry: TunnelRegistry
  masterKey: MasterKey
  logger: Logger
  listenerTuning?: { handshakeTimeoutMs?: number; maxPending?: number }
}) {
  const { cluster, logger } = deps
  if (!cluster.peerListen) {
    return { peerUrl: cluster.peerUrl, locate: undefined as LocateDevice | undefined, join(_nodeId: string) {}, async close() {} }
  }
  // Every node derives the same keys from the shared secret_key; nothing else of it ever crosses the peer channel.
  // Two keys, two purposes: one signs each upgrade (who calls, hop marker, replay), the other keys the TLS around it.
  const auth = createPeerAuth({ key: deps.masterKey.derive('cluster-peer') })
  const psk = deps.masterKey.derive(PEER_TLS_KEY_PURPOSE)
  const listener = createPeerListener({ auth, registry: deps.registry, logger, psk: cluster.peerTls ? psk : undefined, ...deps.listenerTuning })
  const port = await listener.listen(cluster.peerListen.host, cluster.peerListen.port)
  const peerUrl = cluster.peerUrl ?? defaultPeerUrl(cluster.peerListen.host, port, cluster.peerTls)
  const peerListen = `${cluster.peerListen.host.includes(':') ? `[${cluster.peerListen.host}]` : cluster.peerListen.host}:${port}`
  logger.info({ peer_listen: peerListen, peer_url: peerUrl, peer_tls: cluster.peerTls }, 'cluster peer listener up')
  if (!cluster.peerTls && !staysOnThisHost(cluster.peerListen.host, peerUrl)) {
    logger.warn({ peer_listen: peerListen }, 'peer_tls is off: forwarded traffic crosses the network between nodes in clear text')
  }
  let nodeId = ''
  const locator = createDeviceLocator({
    db: deps.db,
    registry: deps.registry,
    nodeId: () => nodeId,
    peers: createPeerClient({ auth, psk, nodeId: () => nodeId }),
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

