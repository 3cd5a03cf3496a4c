import t from 'tap'
import { startTestGateway } from '../lib/test-gateway.js'
import { newKeyPair } from '../lib/keys.js'
import { connectSsh2Device } from '../lib/ssh2-device.js'
import { deviceHostCookie } from '../lib/handoff.js'
import { requestViaHost, startDeviceApp } from '../lib/device-app.js'
import { waitFor } from '../lib/openssh.js'

t.test('the subdomain proxy’s own answers', async (t) => {
  const gw = await startTestGateway(t, 'postgres')
  const port = gw.server.httpPort
  const key = newKeyPair()
  const device = (await gw.http.post('/api/devices', { name: 'Kiosk', device_id: 'kiosk-1', public_key: key.publicKey }, { token: gw.adminToken })).body
  const app = await startDeviceApp(t, 'app')
  const create = (body: object) => gw.http.post(`/api/devices/${device.id}/exposed-services`, body, { token: gw.adminToken })
  const open = (await create({ name: 'open', container_name: 'app', internal_port: 80, auth_required: false })).body
  const secret = (await create({ name: 'secret', container_name: 'app', internal_port: 80 })).body
  t.equal(secret.auth_required, true, 'services need auth unless told otherwise')
  const off = (await create({ name: 'off', container_name: 'app', internal_port: 80, auth_required: false, enabled: false })).body

  await t.test('offline device → 502 with a short page', async (t) => {
    const res = await requestViaHost(port, 'open.kiosk-1.localhost', '/', { accept: 'text/html' })
    t.equal(res.status, 502)
    t.match(res.headers['content-type'], /text\/html/)
    t.match(res.body, /device is offline/i)
    const api = await requestViaHost(port, 'open.kiosk-1.localhost')
    t.same(JSON.parse(api.body).code, 'DEVICE_OFFLINE')
  })

  const dev = await connectSsh2Device(t, { port: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey, deviceId: 'kiosk-1', key })
  await dev.forward('app', 80, app.port)
  await waitFor('service connected', async () => (await gw.http.get(`/api/devices/${device.id}/exposed-services/${open.id}`, { token: gw.adminToken })).body.connected)

  await t.test('unknown hosts and disabled services → 404, revealing nothing', async (t) => {
    for (const host of ['nobody.localhost', 'x.nobody.localhost', 'a.b.kiosk-1.localhost', 'nope.kiosk-1.localhost', 'off.kiosk-1.localhost']) {
      const res = await requestViaHost(port, host)
      t.equal(res.status, 404, host)
      t.same(JSON.parse(res.body), { error: 'There is no service at this address.', code: 'NOT_FOUND' }, `${host}: the same answer`)
    }
    await gw.http.post(`/api/devices/${device.id}/exposed-services/${off.id}/enable`, undefined, { token: gw.adminToken })
    t.equal((await requestViaHost(port, 'off.kiosk-1.localhost')).status, 200, 'enabling takes effect at once')
    await gw.http.post(`/api/devices/${device.id}/exposed-services/${off.id}/disable`, undefined, { token: gw.adminToken })
    t.equal((await requestViaHost(port, 'off.kiosk-1.localhost')).status, 404, 'and so does disabling')
  })

  await t.test('auth_required: 401 for API clients, login redirect for browsers', async (t) => {
    const api = await requestViaHost(port, 'secret.kiosk-1.localhost', '/data')
    t.equal(api.status, 401)
    t.equal(JSON.parse(api.body).code, 'UNAUTHORIZED')
    const browser = await requestViaHost(port, `secret.kiosk-1.localhost:${port}`, '/data?q=1', { accept: 'text/html,application/xhtml+xml' })
    t.equal(browser.status, 302)
    const location = new URL(browser.headers.location!)
    t.equal(location.origin, `http://localhost:${port}`)
    t.equal(location.pathname, '/api/auth/handoff', 'to the console, which hands the session over')
    t.equal(location.searchParams.get('next'), `http://secret.kiosk-1.localhost:${port}/data?q=1`)
    const bad = await requestViaHost(port, 'secret.kiosk-1.localhost', '/', { cookie: 'edgetainer_session=forged' })
    t.equal(bad.status, 401, 'a forged cookie is no session')
  })

  await t.test('a session handed to this host or an API token passes, and never reaches the device', async (t) => {
    const hostCookie = await deviceHostCookie(gw, 'secret.kiosk-1.localhost')
    const before = app.seen.length
    const viaCookie = await requestViaHost(port, 'secret.kiosk-1.localhost', '/c', { cookie: `theme=dark; ${hostCookie}` })
    t.equal(viaCookie.status, 200)
    const apiToken = (await gw.http.post('/api/tokens', { description: 'proxy' }, { token: gw.adminToken })).body.token
    const viaBearer = await requestViaHost(port, 'secret.kiosk-1.localhost', '/b', { authorization: `Bearer ${apiToken}` })
    t.equal(viaBearer.status, 200)
    const [cookieHeaders, bearerHeaders] = app.seen.slice(before)
    t.equal(cookieHeaders!.cookie, 'theme=dark', 'the app’s own cookies pass, ours is removed')
    t.notOk(bearerHeaders!.authorization, 'our Bearer token is removed')
    const publicWithCookie = await requestViaHost(port, 'open.kiosk-1.localhost', '/', { cookie: `edgetainer_session=${gw.adminToken}` })
    t.equal(publicWithCookie.status, 200)
    t.notOk(app.seen.at(-1)!.cookie, 'public services never see the session cookie either')
  })

  await t.test('the console host keeps serving the API', async (t) => {
    const res = await requestViaHost(port, 'localhost', '/healthz')
    t.equal(res.status, 200)
  })

  await t.test('a service the device does not forward → 502', async (t) => {
    await create({ name: 'missing', container_name: 'db', internal_port: 5432, auth_required: false })
    const res = await requestViaHost(port, 'missing.kiosk-1.localhost')
    t.equal(res.status, 502)
    t.equal(JSON.parse(res.body).code, 'SERVICE_NOT_CONNECTED')
  })

  await t.test('exposed service API validation and conflicts', async (t) => {
    const dup = await create({ name: 'open', container_name: 'app', internal_port: 80 })
    t.equal(dup.status, 409)
    t.equal(dup.body.field, 'name')
    const badName = await create({ name: 'Bad_Name', container_name: 'app', internal_port: 80 })
    t.equal(badName.body.field, 'name')
    const badPort = await create({ name: 'p', container_name: 'app', internal_port: 70000 })
    t.equal(badPort.body.field, 'internal_port')
    const badPath = await create({ name: 'p', container_name: 'app', internal_port: 80, url_path: 'no-slash' })
    t.equal(badPath.body.field, 'url_path')
    const reserved = await create({ name: 'ctl', container_name: 'edgetainer-agent', internal_port: 1 })
    t.equal(reserved.status, 400, 'the agent control channel cannot be exposed')
    t.equal(reserved.body.field, 'container_name')
    const audit = await gw.http.get(`/api/audit?action=service.create`, { token: gw.adminToken })
    t.ok(audit.body.total >= 4, 'service changes are audited')
  })
})
