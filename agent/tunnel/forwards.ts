import net from 'node:net'
import type { Duplex } from 'node:stream'
import type { Logger } from '../agent-logger.js'
import { pickByName, type ContainerInfo, type Containers } from '../docker/containers.js'
import { AGENT_CONTROL_NAME, AGENT_CONTROL_PORT } from '../../shared/agent-protocol.js'
import type { ForwardedService } from '../../shared/agent-wire.js'
import { splice } from '../../shared/channel-socket.js'
import type { ChannelHandler, TunnelConnection } from './tunnel-client.js'

const key = (name: string, port: number) => `${name}:${port}`
/** How long a container has to accept a forwarded connection. */
const CONNECT_TIMEOUT_MS = 5000
/** The device's sshd forward: loopback, port 0, so the gateway answers with the device's assigned port. */
const SSHD_BIND = 'localhost'

/**
 * The remote forwards the agent holds and where their channels go: the
 * device's sshd, the agent's control API, and one forward per exposed
 * service, connected to the service's container.
 */
export function createForwards(deps: {
  sshdAddress: string
  containers: Containers
  /** The agent's containers as the watch last saw them, without asking docker; empty when that may be out of date. */
  known(): Promise<readonly ContainerInfo[]>
  control: { handle(channel: Duplex): void }
  logger: Logger
}) {
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

  /** A connected socket to the container's port, or undefined when it has no endpoint, refuses, or does not answer in time. */
  function dial(container: ContainerInfo | undefined, port: number): Promise<net.Socket | undefined> {
    const endpoint = container?.state === 'running' ? container.endpoint(port) : undefined
    if (!endpoint) return Promise.resolve(undefined)
    return new Promise((resolve) => {
      const socket = net.connect({ host: endpoint.host, port: endpoint.port })
      // An address left over from a replaced container may not answer at all: give up on it rather than wait for the kernel.
      socket.setTimeout(CONNECT_TIMEOUT_MS, failed)
      socket.once('connect', () => {
        socket.setTimeout(0)
        socket.off('timeout', failed)
        socket.off('error', failed)
        resolve(socket)
      })
      socket.once('error', failed)
      function failed() {
        socket.destroy()
        resolve(undefined)
      }
    })
  }

  /**
   * Each new connection to a service goes to its container as the watch last saw it: asking docker
   * (`docker ps` and `docker inspect`, two process starts) for every connection cost a small device
   * tens of milliseconds of CPU and the user as much latency. Only when that container is unknown,
   * or refuses (it was replaced since, with a new address), is docker asked.
   */
  async function toService(channel: Duplex, service: ForwardedService) {
    // Until splice() takes over: a channel error while the container is looked up ends the channel, not the agent.
    channel.on('error', () => channel.destroy())
    const name = service.container_name
    const known = pickByName(await deps.known().catch(() => []), name)
    let socket = await dial(known, service.internal_port)
    if (!socket) socket = await dial(await deps.containers.find(name).catch(() => undefined), service.internal_port)
    if (!socket) {
      logger.warn({ service: service.name, container: name }, 'no running container answers for an exposed service')
      return channel.destroy()
    }
    // The client may have gone while the container was looked up.
    if (channel.destroyed) return socket.destroy()
    socket.setNoDelay(true)
    socket.on('error', (err) => logger.debug({ err: err.message, target: name }, 'forwarded connection failed'))
    splice(channel, socket)
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
