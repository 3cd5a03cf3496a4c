import http, { type IncomingMessage } from 'node:http'
import https from 'node:https'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Logger } from '../logger.js'
import { statusOf, type ErrorCode } from '../error-codes.js'
import { splice } from '../../shared/channel-socket.js'
import type { TunnelRegistry } from '../tunnel/tunnel-registry.js'
import { PEER_PROTOCOL, type PeerAuth } from './peer-auth.js'
import { peerTlsServerOptions } from './peer-tls.js'

/** The one path of the peer channel; its query names the device and what to open on it. */
export const PEER_CHANNEL_PATH = '/peer/v1/channel'

/** What a peer asks for: the device's sshd, or one service it forwards. */
export type PeerTarget = { device: string; kind: 'ssh' } | { device: string; kind: 'service'; name: string; port: number }

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const serviceNamePattern = /^[a-z0-9][a-z0-9_.-]{0,62}$/

export function peerTargetPath(target: PeerTarget): string {
  const q = new URLSearchParams({ device: target.device })
  if (target.kind === 'service') {
    q.set('service', target.name)
    q.set('port', String(target.port))
  } else q.set('ssh', '1')
  return `${PEER_CHANNEL_PATH}?${q}`
}

/** The target of a (signed) path, or undefined when it is not one this node would ever sign. */
export function parsePeerTarget(rawPath: string): PeerTarget | undefined {
  const at = rawPath.indexOf('?')
  if (at < 0 || rawPath.slice(0, at) !== PEER_CHANNEL_PATH) return undefined
  const q = new URLSearchParams(rawPath.slice(at + 1))
  const device = q.get('device') ?? ''
  if (!uuidPattern.test(device)) return undefined
  if (q.get('ssh') === '1') return { device, kind: 'ssh' }
  const name = (q.get('service') ?? '').toLowerCase()
  const port = Number(q.get('port'))
  if (!serviceNamePattern.test(name) || !Number.isInteger(port) || port < 1 || port > 65535) return undefined
  return { device, kind: 'service', name, port }
}

/** A refusal with `{error, code}`, then the connection closes: the peer opens one connection per channel. */
function refuse(socket: Duplex, code: ErrorCode, message: string) {
  if (socket.destroyed || !socket.writable) return socket.destroy()
  const body = JSON.stringify({ error: message, code })
  socket.end(`HTTP/1.1 ${statusOf(code)} ${code}\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
}

const UNAUTHORIZED = 'peer authentication failed'

/** Unauthenticated peer connections at once: far above a burst of new channels between busy nodes (a handshake takes a round trip), and a bound on what a flood can hold (some tens of KiB each). */
export const DEFAULT_MAX_PENDING = 1024
const DROP_WARNING_INTERVAL_MS = 10_000

/**
 * The owning node's side of forwarding: another node of the cluster asks, with
 * a signed upgrade, for a channel into a device tunnel this node holds. The
 * channel is opened on the local tunnel exactly as a local request would open
 * it, and the two are spliced. This listener never forwards: a device not held
 * here is a FORWARD_LOOP refusal (the caller re-reads the owner and may retry).
 *
 * With `psk` (peer_tls on, the default) the listener speaks TLS 1.3 with that
 * pre-shared key only (peer-tls.ts) and the signed upgrade runs inside it; a
 * connection that does not complete that handshake in `handshakeTimeoutMs`
 * (plain HTTP, a stranger's bytes, a wrong key, silence) is closed with a TLS
 * alert at most, never an HTTP answer.
 * Without it (peer_tls off) the same upgrade arrives in clear.
 */
export function createPeerListener(deps: {
  auth: PeerAuth
  registry: TunnelRegistry
  logger: Logger
  psk: Buffer | undefined
  handshakeTimeoutMs?: number
  /** Connections at once that have not yet become a channel (TLS handshake, then the signed upgrade). */
  maxPending?: number
}) {
  const { auth, registry, logger } = deps
  const handshakeTimeoutMs = deps.handshakeTimeoutMs ?? 10_000
  const maxPending = deps.maxPending ?? DEFAULT_MAX_PENDING
  const httpOptions = { requestTimeout: handshakeTimeoutMs, headersTimeout: handshakeTimeoutMs, maxHeaderSize: 8192 }
  const server = deps.psk ? https.createServer({ ...httpOptions, ...peerTlsServerOptions(deps.psk, handshakeTimeoutMs) }) : http.createServer(httpOptions)
  const open = new Set<Duplex>()
  /*
   * Each handshake costs CPU and memory before anything is authenticated, so their number is capped:
   * whoever can reach the peer port could otherwise open them faster than the timeout ends them. The
   * cap is Node's own connection limit, set to the open channels plus `maxPending`: Node counts every
   * connection itself (no counter of ours to drift) and closes one past the limit before any TLS or
   * JavaScript object exists for it. Channels never count against the cap, however many there are.
   */
  const syncConnectionLimit = () => {
    server.maxConnections = open.size + maxPending
  }
  syncConnectionLimit()
  let dropped = 0
  let dropWarnedAt = 0
  server.on('drop', () => {
    dropped++
    // One line per interval at most: the flood that causes this must not also flood the log.
    if (Date.now() - dropWarnedAt < DROP_WARNING_INTERVAL_MS) return
    dropWarnedAt = Date.now()
    logger.warn({ refused: dropped, max_pending: maxPending }, 'peer listener: too many connections still handshaking; refusing new ones until some finish or time out')
  })
  // Every TCP connection, handshaking ones included: closeAllConnections() only knows those past the TLS handshake.
  const connections = new Set<Socket>()
  server.on('connection', (socket: Socket) => {
    connections.add(socket)
    socket.once('close', () => connections.delete(socket))
  })
  // A failed or timed-out TLS handshake: Node has already destroyed that socket. Only its code is
  // logged (OpenSSL's text names no key, but nothing of the handshake needs keeping).
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: { remoteAddress?: string }) => {
    logger.debug({ code: err.code ?? 'error', remote: socket.remoteAddress }, 'peer TLS handshake refused')
  })

  // Plain requests: nothing is served without the upgrade, and nothing says why.
  server.on('request', (req: IncomingMessage, res: http.ServerResponse) => {
    const verdict = auth.verify(req.method ?? '', req.url ?? '', req.headers)
    const code: ErrorCode = verdict.ok ? 'BAD_UPGRADE' : 'PEER_UNAUTHORIZED'
    res.writeHead(statusOf(code), { 'Content-Type': 'application/json', Connection: 'close' })
    res.end(JSON.stringify({ error: verdict.ok ? `the peer channel needs Upgrade: ${PEER_PROTOCOL}` : UNAUTHORIZED, code }))
  })

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy())
    try {
      serve(req, socket, head)
    } catch (err) {
      logger.error({ err }, 'peer channel failed')
      socket.destroy()
    }
  })
  // A client's malformed bytes end that connection only.
  server.on('clientError', (_err, socket: Duplex) => socket.destroy())

  function serve(req: IncomingMessage, socket: Duplex, head: Buffer) {
    const verdict = auth.verify(req.method ?? '', req.url ?? '', req.headers)
    if (!verdict.ok) return refuse(socket, 'PEER_UNAUTHORIZED', UNAUTHORIZED)
    if (req.method !== 'GET' || req.headers.upgrade !== PEER_PROTOCOL) return refuse(socket, 'BAD_UPGRADE', `the peer channel needs GET with Upgrade: ${PEER_PROTOCOL}`)
    const target = parsePeerTarget(req.url ?? '')
    if (!target) return refuse(socket, 'BAD_REQUEST', 'the peer channel path names no device channel')
    const session = registry.get(target.device)
    if (!session || session.closed) {
      return refuse(socket, 'FORWARD_LOOP', 'this node does not hold the device tunnel, and a forwarded request is never forwarded again')
    }
    if (target.kind === 'service' && !session.hasServiceForward(target.name, target.port)) {
      return refuse(socket, 'SERVICE_NOT_CONNECTED', 'the device is online but does not forward this service right now')
    }
    const opening = target.kind === 'ssh' ? session.openSshChannel() : session.openServiceChannel(target.name, target.port, { address: '127.0.0.1', port: 0 })
    const remote = (req.socket as { remoteAddress?: string }).remoteAddress
    opening.then(
      (channel) => {
        channel.on('error', () => channel.destroy())
        if (socket.destroyed) return channel.destroy()
        socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${PEER_PROTOCOL}\r\n\r\n`)
        ;(socket as { setNoDelay?: (v: boolean) => void }).setNoDelay?.(true)
        if (head.length) channel.write(head)
        open.add(socket)
        syncConnectionLimit()
        socket.once('close', () => {
          open.delete(socket)
          syncConnectionLimit()
        })
        splice(socket, channel)
        logger.debug({ from: verdict.from, remote, device: target.device, kind: target.kind }, 'peer channel opened')
      },
      (err: Error) => {
        logger.debug({ err: err.message, device: target.device }, 'peer channel: the device did not open the channel')
        refuse(socket, target.kind === 'ssh' ? 'SERVICE_NOT_CONNECTED' : 'SERVICE_UNREACHABLE', 'the device did not open the channel')
      },
    )
  }

  return {
    /** Binds the peer listener; resolves with the bound port (0 asks the system for one). */
    listen(host: string, port: number): Promise<number> {
      return new Promise((resolve, reject) => {
        server.once('error', reject)
        // exclusive: in a `--workers` process, listen() otherwise goes through the primary, which shares one handle
        // per address among the workers and deals connections out in turn; port 0 then gave every worker the same
        // peer port, and a forwarded connection reached the worker without the device half the time.
        server.listen({ host, port, exclusive: true }, () => {
          server.off('error', reject)
          // After listen, an accept failure (EMFILE) is emitted here; unheard it would end the process.
          server.on('error', (err) => logger.error({ err: err.message }, 'peer listener error'))
          resolve((server.address() as { port: number }).port)
        })
      })
    },
    async close() {
      for (const socket of open) socket.destroy()
      for (const socket of connections) socket.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

export type PeerListener = ReturnType<typeof createPeerListener>
