import t from 'tap'
import { startTestGateway } from '../lib/test-gateway.js'
import { newKeyPair } from '../lib/keys.js'
import { connectSsh2Device } from '../lib/ssh2-device.js'
import { requestViaHost, startDeviceApp } from '../lib/device-app.js'
import { waitFor } from '../lib/openssh.js'

t.test('a console session is handed to an auth_required device host with a one-time ticket', async (t) => {
  const gw = await startTestGateway(t, 'pglite')
  const port = gw.server.httpPort
  const key = newKeyPair()
  const device = (await gw.http.post('/api/devices', { name: 'HMI', device_id: 'hmi-1', public_key: key.publicKey }, { token: gw.adminToken })).body
  const app = await startDeviceApp(t, 'hmi')
  const service = (await gw.http.post(`/api/devices/${device.id}/exposed-services`, { name: 'panel', container_name: 'panel', internal_port: 80 }, { token: gw.adminToken })).body
  const dev = await connectSsh2Device(t, { port: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey, deviceId: 'hmi-1', key })
  await dev.forward('panel', 80, app.port)
  await waitFor('service connected', async () => (await gw.http.get(`/api/devices/hmi-1/exposed-services/${service.id}`, { token: gw.adminToken })).body.connected)
  const target = `http://panel.hmi-1.localhost:${port}/screens/1?x=2`
  const handoffPath = `/api/auth/handoff?next=${encodeURIComponent(target)}`

  await t.test('signed out: the console asks for sign-in first, and comes back', async (t) => {
    const res = await requestViaHost(port, `localhost:${port}`, handoffPath)
    t.equal(res.status, 302)
    t.equal(res.headers.location, `/login?next=${encodeURIComponent(handoffPath)}`)
  })

  const cookie = `edgetainer_session=${gw.adminToken}`
  const handoff = await requestViaHost(port, `localhost:${port}`, handoffPath, { cookie })
  t.equal(handoff.status, 302)
  const landing = new URL(handoff.headers.location!)
  t.equal(landing.host, `panel.hmi-1.localhost:${port}`, 'to the service host')
  t.equal(landing.pathname, '/.edgetainer/handoff')
  t.notMatch(handoff.headers.location!, new RegExp(gw.adminToken.slice(-20)), 'the session token is never in a URL')
  const ticketPath = `${landing.pathname}${landing.search}`

  await t.test('a ticket works only on the host it was issued for', async (t) => {
    const other = await requestViaHost(port, 'elsewhere.hmi-1.localhost', ticketPath)
    t.equal(other.status, 401)
    const again = await requestViaHost(port, 'panel.hmi-1.localhost', ticketPath)
    t.equal(again.status, 401, 'and a ticket tried elsewhere is used up')
  })

  const fresh = new URL((await requestViaHost(port, `localhost:${port}`, handoffPath, { cookie })).headers.location!)
  const landed = await requestViaHost(port, 'panel.hmi-1.localhost', `${fresh.pathname}${fresh.search}`)
  t.equal(landed.status, 302)
  t.equal(landed.headers.location, '/screens/1?x=2', 'back to the page that was asked for')
  const setCookie = landed.headers['set-cookie']![0]!
  t.match(setCookie, /^edgetainer_session=/)
  t.match(setCookie, /HttpOnly/i)
  t.match(setCookie, /SameSite=Lax/i)
  t.notMatch(setCookie, /Domain=/i, 'host-only: no other device host gets it')
  const hostCookie = setCookie.split(';')[0]!
  const page = await requestViaHost(port, 'panel.hmi-1.localhost', '/screens/1?x=2', { cookie: hostCookie })
  t.equal(page.status, 200)
  t.equal(page.body, 'hmi says hello at /screens/1?x=2')
  t.notOk(app.seen.at(-1)!.cookie, 'the device app never sees the session')
  t.equal((await requestViaHost(port, 'panel.hmi-1.localhost', `${fresh.pathname}${fresh.search}`)).status, 401, 'the ticket is one-time')

  await t.test('the hand-off refuses hosts that are not device hosts, and open redirects', async (t) => {
    for (const next of ['https://evil.example/', `http://localhost:${port}/`, 'javascript:alert(1)']) {
      const res = await requestViaHost(port, `localhost:${port}`, `/api/auth/handoff?next=${encodeURIComponent(next)}`, { cookie })
      t.equal(res.status, 400, next)
    }
    const sneaky = await requestViaHost(port, 'panel.hmi-1.localhost', `/.edgetainer/handoff?ticket=x&next=${encodeURIComponent('//evil.example')}`)
    t.equal(sneaky.status, 401)
  })

  await t.test('logging out ends the handed-over session too', async (t) => {
    await gw.http.post('/api/auth/logout', undefined, { token: gw.adminToken })
    const after = await requestViaHost(port, 'panel.hmi-1.localhost', '/', { cookie: hostCookie })
    t.equal(after.status, 401)
  })
})
