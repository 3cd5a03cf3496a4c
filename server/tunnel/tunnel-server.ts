import net from 'node:net'
import ssh2, { type AuthContext, type Connection } from 'ssh2'
import type { Logger } from '../logger.js'
import { listen } from '../http/listen.js'
import { batchWrites } from './batch-writes.js'
import type { DeviceAuthenticator, DeviceKeyRecord } from './device-authenticator.js'
import { DeviceSession } from './device-session.js'
import type { SshAuthLimiter } from './auth-limiter.js'
import type { StatusRecorder } from './status-recorder.js'
import type { TunnelRegistry } from './tunnel-registry.js'
import { sshHostKey, type HostKey } from './host-key.js'
import type { ServerChannel } from 'ssh2'
import { asSocketLike } from '../../shared/channel-socket.js'

/** Serves `direct-tcpip` channels that devices open to the gateway itself (the agent API). */
export interface InTunnelService {
  accepts(destHost: string, destPort: number): boolean
  /** Takes a channel already identified as coming from `session`'s device. */
  handle(channel: ServerChannel, session: DeviceSession): void
}

export interface TunnelServerOptions {
  port: number
  host: string
  /** Seconds between keepalives, and how many may go unanswered before the peer is declared dead. */
  keepaliveIntervalSeconds?: number
  keepaliveCountMax?: number
  /** Handshakes (connect to authenticated) served at once; the rest wait their turn, first come first served. */
  maxConcurrentHandshakes?: number
}

/**
 * The SSH endpoint devices dial. It authenticates devices by key, turns their
 * remote-forward requests into a session in the registry, and tears it all
 * down on every close path.
 */
export function createTunnelServer(deps: {
  hostKey: HostKey
  authenticator: DeviceAuthenticator
  authLimiter: SshAuthLimiter
  registry: TunnelRegistry
  status: StatusRecorder
  logger: Logger
  options: TunnelServerOptions
  /** Where device-opened channels may go; everything else is refused. */
  inTunnelServices?: InTunnelService[]
}) {
  const { authenticator, authLimiter, registry, status, logger, options } = deps
  const connections = new Set<Connection>()

  const server = new ssh2.Server(
    {
      // Parsed once and signing with a KeyObject: see sshHostKey.
      hostKeys: [{ key: sshHostKey(deps.hostKey.privateKey) }],
      ident: 'Edgetainer',
      // Undocumented in ssh2 but honoured by its Server: detects peers that vanished without a FIN.
      keepaliveInterval: (options.keepaliveIntervalSeconds ?? 15) * 1000,
      keepaliveCountMax: options.keepaliveCountMax ?? 3,
    } as ssh2.ServerConfig,
    (connection, info) => handleConnection(connection, info.ip),
  )

  // Admission: a reconnect storm of thousands of devices must not turn into
  // thousands of interleaved key exchanges that all finish late and time out.
  // Sockets wait paused (nothing read, nothing computed) and are handed to ssh2
  // a few at a time; a handshake's slot frees when it authenticates or fails.
  const maxHandshakes = options.maxConcurrentHandshakes ?? 32
  const waiting: net.Socket[] = []
  const releases = new WeakMap<net.Socket, () => void>()
  let handshaking = 0
  function admit() {
    while (handshaking < maxHandshakes && waiting.length) {
      const socket = waiting.shift()!
      if (socket.destroyed) continue
      handshaking++
      let released = false
      const release = () => {
        if (released) return
        released = true
        handshaking--
        admit()
      }
      releases.set(socket, release)
      socket.once('close', release)
      socket.resume()
      server.injectSocket(socket)
    }
  }
  const front = net.createServer({ pauseOnConnect: true, noDelay: true }, (socket) => {
    socket.on('error', () => socket.destroy())
    waiting.push(socket)
    admit()
  })

  function handleConnection(connection: Connection, ip: string) {
    connections.add(connection)
    const sock = (connection as unknown as { _sock?: net.Socket })._sock
    const release = (sock && releases.get(sock)) || (() => {})
    let device: DeviceKeyRecord | undefined
    let session: DeviceSession | undefined
    let ready: Promise<void> = Promise.resolve()
    const log = logger.child({ remote: ip })
    // ssh2 exposes the raw socket only privately; Nagle on it adds ~45 ms per proxied request.
    if (sock) {
      sock.setNoDelay(true)
      batchWrites(sock)
    }

    connection.on('authentication', (ctx: AuthContext) => {
      void authenticate(ctx)
    })

    async function authenticate(ctx: AuthContext) {
      if (await authLimiter.blocked(ip)) {
        log.warn('ssh authentication refused: too many failures from this address')
        ctx.reject([])
        return connection.end()
      }
      if (ctx.method !== 'publickey') return ctx.reject(['publickey'])
      const record = device?.device_id === ctx.username ? device : await authenticator.lookup(ctx.username)
      if (record && authenticator.keyMatches(record, ctx)) {
        device = record
        return ctx.accept()
      }
      // A key query without signature is a normal probe, but still counts: scanners probe too.
      await authLimiter.recordFailure(ip)
      log.warn({ user: ctx.username.slice(0, 64) }, 'ssh authentication failed')
      ctx.reject(['publickey'])
    }

    connection.on('ready', () => {
      release()
      if (!device) return connection.end()
      session = new DeviceSession(device, connection, ip, logger)
      const previous = registry.register(session)
      log.info({ device: device.device_id, replaced: Boolean(previous) }, 'device tunnel up')
      // Forwards wait until the replaced session has released the device's port.
      ready = previous ? previous.close() : Promise.resolve()
      status.online(device, ip)
    })

    connection.on('request', (accept, reject, name, info) => {
      if (!session) return reject?.()
      const current = session
      void ready.then(() => current.handleRequest(accept, reject, name, info as ssh2.TcpipBindInfo))
    })

    // Devices get no shell or exec, and outbound TCP only to the gateway's own in-tunnel services.
    connection.on('session', (_accept, reject) => reject())
    connection.on('tcpip', (accept, reject, info) => {
      const service = session && !session.closed ? deps.inTunnelServices?.find((s) => s.accepts(info.destIP, info.destPort)) : undefined
      if (!service || !session) return reject()
      service.handle(asSocketLike(accept()), session)
    })
    connection.on('error', (err) => log.debug({ err: err.message }, 'ssh connection error'))
    connection.on('close', () => {
      connections.delete(connection)
      if (!session) return
      const closing = session
      void closing.close()
      if (registry.remove(closing)) {
        status.offline(closing.device)
        log.info({ device: closing.device.device_id }, 'device tunnel down')
      }
    })
  }

  let boundPort: number | undefined
  return {
    server,
    get port() {
      return boundPort
    },
    async listen(): Promise<number> {
      boundPort = await listen(front, options.port, options.host, 'SSH')
      return boundPort
    },
    async close(): Promise<void> {
      // ssh2's Server wraps a net.Server but has no `listening` flag, so close it directly.
      const closing = boundPort === undefined ? Promise.resolve() : new Promise<void>((resolve) => front.close(() => resolve()))
      for (const socket of waiting.splice(0)) socket.destroy()
      for (const c of connections) c.end()
      await Promise.all([...registry.sessions()].map((s) => s.close()))
      // A peer that does not answer the disconnect must not hold shutdown: cut its socket after a grace period.
      const cut = setTimeout(() => {
        for (const c of connections) (c as unknown as { _sock?: net.Socket })._sock?.destroy()
      }, 2000)
      await closing
      clearTimeout(cut)
    },
    /** Drops one device's tunnel (device deleted, key changed). */
    async disconnect(deviceUuid: string): Promise<void> {
      await registry.get(deviceUuid)?.close()
    },
  }
}

export type TunnelServer = ReturnType<typeof createTunnelServer>
