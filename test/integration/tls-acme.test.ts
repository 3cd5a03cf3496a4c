import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import WebSocket from 'ws'
import { startDeviceApp } from '../lib/device-app.js'
import { newKeyPair } from '../lib/keys.js'
import { connectSsh2Device } from '../lib/ssh2-device.js'
import { seedPgliteDataDir } from '../lib/database-templates.js'
import { dialects } from '../lib/databases.js'
import { startPebble, type Pebble } from '../lib/pebble.js'
import { startTestGateway, type TestGateway } from '../lib/test-gateway.js'
import { handshake, httpsRequest, type Handshake } from '../lib/tls-client.js'
import { waitFor } from '../lib/wait.js'

// Real ACME against Debian's Pebble: every order is validated over HTTP-01 on the gateway's own port.
const BASE = 'fleet.test'
const CONSOLE = `console.${BASE}`
const fast = { acmeBackoff: { minMs: 50, maxMs: 500 }, retry: { baseMs: 500, maxMs: 2000 }, sniWaitMs: 15_000 }

function acmeEnv(p: Pebble): Record<string, string> {
  return {
    EDGETAINER_ACME_DIRECTORY: p.directoryUrl,
    EDGETAINER_ACME_CA: p.caFile,
    EDGETAINER_ACME_EMAIL: 'ops@fleet.test',
    EDGETAINER_BASE_DOMAIN: BASE,
    EDGETAINER_CONSOLE_HOST: CONSOLE,
    // Pebble validates HTTP-01 on this port, so the gateway listens exactly there.
    EDGETAINER_HTTP_PORT: String(p.httpPort),
    EDGETAINER_HTTPS_PORT: String(p.tlsPort),
    EDGETAINER_HSTS_MAX_AGE: '600',
  }
}

/** Polls handshakes until `host` is served a certificate that Pebble's root verifies (and that is not `notSerial`). */
function servedCertificate(root: string, gw: TestGateway, host: string, notSerial?: string): Promise<Handshake> {
  return waitFor(`a trusted certificate for ${host}`, async () => {
    const served = await handshake({ port: gw.server.httpsPort!, servername: host, ca: root })
    return served.authorized && served.hosts.includes(host) && served.serial !== notSerial ? served : undefined
  }, 30_000)
}

function plainGet(port: number, host: string, path: string): Promise<{ status: number; location: string | undefined }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, headers: { host }, agent: false }, (res) => {
        res.resume()
        resolve({ status: res.statusCode ?? 0, location: res.headers.location })
      })
      .on('error', reject)
  })
}

async function exposeService(gw: TestGateway, deviceName: string, service: string) {
  const device = await gw.http.post('/api/devices', { name: deviceName }, { token: gw.adminToken })
  if (device.status !== 201) throw new Error(`device: ${device.status} ${JSON.stringify(device.body)}`)
  const created = await gw.http.post(`/api/devices/${device.body.id}/exposed-services`, { name: service, container_name: service, internal_port: 8080 }, { token: gw.adminToken })
  if (created.status !== 201) throw new Error(`service: ${created.status} ${JSON.stringify(created.body)}`)
  return { id: device.body.id as string, host: `${device.body.subdomain}.${BASE}`, serviceHost: `${service}.${device.body.subdomain}.${BASE}` }
}

async function certificates(gw: TestGateway): Promise<{ name: string; status: string; hosts: string[]; issuer: string; serial: string }[]> {
  const res = await gw.http.get('/api/certificates', { token: gw.adminToken })
  if (res.status !== 200) throw new Error(`certificates: ${res.status}`)
  return res.body.items
}

/** Waits until no certificate is queued or being ordered, so order counts can be compared. */
function settled(gw: TestGateway) {
  return waitFor('certificate work to settle', async () => ((await certificates(gw)).some((c) => c.status === 'renewing') ? undefined : true), 30_000)
}

// One Pebble for the file (each test file runs its own, on its own ports); gateways take turns on its ports.
t.test('ACME against Pebble', async (t) => {
  const pebble = await startPebble(t)
  const root = await pebble.rootPem()

  for (const dialect of dialects) {
    // One gateway at a time: Pebble validates on fixed ports.
    await t.test(`certificates from ACME on ${dialect}`, async (t) => {
      const ordersBefore = pebble.orderCount()
      const gw = await startTestGateway(t, dialect, { env: acmeEnv(pebble), start: { tls: fast } })
      const httpsPort = gw.server.httpsPort!
      t.equal(httpsPort, pebble.tlsPort, 'the HTTPS listener is on')

      const consoleCert = await servedCertificate(root, gw, CONSOLE)
      t.same(consoleCert.hosts, [CONSOLE], 'the console certificate is issued at start and chosen by SNI')
      t.match(consoleCert.certificate.issuer, /Pebble Intermediate CA/, 'issued by Pebble')
      t.ok(['TLSv1.2', 'TLSv1.3'].includes(consoleCert.protocol ?? ''), `negotiated ${consoleCert.protocol}`)
      const noSni = await handshake({ port: httpsPort, ca: root })
      t.equal(noSni.serial, consoleCert.serial, 'clients without SNI get the console certificate')

      const health = await httpsRequest({ port: httpsPort, host: CONSOLE, path: '/healthz', ca: root })
      t.equal(health.status, 200, 'the console answers over HTTPS, verified against Pebble\'s root')
      t.equal(health.headers['strict-transport-security'], 'max-age=600', 'HSTS as configured')

      t.test('plain HTTP redirects the gateway\'s names to HTTPS, except ACME challenges', async (t) => {
        const redirected = await plainGet(gw.server.httpPort, CONSOLE, '/api/devices?limit=5')
        t.equal(redirected.status, 308)
        t.equal(redirected.location, `https://${CONSOLE}:${httpsPort}/api/devices?limit=5`)
        const device = await plainGet(gw.server.httpPort, `pump.${BASE}`, '/')
        t.equal(device.location, `https://pump.${BASE}:${httpsPort}/`, 'device hosts too')
        const challenge = await plainGet(gw.server.httpPort, CONSOLE, '/.well-known/acme-challenge/no-such-token')
        t.equal(challenge.status, 404, 'challenge paths are answered on HTTP, not redirected')
        const byAddress = await plainGet(gw.server.httpPort, '127.0.0.1', '/healthz')
        t.equal(byAddress.status, 200, 'requests by IP address (health checks) are served as before')
      })

      const device = await exposeService(gw, 'pump-1', 'web')
      const deviceCert = await servedCertificate(root, gw, device.serviceHost)
      t.same(deviceCert.hosts.sort(), [device.host, device.serviceHost].sort(), 'enabling a service issues the device certificate (device host and service host)')
      t.equal((await handshake({ port: httpsPort, servername: device.host, ca: root })).serial, deviceCert.serial, 'one certificate for the device host and its services')
      await settled(gw)
      t.equal(pebble.orderCount() - ordersBefore, 2, 'two orders so far: console and device')

      t.test('names the gateway does not serve get no certificate and cause no order', async (t) => {
        const idle = await gw.http.post('/api/devices', { name: 'idle-1' }, { token: gw.adminToken })
        const orders = pebble.orderCount()
        for (const host of [`ghost.${BASE}`, `x.ghost.${BASE}`, `${idle.body.subdomain}.${BASE}`, `a.b.c.${BASE}`, 'www.example.com']) {
          await t.rejects(handshake({ port: httpsPort, servername: host, ca: root }), `no certificate for ${host}`)
        }
        const names = (await certificates(gw)).map((c) => c.name)
        t.notOk(names.some((n) => n.includes('ghost') || n.includes('example') || n.startsWith('idle')), 'nothing listed for them')
        t.equal(pebble.orderCount(), orders, 'no ACME order')
      })

      t.test('a served host without a certificate is issued on its first handshake', async (t) => {
        // Rows written behind the gateway's back (no event), as another gateway on the same database would.
        const { db } = gw.server.database
        const row = await db.insertInto('devices').values({ device_id: 'quiet-1', name: 'quiet-1', subdomain: 'quiet-1' }).returning('id').executeTakeFirstOrThrow()
        await db.insertInto('exposed_services').values({ device_id: row.id, name: 'app', container_name: 'app', internal_port: 80 }).execute()
        const served = await handshake({ port: httpsPort, servername: `app.quiet-1.${BASE}`, ca: root })
        t.ok(served.authorized, 'the very first handshake gets a trusted certificate')
        t.same(served.hosts.sort(), [`app.quiet-1.${BASE}`, `quiet-1.${BASE}`])
      })

      t.test('the renew route orders a new certificate; concurrent requests are merged', async (t) => {
        await settled(gw)
        const orders = pebble.orderCount()
        const [a, b] = await Promise.all([
          gw.http.post(`/api/certificates/${device.serviceHost}/renew`, undefined, { token: gw.adminToken }),
          gw.http.post(`/api/certificates/${device.host}/renew`, undefined, { token: gw.adminToken }),
        ])
        t.equal(a.status, 202)
        t.equal(b.status, 202)
        t.equal(a.body.name, device.host, 'a service host renews its device certificate')
        const renewed = await servedCertificate(root, gw, device.serviceHost, deviceCert.serial)
        t.not(renewed.serial, deviceCert.serial, 'a new certificate is served without a restart')
        await settled(gw)
        t.equal(pebble.orderCount() - orders, 1, 'exactly one order for both requests')
        const listed = (await certificates(gw)).find((c) => c.name === device.host)!
        t.equal(listed.status, 'valid')
        t.equal(listed.serial, renewed.serial)
        const unknown = await gw.http.post(`/api/certificates/ghost.${BASE}/renew`, undefined, { token: gw.adminToken })
        t.equal(unknown.status, 404, 'hosts the gateway does not serve have no certificate to renew')
        const viewer = await gw.tokenFor('viewer')
        t.equal((await gw.http.post(`/api/certificates/${device.host}/renew`, undefined, { token: viewer })).status, 403, 'renewing is for admins')
        t.equal((await gw.http.get('/api/certificates', { token: viewer })).status, 200, 'viewers may list certificates')
      })

      t.test('keys are sealed at rest; metrics report orders and expiry', async (t) => {
        const { db } = gw.server.database
        const rows = await db.selectFrom('tls_certificates').select(['name', 'key_sealed', 'cert_pem']).where('cert_pem', 'is not', null).execute()
        t.ok(rows.length >= 3)
        for (const row of rows) t.ok(row.key_sealed!.startsWith('v1.') && !row.key_sealed!.includes('PRIVATE KEY'), `${row.name}: key sealed`)
        const accounts = await db.selectFrom('acme_accounts').select(['directory_url', 'key_sealed']).execute()
        t.equal(accounts.length, 1, 'one ACME account for the directory')
        t.ok(accounts[0]!.key_sealed.startsWith('v1.'), 'account key sealed')
        const metrics = await gw.http.get('/metrics', { token: gw.adminToken })
        t.match(metrics.body, /edgetainer_acme_orders_total\{result="success"\} [1-9]/)
        t.match(metrics.body, new RegExp(`edgetainer_tls_certificate_expiry_timestamp_seconds\\{name="${CONSOLE}"\\} \\d+`))
        t.match(metrics.body, /edgetainer_tls_renewal_failures_total 0/)
      })
    })
  }

  await t.test('HTTPS and WebSocket requests reach the container service through the tunnel', async (t) => {
    const gw = await startTestGateway(t, 'pglite', { env: acmeEnv(pebble), start: { tls: fast } })
    const key = newKeyPair()
    const device = (await gw.http.post('/api/devices', { name: 'Kiosk', device_id: 'kiosk-1', public_key: key.publicKey }, { token: gw.adminToken })).body
    const created = await gw.http.post(`/api/devices/${device.id}/exposed-services`, { name: 'web', container_name: 'web', internal_port: 80, auth_required: false }, { token: gw.adminToken })
    t.equal(created.status, 201)
    const app = await startDeviceApp(t, 'web')
    const ssh = await connectSsh2Device(t, { port: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey, deviceId: 'kiosk-1', key })
    await ssh.forward('web', 80, app.port)
    const host = `web.${device.subdomain}.${BASE}`
    t.equal(created.body.url, `https://${host}:${gw.server.httpsPort}/`, 'the service URL the API shows is HTTPS')

    const res = await waitFor('the service over HTTPS', async () => {
      const answer = await httpsRequest({ port: gw.server.httpsPort!, host, path: '/hello?x=1', ca: root })
      return answer.status === 200 ? answer : undefined
    }, 30_000)
    t.equal(res.body, 'web says hello at /hello?x=1', 'verified against Pebble\'s root, through the tunnel, to the container service')
    t.equal(app.seen.at(-1)!['x-forwarded-proto'], 'https', 'the service learns the request came over HTTPS')

    // ws hands `servername` on to tls.connect; its types just do not list it.
    const wsOptions: WebSocket.ClientOptions & { servername: string } = { servername: host, headers: { host: `${host}:${gw.server.httpsPort}` }, ca: root }
    const ws = new WebSocket(`wss://127.0.0.1:${gw.server.httpsPort}/socket`, wsOptions)
    t.teardown(() => ws.terminate())
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
    ws.send('ping')
    const echo = await new Promise<WebSocket.RawData>((resolve) => ws.once('message', (data) => resolve(data)))
    t.equal(echo.toString(), 'echo:ping', 'a WebSocket over TLS reaches the device and back')
  })

  t.test('a restart on the same database reuses the stored account and certificates', async (t) => {
    const restartDir = mkdtempSync(path.join(tmpdir(), 'edgetainer-tls-restart-'))
    t.teardown(() => rmSync(restartDir, { recursive: true, force: true }))
    // A migrated PGlite dir to start from: initdb and the migrations cost seconds, and are proven elsewhere.
    await seedPgliteDataDir(restartDir)
    const pgliteDir = path.join(restartDir, 'pglite')
    // Same database and same master key, as a restarted gateway has.
    const env = { ...acmeEnv(pebble), EDGETAINER_SECRET_KEY: randomBytes(32).toString('base64') }
    const start = { pgliteDir, tls: fast }
    const ordersBefore = pebble.orderCount()
    const accountsBefore = (pebble.log().match(/POST \/sign-me-up/g) ?? []).length
    let first: { console: string; device: string; deviceHost: string } | undefined

    await t.test('first run', async (t) => {
      const gw = await startTestGateway(t, 'pglite', { env, start })
      const device = await exposeService(gw, 'pump-7', 'web')
      first = {
        console: (await servedCertificate(root, gw, CONSOLE)).serial,
        device: (await servedCertificate(root, gw, device.serviceHost)).serial,
        deviceHost: device.serviceHost,
      }
      await settled(gw)
    })
    const ordersAfterFirst = pebble.orderCount()
    t.equal(ordersAfterFirst - ordersBefore, 2, 'the first run ordered console and device certificates')

    await t.test('second run', async (t) => {
      const gw = await startTestGateway(t, 'pglite', { env, start })
      // startServer has already queued whatever it would order; nothing may be queued.
      t.notOk((await certificates(gw)).some((c) => c.status !== 'valid'), 'every stored certificate is valid and nothing is being ordered')
      const consoleCert = await handshake({ port: gw.server.httpsPort!, servername: CONSOLE, ca: root })
      const deviceCert = await handshake({ port: gw.server.httpsPort!, servername: first!.deviceHost, ca: root })
      t.ok(consoleCert.authorized && deviceCert.authorized)
      t.equal(consoleCert.serial, first!.console, 'the stored console certificate is served')
      t.equal(deviceCert.serial, first!.device, 'the stored device certificate is served')
    })
    t.equal(pebble.orderCount(), ordersAfterFirst, 'no new order after the restart')
    t.equal((pebble.log().match(/POST \/sign-me-up/g) ?? []).length - accountsBefore, 1, 'one account registration across both runs')
  })
})
