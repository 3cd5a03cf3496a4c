/*
 * The device side of the SSH port: the host key, the registry of live tunnels, forwarding to the node that
 * holds a tunnel elsewhere in the cluster, this node in the cluster registry, the session status writer,
 * and the jump host people reach devices through (u:<user>).
 * The SSH server itself is created later (agent-wiring.ts), once the in-tunnel agent API exists.
 */
import { loadOrCreateHostKey } from '../tunnel/host-key.js'
import { createTunnelRegistry } from '../tunnel/tunnel-registry.js'
import { createStatusRecorder } from '../tunnel/status-recorder.js'
import { createNodeRegistry } from '../cluster/node-registry.js'
import { startClusterForwarding } from '../cluster/cluster-forwarding.js'
import { createDeadNodeSweep } from '../cluster/dead-node-sweep.js'
import { createUserCa } from '../ssh-access/user-ca.js'
import { createUserSshKeys } from '../ssh-access/user-ssh-keys.js'
import { createJumpAuthenticator } from '../ssh-access/jump-authenticator.js'
import { createJumpHost } from '../ssh-access/jump-host.js'
import type { DeviceStore } from '../devices/device-store.js'
import type { AccessParts } from './access-wiring.js'
import type { GatewayCore } from './gateway-core.js'
import { bufferPaddingRandomness } from '../../shared/ssh2-internals.js'

export async function createTunnelParts(core: GatewayCore, deps: { access: AccessParts; devices: DeviceStore }) {
  const { config, logger, db, events, closers, masterKey } = core
  const { users, auditLog, liveAccess } = deps.access
  // ssh2 draws each packet's padding from the CSPRNG in bulk rather than one call per packet (shared/ssh2-internals.ts).
  bufferPaddingRandomness()
  const hostKey = loadOrCreateHostKey(config.dataDir)
  const tunnels = createTunnelRegistry()
  // Forwarding to the node holding a device's tunnel (docs/cluster-forwarding.md); its peer listener is what peer_url advertises.
  const forwarding = await startClusterForwarding({ cluster: config.cluster, db, registry: tunnels, masterKey, logger, listenerTuning: core.options.peerListener })
  closers.push('peer listener', () => forwarding.close())
  const { locate } = forwarding
  // This node in the cluster registry (several gateways may share one PostgreSQL); it leaves it on clean shutdown.
  const nodes = createNodeRegistry({
    db,
    logger,
    nodeId: config.cluster.nodeId,
    peerUrl: forwarding.peerUrl,
    heartbeatMs: config.cluster.heartbeatMs,
    // Swept as dead by another node while alive (a long stall): it re-registers, and its devices reconnect.
    onEvicted: () => [...tunnels.sessions()].forEach((session) => void session.close()),
  })
  forwarding.join(nodes.id)
  await nodes.start()
  closers.push('node registry', () => nodes.close())
  const status = createStatusRecorder({ db, events, logger, nodeId: nodes.id })
  await status.resetOwned()
  closers.push('status writes', () => status.close())
  // Devices of nodes that died (kill -9, lost host) are marked offline by the live ones.
  const deadNodes = createDeadNodeSweep({ db, events, logger, nodeId: nodes.id, intervalMs: config.cluster.heartbeatMs })
  deadNodes.start()
  closers.push('dead node sweep', () => deadNodes.close())
  // People on the same SSH port, as u:<username>: the jump host and its user CA (docs/admin-access.md).
  const userCa = createUserCa({ dataDir: config.dataDir })
  const userSshKeys = createUserSshKeys({ db })
  const jump = {
    authenticator: createJumpAuthenticator({ users, keys: userSshKeys, ca: userCa }),
    host: createJumpHost({ db, registry: tunnels, locate, auditLog, logger, maxChannels: config.sshLimits.maxChannelsPerDevice, liveAccess }),
  }
  // A deleted device, or one whose key changed, loses its tunnel at once.
  events.on('device.changed', (changed) => {
    const session = tunnels.get(changed.id)
    if (!session) return
    void deps.devices.find(changed.id).then(
      (row) => {
        if (!row || row.public_key !== session.device.public_key) void session.close()
      },
      (err: Error) => logger.warn({ err: err.message, device: changed.device_id }, 'cannot re-check a changed device'),
    )
  })
  // The web terminal logs in to devices with a key of its own, which Ignition authorises on the device.
  const terminalKey = loadOrCreateHostKey(config.dataDir, 'terminal_ed25519_key')
  return { hostKey, terminalKey, tunnels, locate, nodes, status, userCa, userSshKeys, jump }
}

export type TunnelParts = Awaited<ReturnType<typeof createTunnelParts>>
