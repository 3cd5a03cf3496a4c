import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import tls from 'node:tls'
import { crypto as acmeCrypto, type Authorization } from 'acme-client'
import t from 'tap'
import { createLogger } from '../../server/logger.js'
import { createAlpnChallenges } from '../../server/tls/alpn-challenge.js'
import { createHttpsListener } from '../../server/tls/https-listener.js'
import { httpsRequest } from '../lib/tls-client.js'

// The HTTPS listener's TLS-ALPN-01 path, built from its parts: while a validation runs, `acme-tls/1`
// handshakes get the challenge certificate and every other client still gets the real one.
const HOST = 'dev-1.fleet.test'
const KEY_AUTHORIZATION = 'token-123.thumbprint-456'

function acmeTlsHandshake(port: number, servername: string): Promise<{ protocol: string | false | null; pem: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, ALPNProtocols: ['acme-tls/1'], rejectUnauthorized: false }, () => {
      resolve({ protocol: socket.alpnProtocol, pem: socket.getPeerX509Certificate()!.toString() })
      socket.end()
    })
    socket.on('error', reject)
  })
}

t.test('TLS-ALPN-01 answers beside ordinary clients', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'edgetainer-alpn-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', `/CN=${HOST}`, '-keyout', 'key.pem', '-out', 'cert.pem', '-addext', `subjectAltName=DNS:${HOST}`],
    { cwd: dir, stdio: 'ignore' },
  )
  const cert = readFileSync(path.join(dir, 'cert.pem'), 'utf8')
  const key = readFileSync(path.join(dir, 'key.pem'), 'utf8')
  const realContext = tls.createSecureContext({ cert, key })

  const alpn = createAlpnChallenges()
  const listener = createHttpsListener({
    // The peer address too: every limiter and audit row reads it, and a peeked connection is TLS over a stream.
    handleRequest: (req, res) => res.end(`served by the gateway to ${req.socket.remoteAddress}`),
    handleUpgrade: (_req, socket) => socket.end(),
    sniCallback: (_name, cb) => cb(null, realContext),
    alpn,
    hstsMaxAge: 0,
    logger: createLogger('silent'),
  })
  const port = await listener.listen(0, '127.0.0.1')
  t.teardown(() => listener.close())

  const challengeKey = await acmeCrypto.createPrivateEcdsaKey()
  const authz = { identifier: { type: 'dns', value: HOST } } as Authorization
  const [, challengeCert] = await acmeCrypto.createAlpnCertificate(authz, KEY_AUTHORIZATION, challengeKey)
  alpn.set(HOST, challengeCert.toString(), challengeKey.toString())
  t.ok(alpn.active(), 'a validation is running')

  const validator = await acmeTlsHandshake(port, HOST)
  t.equal(validator.protocol, 'acme-tls/1', 'the validator negotiates acme-tls/1')
  t.ok(acmeCrypto.isAlpnCertificateAuthorizationValid(validator.pem, KEY_AUTHORIZATION), 'and sees the key authorization in the certificate')

  const browser = await httpsRequest({ port, host: HOST, path: '/', ca: cert })
  t.equal(browser.status, 200, 'an ordinary client of the same name, at the same moment, gets the real certificate')
  t.equal(browser.body, 'served by the gateway to 127.0.0.1', 'which knows where the client is, though its ClientHello was read first')

  await t.rejects(acmeTlsHandshake(port, 'other.fleet.test'), 'acme-tls/1 for a name not being validated is refused')

  alpn.delete(HOST)
  t.notOk(alpn.active())
  const direct = await httpsRequest({ port, host: HOST, path: '/', ca: cert })
  t.same([direct.status, direct.body], [200, 'served by the gateway to 127.0.0.1'], 'after the validation, connections go straight to TLS')
})
