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
}) {
  const { alpn, logger } = deps
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
  server.on('connection', (socket: net.Socket) => (alpn.active() ? peek(socket) : handOver(socket)))

  function handOver(socket: Duplex) {
    for (const listener of startTls) listener.call(server, socket)
  }

  function peek(socket: net.Socket) {
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
      else handOver(stream)
    }
    socket.on('data', onData)
    socket.once('close', done)
    socket.on('error', () => socket.destroy())
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
    },
    listen: (port: number, host: string) => listen(server, port, host, 'HTTPS'),
    /** A draining node: no new connections, the open ones finish. */
    stopAccepting: () => void stopAccepting(server),
    async close() {
      for (const socket of peeking) socket.destroy()
      for (const socket of challengeSockets) socket.destroy()
      await closeServer(server)
    },
  }
}

export type HttpsListener = ReturnType<typeof createHttpsListener>
