import net from 'node:net'
import ssh2, { type AuthContext, type Connection } from 'ssh2'
import type { Logger } from '../logger.js'
import { listen } from '../http/listen.js'
import { deviceIdPattern } from '../devices/device-store.js'
import { batchWrites } from './batch-writes.js'
import { authenticatedDevice, type DeviceAuthenticator, type DeviceKeyRecord } from './device-authenticator.js'
import { DeviceSession } from './device-session.js'
import type { SshAuthLimiter } from './auth-limiter.js'
import type { SessionClaim, StatusRecorder } from './status-recorder.js'
import type { TunnelRegistry } from './tunnel-registry.js'
import { sshHostKey, type HostKey } from './host-key.js'
import { awaitProxyHeader, proxyPeers } from '../net/proxy-protocol.js'
import { createPreauthGate, defaultPreauthLimits, type PreauthLimits } from './preauth-gate.js'
import type { ServerChannel } from 'ssh2'
import { asSocketLike } from '../../shared/channel-socket.js'
import { rawX25519Keys, releaseHandshakeState, sendServerIdentEarly, sshSocket, withoutBufferPool } from '../../shared/ssh2-internals.js'
import { USER_LOGIN_PREFIX, type JumpAuthenticator, type JumpUser } from '../ssh-access/jump-authenticator.js'
import type { JumpHost } from '../ssh-access/jump-host.js'

/** Serves `direct-tcpip` channels that devices open to the gateway itself (the agent API). */
export interface InTunnelService {
  accepts(destHost: string, destPort: number): boolean
  /** Takes a channel already identified as coming from `session`'s device. */
  handle(channel: ServerChannel, session: DeviceSession): void
}

export interface TunnelServerOptions extends Partial<PreauthLimits> {
  port: number
  host: string
  /** Seconds between keepalives, and how many may go unanswered before the peer is declared dead. */
  keepaliveIntervalSeconds?: number
  keepaliveCountMax?: number
  /** Channels a device may hold open to in-tunnel services at once; more are refused. */
  maxChannelsPerDevice?: number
  /** Load balancers whose connections start with a PROXY header naming the device's address (`proxy_protocol_from`). */
  proxyProtocolFrom?: readonly string[]
  /** How long a balancer's connection may take to send its PROXY header. */
  proxyHeaderTimeoutMs?: number
}

const IDENT = 'Edgetainer'

/**
 * The SSH endpoint devices dial. It authenticates devices by key, turns their
 * remote-forward requests into a session in the registry, and tears it all
 * down on every close path. Every handler catches its own failure: nothing a
 * peer sends, and no database error, may end the process.
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
  /** People on the same port, as `u:<username>`: the jump host (docs/admin-access.md). */
  jump?: { authenticator: JumpAuthenticator; host: JumpHost }
}) {
  const { authenticator, authLimiter, registry, status, logger, options } = deps
  const connections = new Set<Connection>()
  const maxChannels = options.maxChannelsPerDevice ?? 32

  const server = new ssh2.Server(
    {
      // Parsed once and signing with a KeyObject: see sshHostKey.
      hostKeys: [{ key: sshHostKey(deps.hostKey.privateKey) }],
      ident: IDENT,
      // Undocumented in ssh2 but honoured by its Server (see shared/ssh2-internals.ts): detects peers that vanished without a FIN.
      keepaliveInterval: (options.keepaliveIntervalSeconds ?? 15) * 1000,
      keepaliveCountMax: options.keepaliveCountMax ?? 3,
    } as ssh2.ServerConfig,
    (connection, info) => {
      try {
        handleConnection(connection, info.ip)
      } catch (err) {
        logger.error({ err }, 'ssh connection setup failed')
        sshSocket(connection)?.destroy()
      }
    },
  )
  server.on('error', (err: Error) => logger.error({ err }, 'ssh server error'))

  const gate = createPreauthGate({
    limits: {
      loginGraceMs: options.loginGraceMs ?? defaultPreauthLimits.loginGraceMs,
      maxUnauthenticated: options.maxUnauthenticated ?? defaultPreauthLimits.maxUnauthenticated,
      maxUnauthenticatedPerAddress: options.maxUnauthenticatedPerAddress ?? defaultPreauthLimits.maxUnauthenticatedPerAddress,
      maxConcurrentHandshakes: options.maxConcurrentHandshakes ?? defaultPreauthLimits.maxConcurrentHandshakes,
      handshakeSlotMs: options.handshakeSlotMs ?? defaultPreauthLimits.handshakeSlotMs,
    },
    logger,
    handshake: (socket) => {
      socket.resume()
      // What ssh2 sets up here lives as long as the connection: kept out of the shared Buffer pool (see withoutBufferPool).
      withoutBufferPool(() => server.injectSocket(socket))
    },
  })
  const admit = (socket: net.Socket) => {
    if (gate.admit(socket)) sendServerIdentEarly(socket, IDENT)
  }
  const fromBalancer = proxyPeers(options.proxyProtocolFrom ?? [])
  // Sockets arrive paused; the gate decides when ssh2 may read them. Behind a balancer the gate counts
  // the device's address from the PROXY header, not the balancer's (which every device would share).
  const front = net.createServer({ pauseOnConnect: true, noDelay: true }, (socket) => {
    if (!fromBalancer(socket.remoteAddress)) return admit(socket)
    awaitProxyHeader(socket, options.proxyHeaderTimeoutMs ?? 5000).then(
      (rest) => {
        if (rest.length) socket.unshift(rest)
        admit(socket)
      },
      (err: Error) => logger.warn({ remote: socket.remoteAddress, err: err.message }, 'ssh connection from the load balancer refused'),
    )
      // Whatever the hand-over throws ends this connection, never the process.
      .catch((err: unknown) => {
        logger.error({ err }, 'ssh connection setup failed')
        socket.destroy()
      })
  })
  front.on('error', (err) => logger.error({ err }, 'ssh listener error'))

  function handleConnection(connection: Connection, ip: string) {
    connections.add(connection)
    const sock = sshSocket(connection)
    let device: DeviceKeyRecord | undefined
    let person: JumpUser | undefined
    let jump: ReturnType<JumpHost['attach']> | undefined
    let session: DeviceSession | undefined
    // This connection's claim on the device row: its disconnect only counts while the row still carries its epoch.
    let claim: SessionClaim | undefined
    let ready: Promise<void> = Promise.resolve()
    let openChannels = 0
    // Made on first use, for the rarer lines: a child logger per idle session adds up over thousands.
    let connectionLog: Logger | undefined
    const log = () => (connectionLog ??= logger.child({ remote: ip }))
    // Nagle on the SSH socket adds ~45 ms per proxied request.
    if (sock) {
      sock.setNoDelay(true)
      batchWrites(sock)
    }

    connection.on('authentication', (ctx: AuthContext) => {
      authenticate(ctx).catch((err: unknown) => {
        // A database outage refuses devices; they retry and get in once it is back.
        log().error({ err }, 'ssh authentication could not be checked')
        try {
          ctx.reject(['publickey'])
        } catch {
          connection.end()
        }
      })
    })

    async function authenticate(ctx: AuthContext) {
      if (await authLimiter.blocked(ip)) {
        log().warn('ssh authentication refused: too many failures from this address')
        ctx.reject([])
        return connection.end()
      }
      if (ctx.method !== 'publickey') return ctx.reject(['publickey'])
      if (deps.jump && ctx.username.startsWith(USER_LOGIN_PREFIX)) {
        const result = await deps.jump.authenticator.authenticate(ctx)
        if ('user' in result) {
          if (result.signed) person = result.user
          return ctx.accept()
        }
        await authLimiter.recordFailure(ip)
        log().warn({ user: JSON.stringify(ctx.username.slice(0, 64)), why: result.refused }, 'ssh jump authentication failed')
        return ctx.reject(['publickey'])
      }
      // Not a device id (NUL, control characters, unicode, too long): refused before any query.
      const validName = deviceIdPattern.test(ctx.username)
      const record = !validName ? undefined : device?.device_id === ctx.username ? device : await authenticator.lookup(ctx.username)
      if (record && authenticator.keyMatches(record, ctx)) {
        device = record
        return ctx.accept()
      }
      // A key query without signature is a normal probe, but still counts: scanners probe too.
      await authLimiter.recordFailure(ip)
      log().warn({ user: JSON.stringify(ctx.username.slice(0, 64)), valid_name: validName }, 'ssh authentication failed')
      ctx.reject(['publickey'])
    }

    connection.on('ready', () => {
      if (sock) gate.authenticated(sock)
      rawX25519Keys(connection)
      releaseHandshakeState(connection)
      if (person && deps.jump) {
        jump = deps.jump.host.attach(person, ip, () => connection.end())
        return
      }
      if (!device) return connection.end()
      const authenticated = authenticatedDevice(device)
      device = undefined
      session = new DeviceSession(authenticated, connection, ip, logger)
      const previous = registry.register(session)
      logger.info({ remote: ip, device: authenticated.device_id, replaced: Boolean(previous) }, 'device tunnel up')
      // Forwards wait until the replaced session has released the device's port.
      ready = previous ? previous.close().catch((err: unknown) => log().error({ err }, 'replaced session did not close cleanly')) : Promise.resolve()
      try {
        claim = status.online(authenticated, ip)
      } catch (err) {
        log().error({ err }, 'could not record device online')
      }
    })

    connection.on('request', (accept, reject, name, info) => {
      const refuse = () => {
        try {
          reject?.()
        } catch {
          // the connection is already gone
        }
      }
      if (!session) return refuse()
      const current = session
      ready
        .then(() => current.handleRequest(accept, reject, name, info as ssh2.TcpipBindInfo))
        .catch((err: unknown) => {
          log().error({ err, request: String(name).slice(0, 64) }, 'ssh global request failed')
          refuse()
        })
    })

    // Devices get no shell or exec, and outbound TCP only to the gateway's own in-tunnel services.
    connection.on('session', (accept, reject) => (jump ? jump.session(accept) : reject()))
    connection.on('tcpip', (accept, reject, info) => {
      if (jump) return jump.tcpip(accept, reject, info)
      try {
        const service = session && !session.closed ? deps.inTunnelServices?.find((s) => s.accepts(info.destIP, info.destPort)) : undefined
        if (!service || !session) return reject()
        if (openChannels >= maxChannels) {
          log().warn({ device: session.device.device_id, open: openChannels }, 'in-tunnel channel refused: too many open')
          return reject()
        }
        const channel = accept()
        openChannels++
        channel.once('close', () => openChannels--)
        service.handle(asSocketLike(channel), session)
      } catch (err) {
        log().error({ err }, 'in-tunnel channel failed')
      }
    })
    connection.on('error', (err) => log().debug({ err: err.message }, 'ssh connection error'))
    connection.on('close', () => {
      connections.delete(connection)
      jump?.detach()
      if (!session) return
      const closing = session
      closing.close().catch((err: unknown) => log().error({ err }, 'session did not close cleanly'))
      if (registry.remove(closing)) {
        try {
          if (claim) status.offline(claim)
        } catch (err) {
          log().error({ err }, 'could not record device offline')
        }
        logger.info({ remote: ip, device: closing.device.device_id }, 'device tunnel down')
      }
    })
  }

  let boundPort: number | undefined
  let frontClosed: Promise<void> | undefined
  const stopAccepting = () => (frontClosed ??= boundPort === undefined ? Promise.resolve() : new Promise<void>((resolve) => front.close(() => resolve())))
  return {
    get port() {
      return boundPort
    },
    /** Sockets connected but not yet authenticated (tests and metrics). */
    get unauthenticated() {
      return gate.unauthenticated
    },
    async listen(): Promise<number> {
      boundPort = await listen(front, options.port, options.host, 'SSH')
      return boundPort
    },
    /** A draining node: no new SSH connections (devices reconnect to another node); open sessions stay until closed. */
    stopAccepting(): void {
      void stopAccepting()
    },
    async close(): Promise<void> {
      const closing = stopAccepting()
      gate.close()
      for (const c of connections) c.end()
      await Promise.all([...registry.sessions()].map((s) => s.close()))
      // A peer that does not answer the disconnect must not hold shutdown: cut its socket after a grace period.
      const cut = setTimeout(() => {
        for (const c of connections) sshSocket(c)?.destroy()
      }, 2000)
      await closing
      clearTimeout(cut)
    },
  }
}

export type TunnelServer = ReturnType<typeof createTunnelServer>
