import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import tls from 'node:tls'
import t from 'tap'
import { waitFor } from '../lib/wait.js'
import { startTestGateway } from '../lib/test-gateway.js'
import { handshake, httpsRequest } from '../lib/tls-client.js'

// Manual certificates (air-gapped sites), the TLS profile, and WebSocket upgrades over TLS.
const BASE = 'fleet.test'
const CONSOLE = `console.${BASE}`

function selfSigned(dir: string, name: string): { cert: string; key: string } {
  const cert = path.join(dir, `${name}.crt`)
  const key = path.join(dir, `${name}.key`)
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '30', '-subj', `/CN=${CONSOLE}`, '-keyout', key, '-out', cert, '-addext', `subjectAltName=DNS:${CONSOLE},DNS:*.${BASE}`],
    { stdio: 'ignore' },
  )
  return { cert, key }
}

function upgradeOverTls(port: number, host: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: host, ca }, () => {
      socket.write(`GET /ws HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`)
    })
    let answer = ''
    socket.setEncoding('utf8').on('data', (d: string) => (answer += d))
    socket.on('end', () => resolve(answer.split('\r\n')[0]!))
    socket.on('error', reject)
  })
}

t.test('a manual certificate from files', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'edgetainer-manual-tls-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const files = selfSigned(dir, 'site')
  const ca = readFileSync(files.cert, 'utf8')
  const gw = await startTestGateway(t, 'postgres', {
    env: { EDGETAINER_TLS_CERT: files.cert, EDGETAINER_TLS_KEY: files.key, EDGETAINER_HTTPS_PORT: '0', EDGETAINER_BASE_DOMAIN: BASE, EDGETAINER_CONSOLE_HOST: CONSOLE },
    start: { tls: { checkIntervalMs: 200 } },
  })
  const port = gw.server.httpsPort!
  t.ok(port > 0, 'the HTTPS listener is on')

  const served = await handshake({ port, servername: CONSOLE, ca })
  t.ok(served.authorized, 'the console is served the configured certificate')
  t.equal((await handshake({ port, servername: `pump.${BASE}`, ca })).serial, served.serial, 'device hosts get it too')
  t.equal((await handshake({ port, ca })).serial, served.serial, 'and clients without SNI')

  const health = await httpsRequest({ port, host: CONSOLE, path: '/healthz', ca })
  t.equal(health.status, 200, 'the console answers over HTTPS')
  t.notOk(health.headers['strict-transport-security'], 'no HSTS unless configured')
  t.match(await upgradeOverTls(port, `ghost.${BASE}`, ca), /^HTTP\/1\.1 404 /, 'WebSocket upgrades over TLS reach the subdomain proxy (which knows no such device)')

  const list = await gw.http.get('/api/certificates', { token: gw.adminToken })
  t.equal(list.body.mode, 'manual')
  t.match(list.body.items, [{ source: 'manual', status: 'manual', hosts: [CONSOLE, `*.${BASE}`], serial: served.serial }])
  const renew = await gw.http.post(`/api/certificates/${CONSOLE}/renew`, undefined, { token: gw.adminToken })
  t.equal(renew.status, 409)
  t.equal(renew.body.code, 'MANUAL_CERTIFICATE')
  const metrics = await gw.http.get('/metrics', { token: gw.adminToken })
  t.match(metrics.body, /edgetainer_tls_certificate_expiry_timestamp_seconds\{name="manual"\} \d+/, 'its expiry is in /metrics')

  const redirect = await new Promise<http.IncomingMessage>((resolve, reject) =>
    http.get({ host: '127.0.0.1', port: gw.server.httpPort, path: '/api/devices', headers: { host: CONSOLE } }, resolve).on('error', reject),
  )
  redirect.resume()
  t.equal(redirect.statusCode, 308)
  t.equal(redirect.headers.location, `https://${CONSOLE}:${port}/api/devices`, 'plain HTTP redirects to HTTPS')

  t.test('TLS 1.2 and 1.3 only, with AEAD ciphers', async (t) => {
    const v13 = await handshake({ port, servername: CONSOLE, ca })
    t.equal(v13.protocol, 'TLSv1.3')
    const v12 = await handshake({ port, servername: CONSOLE, ca, maxVersion: 'TLSv1.2' })
    t.equal(v12.protocol, 'TLSv1.2')
    t.match(v12.cipher, /^ECDHE-ECDSA-(AES\d+-GCM|CHACHA20-POLY1305)/, `forward secret AEAD: ${v12.cipher}`)
    await t.rejects(handshake({ port, servername: CONSOLE, ca, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }), { code: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' }, 'the server refuses TLS 1.1')
    await t.rejects(handshake({ port, servername: CONSOLE, ca, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA:AES128-SHA' }), { code: 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE' }, 'the server refuses CBC ciphers')
  })

  t.test('replacing the files renews the certificate without a restart', async (t) => {
    const next = selfSigned(dir, 'next')
    writeFileSync(files.key, readFileSync(next.key))
    writeFileSync(files.cert, readFileSync(next.cert))
    const nextCa = readFileSync(next.cert, 'utf8')
    const reloaded = await waitFor('the new certificate', async () => {
      const h = await handshake({ port, servername: CONSOLE, ca: nextCa })
      return h.serial !== served.serial ? h : undefined
    }, 30_000)
    t.ok(reloaded.authorized, 'the new certificate is served')
  })
})

t.test('inconsistent TLS settings stop the gateway at start', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'edgetainer-manual-tls-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const files = selfSigned(dir, 'site')
  await t.rejects(startTestGateway(t, 'postgres', { env: { EDGETAINER_TLS_CERT: files.cert, EDGETAINER_HTTPS_PORT: '0' } }), /must be given together/)
  await t.rejects(
    startTestGateway(t, 'postgres', { env: { EDGETAINER_TLS_CERT: files.cert, EDGETAINER_TLS_KEY: files.key, EDGETAINER_ACME_DIRECTORY: 'https://127.0.0.1:9/dir', EDGETAINER_HTTPS_PORT: '0' } }),
    /not both/,
  )
  await t.rejects(startTestGateway(t, 'postgres', { env: { EDGETAINER_TLS_CERT: files.cert, EDGETAINER_TLS_KEY: files.cert, EDGETAINER_HTTPS_PORT: '0' } }), /cannot be used/, 'a key that is not a key')
})
