import net from 'node:net'
import type { ExposedServiceRow } from '../db/schema.js'
import type { GatewayEvents } from '../events/gateway-events.js'
import type { Logger } from '../logger.js'
import { splice } from '../../shared/channel-socket.js'
import type { TunnelRegistry } from '../tunnel/tunnel-registry.js'
import type { ExposedServiceStore } from './exposed-service-store.js'
import type { LocateDevice } from '../cluster/device-channels.js'

interface Listener {
  service: ExposedServiceRow
  server: net.Server
  /** Open client connections: `server.close()` waits for them, so unbinding cuts them. */
  sockets: Set<net.Socket>
}

/** Stops listening and cuts the connections still open; without the cut, close() would wait on every idle client. */
function unbind(listener: Listener): Promise<void> {
  const closed = new Promise<void>((resolve) => listener.server.close(() => resolve()))
  for (const socket of listener.sockets) socket.destroy()
  return closed
}

/**
 * `tcp` exposed services: the gateway binds each one on 127.0.0.1 at its
 * external_port (for tools on the gateway host: psql, redis-cli, a PLC
 * client) and pipes each connection into the device's tunnel. Connections
 * while the device is offline are closed at once.
 */
export function createTcpServiceListeners(deps: { services: ExposedServiceStore; registry: TunnelRegistry; events: GatewayEvents; logger: Logger; locate?: LocateDevice }) {
  const { services, registry, logger } = deps
  const listeners = new Map<string, Listener>()
  let reconciling: Promise<void> = Promise.resolve()

  function connect(service: ExposedServiceRow, socket: net.Socket) {
    socket.setNoDelay(true)
    socket.on('error', () => socket.destroy())
    // A device another gateway node holds is reached through that node (cluster forwarding).
    const local = registry.get(service.device_id)
    const found = local ? Promise.resolve(local) : (deps.locate?.(service.device_id) ?? Promise.resolve(undefined))
    found
      .then((session) => {
        if (!session?.hasServiceForward(service.container_name, service.internal_port)) throw new Error('not connected')
        return session.openServiceChannel(service.container_name, service.internal_port, { address: socket.remoteAddress ?? '127.0.0.1', port: socket.remotePort ?? 0 })
      })
      .then((channel) => (socket.destroyed ? channel.destroy() : splice(socket, channel)), () => socket.destroy())
  }

  async function bind(service: ExposedServiceRow) {
    const sockets = new Set<net.Socket>()
    const server = net.createServer((socket) => {
      sockets.add(socket)
      socket.once('close', () => sockets.delete(socket))
      connect(service, socket)
    })
    await new Promise<void>((resolve) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        logger.warn({ service: service.name, port: service.external_port, err: err.code }, 'cannot bind tcp service port')
        resolve()
      })
      // Loopback only: public TCP ports are a deliberate later feature, not a side effect.
      server.listen({ port: service.external_port!, host: '127.0.0.1', exclusive: true }, () => {
        listeners.set(service.id, { service, server, sockets })
        resolve()
      })
    })
  }

  async function reconcile(deviceUuid?: string) {
    const wanted = new Map((await services.enabledTcpServices(deviceUuid)).map((s) => [s.id, s]))
    for (const [id, l] of listeners) {
      if (deviceUuid && l.service.device_id !== deviceUuid) continue
      const next = wanted.get(id)
      if (next && next.external_port === l.service.external_port) {
        l.service = next
        wanted.delete(id)
        continue
      }
      listeners.delete(id)
      await unbind(l)
    }
    for (const service of wanted.values()) if (service.external_port) await bind(service)
  }

  const onServiceChanged = ({ device_uuid }: { device_uuid: string }) => {
    reconciling = reconciling.then(() => reconcile(device_uuid)).catch((err) => logger.error({ err }, 'tcp service reconcile failed'))
  }

  return {
    async start() {
      deps.events.on('service.changed', onServiceChanged)
      await reconcile()
    },
    /** The bound gateway ports, by service id. */
    ports(): Map<string, number> {
      return new Map([...listeners].map(([id, l]) => [id, l.service.external_port!]))
    },
    settled: () => reconciling,
    async close() {
      deps.events.off('service.changed', onServiceChanged)
      await reconciling
      await Promise.all([...listeners.values()].map(unbind))
      listeners.clear()
    },
  }
}
