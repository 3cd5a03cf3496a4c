import https from 'node:https'
import type net from 'node:net'
import { Duplex } from 'node:stream'
import tls from 'node:tls'
import type { RequestHandler, UpgradeHandler } from '../http/front-door.js'
import { closeServer, listen, stopAccepting, trackUpgrades } from '../http/listen.js'
import type { Logger } from '../logger.js'
import { ACME_TLS_PROTOCOL, type AlpnChallenges } from './alpn-challenge.js'
import { secureOptions } from './certificate-cache.js'
import { parseClientHello } from './client-hello.js'
import type { SniCallback } from './sni-callback.js'
import { awaitProxyHeader, proxyPeers } from '../net/proxy-protocol.js'

const HELLO_TIMEOUT_MS = 10_000

/**
 * Bytes already read from a socket, then the socket itself. A TLS server that
 * wraps a net.Socket reads its handle directly, so bytes we peeked at must be
 * handed over through a stream instead.
 */
class PrefixedSocket extends Duplex {
  constructor(
    readonly socket: net.Socket,
    prefix: Buffer,
  ) {
    super()
    this.push(prefix)
    socket.on('data', (chunk) => {
      if (!this.push(chunk)) socket.pause()
    })
    socket.on('end', () => this.push(null))
    socket.on('error', (err) => this.destroy(err))
    socket.on('close', () => this.destroy())
  }
  override _read() {
    this.socket.resume()
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void) {
    this.socket.write(chunk, callback)
  }
  override _final(callback: () => void) {
    this.socket.end(callback)
  }
  override _destroy(err: Error | null, callback: (err: Error | null) => void) {
    this.socket.destroy()
    callback(err)
  }
}

/**
 * The HTTPS listener: TLS 1.2+, a certificate per SNI name, HTTP/1.1 and
 * WebSocket upgrades through the same front door as plain HTTP, and an
 * optional Strict-Transport-Security header. While a TLS-ALPN-01 validation
 * runs it reads each ClientHello first and answers `acme-tls/1` handshakes
 * with the challenge certificate; otherwise connections go straight to TLS.
 */
export function createHttpsListener(deps: {
  handleRequest: RequestHandler
  handleUpgrade: UpgradeHandler
  sniCallback: SniCallback | undefined
  alpn: AlpnChallenges
  hstsMaxAge: number
  logger: Logger
  /** Load balancers whose connections start with a PROXY header naming the client (`proxy_protocol_from`). */
  proxyProtocolFrom?: readonly string[]
}) {
  const { alpn, logger } = deps
  const fromBalancer = proxyPeers(deps.proxyProtocolFrom ?? [])
  /** The certificate for clients that send no server name, for the TLS sockets started here (Node's own use the server's). */
  let defaultContext = tls.createSecureContext(secureOptions)
  const hsts = deps.hstsMaxAge > 0 ? `max-age=${deps.hstsMaxAge}` : undefined
  const server = https.createServer({ ...secureOptions, SNICallback: deps.sniCallback, ALPNProtocols: ['http/1.1'] }, (req, res) => {
    if (hsts) res.setHeader('Strict-Transport-Security', hsts)
    deps.handleRequest(req, res)
  })
  server.on('upgrade', deps.handleUpgrade)
  trackUpgrades(server)
  server.on('tlsClientError', (err) => logger.debug({ err: err.message }, 'TLS handshake failed'))

  // The TLS server's own connection handler, called by us (documented as injectable) after our look at the ClientHello.
  const startTls = server.listeners('connection') as ((socket: Duplex) => void)[]
  server.removeAllListeners('connection')
  const peeking = new Set<net.Socket>()
  const challengeSockets = new Set<tls.TLSSocket>()
  const handshaking = new Set<tls.TLSSocket>()
  server.on('connection', (socket: net.Socket) => {
    if (!fromBalancer(socket.remoteAddress)) return route(socket, undefined)
    awaitProxyHeader(socket, HELLO_TIMEOUT_MS).then(
      (rest) => route(socket, rest),
      (err: Error) => logger.warn({ remote: socket.remoteAddress, err: err.message }, 'HTTPS connection from the load balancer refused'),
    )
      // Whatever the hand-over to TLS throws ends this connection, never the process.
      .catch((err: unknown) => {
        logger.error({ err }, 'HTTPS connection setup failed')
        socket.destroy()
      })
  })

  /** `read`: bytes already taken off the socket (after a PROXY header), which Node's TLS server could not be handed. */
  function route(socket: net.Socket, read: Buffer | undefined) {
    if (alpn.active()) peek(socket, read ?? Buffer.alloc(0))
    else if (read === undefined) handOver(socket)
    else startTlsOver(new PrefixedSocket(socket, read), socket)
  }

  function handOver(socket: Duplex) {
    for (const listener of startTls) listener.call(server, socket)
  }

  /**
   * TLS over a stream rather than a socket, started here because a TLS socket over a stream knows no
   * peer address: it takes the raw socket's (the client's, after a PROXY header), which every limiter
   * and audit row reads. Once secure it joins the HTTPS server like any other connection.
   */
  function startTlsOver(stream: Duplex, raw: net.Socket) {
    const secure = new tls.TLSSocket(stream, { isServer: true, server, secureContext: defaultContext, SNICallback: deps.sniCallback, ALPNProtocols: ['http/1.1'] })
    for (const key of ['remoteAddress', 'remotePort', 'remoteFamily'] as const) Object.defineProperty(secure, key, { value: raw[key], configurable: true })
    handshaking.add(secure)
    const timer = setTimeout(() => secure.destroy(), HELLO_TIMEOUT_MS)
    const settled = () => {
      clearTimeout(timer)
      handshaking.delete(secure)
    }
    secure.once('secure', () => {
      settled()
      server.emit('secureConnection', secure)
    })
    secure.on('error', (err) => {
      if (handshaking.has(secure)) server.emit('tlsClientError', err, secure)
      settled()
      secure.destroy()
    })
    secure.once('close', settled)
  }

  function peek(socket: net.Socket, read: Buffer) {
    let buffered = Buffer.alloc(0)
    peeking.add(socket)
    const timer = setTimeout(() => socket.destroy(), HELLO_TIMEOUT_MS)
    const done = () => {
      clearTimeout(timer)
      peeking.delete(socket)
      socket.off('data', onData)
    }
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk])
      const hello = parseClientHello(buffered)
      if (hello === 'incomplete') return
      done()
      socket.pause()
      const stream = new PrefixedSocket(socket, buffered)
      const context = hello !== 'other' && hello.servername && hello.alpn.includes(ACME_TLS_PROTOCOL) ? alpn.contextFor(hello.servername) : undefined
      if (context) answerChallenge(stream, context)
      else startTlsOver(stream, socket)
    }
    socket.on('data', onData)
    socket.once('close', done)
    socket.on('error', () => socket.destroy())
    if (read.length) onData(read)
    if (peeking.has(socket)) socket.resume()
  }

  function answerChallenge(stream: Duplex, context: tls.SecureContext) {
    const socket = new tls.TLSSocket(stream, { isServer: true, secureContext: context, ALPNProtocols: [ACME_TLS_PROTOCOL] })
    challengeSockets.add(socket)
    socket.setTimeout(HELLO_TIMEOUT_MS, () => socket.destroy())
    // The validator only looks at the certificate; there is nothing to serve after the handshake.
    socket.on('secure', () => socket.end())
    socket.on('error', () => socket.destroy())
    socket.on('close', () => challengeSockets.delete(socket))
  }

  return {
    /** The certificate for clients that send no server name. */
    setDefaultCertificate(certPem: string, keyPem: string) {
      server.setSecureContext({ ...secureOptions, cert: certPem, key: keyPem })
      defaultContext = tls.createSecureContext({ ...secureOptions, cert: certPem, key: keyPem })
    },
    listen: (port: number, host: string) => listen(server, port, host, 'HTTPS'),
    /** A draining node: no new connections, the open ones finish. */
    stopAccepting: () => void stopAccepting(server),
    async close() {
      for (const socket of peeking) socket.destroy()
      for (const socket of challengeSockets) socket.destroy()
      for (const socket of handshaking) socket.destroy()
      await closeServer(server)
    },
  }
}

export type HttpsListener = ReturnType<typeof createHttpsListener>
