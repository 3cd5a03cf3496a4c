import type { X509Certificate } from 'node:crypto'
import https from 'node:https'
import tls from 'node:tls'

export interface Handshake {
  certificate: X509Certificate
  /** DNS names of the served certificate. */
  hosts: string[]
  serial: string
  authorized: boolean
  authorizationError: string | undefined
  protocol: string | null
  cipher: string
}

export interface HandshakeOptions {
  port: number
  /** SNI; omit to send none. */
  servername?: string
  /** Trust exactly these roots (never the environment's). */
  ca?: string
  minVersion?: tls.SecureVersion
  maxVersion?: tls.SecureVersion
  ciphers?: string
}

/** One TLS handshake with the gateway on 127.0.0.1; resolves with what it served, rejects when it failed. */
export function handshake(options: HandshakeOptions): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port: options.port,
      servername: options.servername ?? '',
      ca: options.ca ?? [],
      rejectUnauthorized: false,
      minVersion: options.minVersion,
      maxVersion: options.maxVersion,
      ciphers: options.ciphers,
      ALPNProtocols: ['http/1.1'],
    })
    socket.setTimeout(15_000, () => socket.destroy(new Error('handshake timed out')))
    socket.once('secureConnect', () => {
      const certificate = socket.getPeerX509Certificate()!
      resolve({
        certificate,
        hosts: (certificate.subjectAltName ?? '')
          .split(/,\s*/)
          .filter((e) => e.startsWith('DNS:'))
          .map((e) => e.slice(4)),
        serial: certificate.serialNumber.toLowerCase(),
        authorized: socket.authorized,
        authorizationError: socket.authorizationError?.toString(),
        protocol: socket.getProtocol(),
        cipher: socket.getCipher().name,
      })
      socket.end()
    })
    socket.once('error', reject)
  })
}

export interface HttpsAnswer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

/** An HTTPS request to `host` (SNI and Host header) on 127.0.0.1, verified against `ca`. */
export function httpsRequest(options: { port: number; host: string; path: string; ca: string; method?: string; headers?: Record<string, string> }): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port: options.port,
        servername: options.host,
        path: options.path,
        method: options.method ?? 'GET',
        headers: { host: `${options.host}:${options.port}`, ...options.headers },
        ca: options.ca,
        agent: false,
      },
      (res) => {
        let body = ''
        res.setEncoding('utf8').on('data', (d: string) => (body += d))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
      },
    )
    req.setTimeout(15_000, () => req.destroy(new Error('request timed out')))
    req.on('error', reject)
    req.end()
  })
}
