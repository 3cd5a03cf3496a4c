import net from 'node:net'
import type { Duplex } from 'node:stream'
import type { Logger } from '../agent-logger.js'
import type { Containers } from '../docker/containers.js'
import { AGENT_CONTROL_NAME, AGENT_CONTROL_PORT } from '../../shared/agent-protocol.js'
import type { ForwardedService } from '../../shared/agent-wire.js'
import { splice } from '../../shared/channel-socket.js'
import type { ChannelHandler, TunnelConnection } from './tunnel-client.js'

const key = (name: string, port: number) => `${name}:${port}`
/** The device's sshd forward: loopback, port 0, so the gateway answers with the device's assigned port. */
const SSHD_BIND = 'localhost'

/**
 * The remote forwards the agent holds and where their channels go: the
 * device's sshd, the agent's control API, and one forward per exposed
 * service, connected to the service's container.
 */
export function createForwards(deps: { sshdAddress: string; containers: Containers; control: { handle(channel: Duplex): void }; logger: Logger }) {
  const { logger } = deps
  const [sshdHost, sshdPort] = [deps.sshdAddress.slice(0, deps.sshdAddress.lastIndexOf(':')), Number(deps.sshdAddress.slice(deps.sshdAddress.lastIndexOf(':') + 1))]
  let sshPort: number | undefined
  let services = new Map<string, ForwardedService>()

  function connectTcp(channel: Duplex, host: string, port: number, what: string) {
    const socket = net.connect({ host, port })
    socket.setNoDelay(true)
    socket.on('error', (err) => logger.debug({ err: err.message, target: what }, 'forwarded connection failed'))
    splice(channel, socket)
  }

  async function toService(channel: Duplex, service: ForwardedService) {
    const container = await deps.containers.find(service.container_name).catch(() => undefined)
    const endpoint = container?.endpoint(service.internal_port)
    if (!endpoint) {
      logger.warn({ service: service.name, container: service.container_name }, 'no running container for an exposed service')
      return channel.destroy()
    }
    connectTcp(channel, endpoint.host, endpoint.port, service.container_name)
  }

  const onChannel: ChannelHandler = (info, accept, reject) => {
    if (info.destIP === SSHD_BIND && sshPort !== undefined && info.destPort === sshPort) return connectTcp(accept(), sshdHost, sshdPort, 'sshd')
    if (info.destIP === AGENT_CONTROL_NAME && info.destPort === AGENT_CONTROL_PORT) return deps.control.handle(accept())
    const service = services.get(key(info.destIP, info.destPort))
    if (!service) return reject()
    void toService(accept(), service)
  }

  return {
    onChannel,
    /** Asks for the fixed forwards on a fresh connection. */
    async establish(connection: TunnelConnection): Promise<void> {
      services = new Map()
      sshPort = await connection.forwardIn(SSHD_BIND, 0)
      await connection.forwardIn(AGENT_CONTROL_NAME, AGENT_CONTROL_PORT)
      logger.debug({ ssh_port: sshPort }, 'sshd and control forwards up')
    },
    /** Brings the service forwards in line with the gateway's list. */
    async setServices(connection: TunnelConnection, wanted: ForwardedService[]): Promise<void> {
      // The sshd and control forwards are the agent's own; a service that names them changes nothing.
      const own = (s: ForwardedService) => s.container_name === AGENT_CONTROL_NAME || s.container_name === SSHD_BIND
      const next = new Map(wanted.filter((s) => !own(s)).map((s) => [key(s.container_name, s.internal_port), s]))
      for (const [k, s] of services) {
        if (next.has(k)) continue
        await connection.unforwardIn(s.container_name, s.internal_port).catch(() => undefined)
        services.delete(k)
      }
      for (const [k, s] of next) {
        if (services.has(k)) {
          services.set(k, s)
          continue
        }
        // Routed before the gateway confirms, so a channel arriving right after the reply finds its target.
        services.set(k, s)
        try {
          await connection.forwardIn(s.container_name, s.internal_port)
        } catch (err) {
          services.delete(k)
          logger.warn({ err: (err as Error).message, service: s.name }, 'the gateway refused a service forward')
        }
      }
    },
    get sshPort() {
      return sshPort
    },
  }
}

export type Forwards = ReturnType<typeof createForwards>
