import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import https from 'node:https'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import fc from 'fast-check'
import t from 'tap'
import { startTcpHaproxy } from '../lib/haproxy.js'
import { newKeyPair } from '../lib/keys.js'
import { holdSocket, registerDevice, trySshLogin } from '../lib/ssh-probes.js'
import { startTestGateway } from '../lib/test-gateway.js'
import { waitFor } from '../lib/wait.js'

// Behind HAProxy passing TCP through (deploy/haproxy.cfg), the gateway reads the client's address from the PROXY
// header: per-address limits count devices and people, not the balancer, and audit rows name the real address.
// Here HAProxy dials the gateway from 127.0.0.1 (proxy_protocol_from) and the clients dial HAProxy from 127.0.0.2+.

const CONSOLE = 'console.fleet.test'

function selfSigned(dir: string): { cert: string; key: string } {
  const cert = path.join(dir, 'site.crt')
  const key = path.join(dir, 'site.key')
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '30', '-subj', `/CN=${CONSOLE}`, '-keyout', key, '-out', cert, '-addext', `subjectAltName=DNS:${CONSOLE}`],
    { stdio: 'ignore' },
  )
  return { cert, key }
}

function loginOverTls(port: number, ca: string, localAddress: string, password: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port, servername: CONSOLE, ca, localAddress, method: 'POST', path: '/api/auth/login', headers: { host: CONSOLE, 'content-type': 'application/json' }, agent: false },
      (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode ?? 0))
      },
    )
    req.on('error', reject)
    req.end(JSON.stringify({ username: 'admin', password }))
  })
}

/** Whatever the gateway sends a connection that writes `bytes` and ends, until it closes (or 3 s pass). */
function sendRaw(port: number, bytes: Buffer): Promise<{ closed: boolean; received: string }> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' })
    let received = ''
    const timer = setTimeout(() => {
      socket.destroy()
      resolve({ closed: false, received })
    }, 3000)
    socket.on('data', (d) => (received += d.toString('latin1')))
    socket.on('error', () => {})
    // Ended, so that a header cut short is closed at once instead of waiting for its deadline.
    socket.once('connect', () => socket.end(bytes))
    socket.once('close', () => {
      clearTimeout(timer)
      resolve({ closed: true, received })
    })
  })
}

t.test('SSH and HTTPS through HAProxy with the PROXY protocol', async (t) => {
  const files = selfSigned(mkdtempSync(path.join(tmpdir(), 'et-proxy-tls-')))
  const ca = readFileSync(files.cert, 'utf8')
  const gw = await startTestGateway(t, 'postgres', {
    env: {
      EDGETAINER_PROXY_PROTOCOL_FROM: '127.0.0.1',
      EDGETAINER_SSH_MAX_UNAUTHENTICATED_PER_ADDRESS: '2',
      EDGETAINER_TLS_CERT: files.cert,
      EDGETAINER_TLS_KEY: files.key,
      EDGETAINER_HTTPS_PORT: '0',
      EDGETAINER_BASE_DOMAIN: 'fleet.test',
      EDGETAINER_CONSOLE_HOST: CONSOLE,
    },
  })
  const [sshPort, httpsPort] = (await startTcpHaproxy(t, [
    { port: gw.server.sshPort, proxy: 'send-proxy-v2' },
    { port: gw.server.httpsPort!, proxy: 'send-proxy' },
  ])) as [number, number]

  await t.test('per-address SSH limits count the device behind the balancer, not the balancer', async (t) => {
    const key = newKeyPair('behind-lb')
    await registerDevice(gw, 'behind-lb', key)
    const silent = [await holdSocket(sshPort, '127.0.0.5'), await holdSocket(sshPort, '127.0.0.5')]
    t.teardown(() => silent.forEach((s) => s.socket.destroy()))
    await waitFor('both silent sockets greeted by the gateway', () => silent.every((s) => s.received().startsWith('SSH-2.0-Edgetainer')), 10_000)
    const third = await holdSocket(sshPort, '127.0.0.5')
    await third.whenClosed
    t.equal(third.received(), '', 'a third silent socket from 127.0.0.5 is refused, without a banner')
    t.equal(await trySshLogin(sshPort, 'behind-lb', key, 15_000, '127.0.0.2'), 'ready', 'a device at 127.0.0.2, through the same balancer, logs in')
    t.notOk(silent.some((s) => s.closed), 'the two within the cap are still held')
  })

  await t.test('HTTPS: login failures and audit rows carry the client address from the header', async (t) => {
    // Wrong passwords from 127.0.0.6 until its address is limited; 127.0.0.7 is not.
    let status = 0
    for (let i = 0; i < 40 && status !== 429; i++) status = await loginOverTls(httpsPort, ca, '127.0.0.6', 'wrong password')
    t.equal(status, 429, '127.0.0.6 is limited after its failures')
    t.equal(await loginOverTls(httpsPort, ca, '127.0.0.7', 'wrong password too'), 401, 'another client through the same balancer is not')
    const audit = await gw.http.get('/api/audit?action=auth.login_failed&limit=100', { token: gw.adminToken })
    const addresses = new Set((audit.body.items ?? []).map((row: { ip_address: string | null }) => row.ip_address))
    t.ok(addresses.has('127.0.0.6') && addresses.has('127.0.0.7'), `audit rows name the clients (${[...addresses].join(', ')})`)
    t.notOk(addresses.has('127.0.0.1'), 'never the balancer')
  })

  await t.test('from the balancer address, a connection without a valid header is closed; the gateway serves on', async (t) => {
    const ssh = await sendRaw(gw.server.sshPort, Buffer.from('SSH-2.0-OpenSSH_9.2\r\n'))
    t.same(ssh, { closed: true, received: '' }, 'SSH without a PROXY header: closed before the banner')
    const tls = await sendRaw(gw.server.httpsPort!, Buffer.from('PROXY TCP4 999.1.1.1 127.0.0.1 1 443\r\n'))
    t.same(tls, { closed: true, received: '' }, 'HTTPS with an address that is no address: closed')
    const runs = Number(process.env.EDGETAINER_FUZZ_RUNS ?? 40)
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ minLength: 1, maxLength: 300 }),
          // Near misses: the signatures with random bytes after them.
          fc.uint8Array({ maxLength: 240 }).map((b) => Buffer.concat([Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'binary'), b])),
          fc.string({ maxLength: 120 }).map((s) => Buffer.from(`PROXY ${s}\r\n`)),
        ),
        fc.boolean(),
        async (bytes, toSsh) => {
          const port = toSsh ? gw.server.sshPort : gw.server.httpsPort!
          const answer = await sendRaw(port, Buffer.from(bytes))
          // Closed either way; a header that parses hands the connection to SSH (which greets it) or TLS.
          return answer.closed && (answer.received === '' || answer.received.startsWith('SSH-2.0-'))
        },
      ),
      { numRuns: runs },
    )
    const health = await gw.http.get('/healthz')
    t.equal(health.status, 200, 'still up after the fuzzed headers')
    const key = newKeyPair('after-fuzz')
    await registerDevice(gw, 'after-fuzz', key)
    t.equal(await trySshLogin(sshPort, 'after-fuzz', key, 15_000, '127.0.0.8'), 'ready', 'a device still logs in through the balancer')
  })

  await t.test('a client that is not the balancer is served as itself, PROXY line or not', async (t) => {
    const socket = await holdSocket(gw.server.sshPort, '127.0.0.9')
    t.teardown(() => socket.socket.destroy())
    await waitFor('the banner', () => socket.received().startsWith('SSH-2.0-Edgetainer'), 5000)
    // Its claim to be someone else is just SSH garbage to the gateway: the header is believed from the balancer only.
    socket.socket.write('PROXY TCP4 10.9.9.9 127.0.0.1 1 22\r\n')
    const lived = await socket.whenClosed
    t.ok(lived < 5000, 'a PROXY line from anyone else ends its own connection as bad SSH')
    t.equal((await gw.http.get('/healthz')).status, 200, 'nothing more')
  })
})
