import net from 'node:net'
import { randomBytes } from 'node:crypto'
import type { Connection, ServerChannel, TcpipBindInfo } from 'ssh2'
import type { Logger } from '../logger.js'
import { asSocketLike, splice } from '../../shared/channel-socket.js'

export interface AuthenticatedDevice {
  id: string
  device_id: string
  ssh_port: number | null
  /** The registered key line this session authenticated with; a change of key ends the session. */
  public_key: string
}

export interface ForwardView {
  kind: 'ssh' | 'service'
  /** What the device asked to bind: loopback for its sshd, a service name otherwise. */
  bind_address: string
  bind_port: number
  /** The gateway's loopback port for the device's sshd; null for service routes (no port is bound). */
  gateway_port: number | null
}

type RequestCallback = (port?: number) => void

const loopbackBinds = new Set(['', 'localhost', '127.0.0.1', '::1'])
const publicBinds = new Set(['*', '0.0.0.0', '::'])
const serviceNamePattern = /^[a-z0-9]([a-z0-9_.-]{0,62})$/i
const MAX_FORWARDS = 64

/**
 * One device's live SSH connection and what it forwards. The device's sshd
 * forward is bound on 127.0.0.1 at the device's assigned port; service
 * forwards are routes only, opened as `forwarded-tcpip` channels on demand.
 */
export class DeviceSession {
  readonly id = randomBytes(6).toString('hex')
  readonly since = new Date()
  readonly #connection: Connection
  readonly #parentLogger: Logger
  #childLogger: Logger | undefined
  readonly #forwards = new Map<string, ForwardView & { server?: net.Server }>()
  /** Connections to the device's sshd port, destroyed on close so the port frees at once. */
  readonly #sockets = new Set<net.Socket>()
  #closed = false
  #closing: Promise<void> | undefined

  constructor(
    readonly device: AuthenticatedDevice,
    connection: Connection,
    readonly remoteAddress: string,
    logger: Logger,
  ) {
    this.#connection = connection
    this.#parentLogger = logger
  }

  /** Made on first use: an idle session never logs, and a child logger per session adds up over thousands. */
  get #logger(): Logger {
    return (this.#childLogger ??= this.#parentLogger.child({ device: this.device.device_id, session: this.id }))
  }

  get closed(): boolean {
    return this.#closed
  }

  forwards(): ForwardView[] {
    return [...this.#forwards.values()].map(({ kind, bind_address, bind_port, gateway_port }) => ({ kind, bind_address, bind_port, gateway_port }))
  }

  hasServiceForward(name: string, port: number): boolean {
    return this.#forwards.get(`${name.toLowerCase()}:${port}`)?.kind === 'service'
  }

  /** Handles `tcpip-forward` / `cancel-tcpip-forward` global requests. */
  async handleRequest(accept: RequestCallback | undefined, reject: (() => void) | undefined, name: string, info: TcpipBindInfo): Promise<void> {
    const ok = (port?: number) => accept?.(port)
    const no = (why: string) => {
      this.#logger.warn({ bind_address: info.bindAddr, bind_port: info.bindPort, request: name }, `forward refused: ${why}`)
      reject?.()
    }
    if (this.#closed) return no('session closed')
    if (name === 'cancel-tcpip-forward') return this.#cancel(info) ? ok() : no('no such forward')
    if (name !== 'tcpip-forward') return no('unsupported request')

    const bindAddr = info.bindAddr.toLowerCase()
    if (publicBinds.has(bindAddr)) return no('public binds are never allowed')
    if (this.#forwards.size >= MAX_FORWARDS) return no('too many forwards')

    if (loopbackBinds.has(bindAddr)) {
      const port = this.device.ssh_port
      if (port === null) return no('device has no assigned port')
      if (info.bindPort !== 0 && info.bindPort !== port) return no(`only the assigned port ${port} may be forwarded`)
      try {
        await this.#bindSshPort(bindAddr, info.bindPort, port)
      } catch (err) {
        return no(`cannot bind 127.0.0.1:${port}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
      }
      return ok(port)
    }

    if (!serviceNamePattern.test(bindAddr) || net.isIP(bindAddr)) return no('bind address is neither loopback nor a service name')
    if (info.bindPort < 1 || info.bindPort > 65535) return no('service port out of range')
    this.#forwards.set(`${bindAddr}:${info.bindPort}`, { kind: 'service', bind_address: bindAddr, bind_port: info.bindPort, gateway_port: null })
    ok()
  }

  async #bindSshPort(requestedAddr: string, requestedPort: number, port: number): Promise<void> {
    const key = `ssh:${port}`
    if (this.#forwards.has(key)) return
    const server = net.createServer((socket) => this.#forwardSsh(socket, requestedAddr, requestedPort === 0 ? port : requestedPort))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      // Loopback only: tools on the gateway host reach the device, nothing else does.
      server.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
        server.off('error', reject)
        resolve()
      })
    })
    if (this.#closed) {
      server.close()
      throw new Error('session closed')
    }
    this.#forwards.set(key, { kind: 'ssh', bind_address: requestedAddr, bind_port: requestedPort, gateway_port: port, server })
  }

  #forwardSsh(socket: net.Socket, bindAddr: string, bindPort: number) {
    socket.setNoDelay(true)
    socket.on('error', () => socket.destroy())
    this.#sockets.add(socket)
    socket.on('close', () => this.#sockets.delete(socket))
    try {
      this.#connection.forwardOut(bindAddr, bindPort, socket.remoteAddress ?? '127.0.0.1', socket.remotePort ?? 0, (err, channel) => {
        if (err) return socket.destroy()
        splice(socket, channel)
      })
    } catch (err) {
      // A connection torn down under us throws here rather than calling back: that ends this socket, not the gateway.
      this.#logger.warn({ err }, 'could not open a channel to the device sshd')
      socket.destroy()
    }
  }

  #cancel(info: TcpipBindInfo): boolean {
    const bindAddr = info.bindAddr.toLowerCase()
    const key = loopbackBinds.has(bindAddr) ? `ssh:${this.device.ssh_port}` : `${bindAddr}:${info.bindPort}`
    const forward = this.#forwards.get(key)
    if (!forward) return false
    forward.server?.close()
    this.#forwards.delete(key)
    return true
  }

  /** Opens a channel to the device's own sshd, the way its loopback port would. */
  openSshChannel(): Promise<ServerChannel> {
    const forward = [...this.#forwards.values()].find((f) => f.kind === 'ssh')
    if (!forward) return Promise.reject(new Error('the device does not forward its SSH daemon'))
    return this.openServiceChannel(forward.bind_address, forward.bind_port === 0 ? forward.gateway_port! : forward.bind_port, { address: '127.0.0.1', port: 0 })
  }

  /** Opens a channel to a service the device forwards (`bindAddr:bindPort` as it asked). */
  openServiceChannel(name: string, port: number, origin: { address: string; port: number }): Promise<ServerChannel> {
    return new Promise((resolve, reject) => {
      if (this.#closed) return reject(new Error('device session closed'))
      this.#connection.forwardOut(name, port, origin.address, origin.port, (err, channel) => {
        if (err) return reject(err)
        resolve(asSocketLike(channel))
      })
    })
  }

  /** Closes the port listener and the SSH connection; resolves when the port is free again. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed = true
      const servers = [...this.#forwards.values()].flatMap((f) => (f.server ? [f.server] : []))
      this.#forwards.clear()
      const listenersClosed = Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))))
      for (const socket of this.#sockets) socket.destroy()
      this.#connection.end()
      await listenersClosed
    })()
    return this.#closing
  }
}
