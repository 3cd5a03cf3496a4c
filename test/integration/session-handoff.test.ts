import t from 'tap'
import fc from 'fast-check'
import { startTestGateway } from '../lib/test-gateway.js'
import { newKeyPair } from '../lib/keys.js'
import { connectSsh2Device } from '../lib/ssh2-device.js'
import { requestViaHost, startDeviceApp } from '../lib/device-app.js'
import { waitFor } from '../lib/openssh.js'

t.test('a console session is handed to an auth_required device host with a one-time ticket', async (t) => {
  const gw = await startTestGateway(t, 'postgres')
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

  await t.test('the host gets a new session of its own, valid there and nowhere else', async (t) => {
    const hostToken = hostCookie.slice('edgetainer_session='.length)
    t.not(hostToken, gw.adminToken, 'not the console session')
    t.equal((await gw.http.get('/api/auth/me', { cookie: hostCookie })).status, 401, 'refused by the console API as a cookie')
    t.equal((await gw.http.get('/api/auth/me', { token: hostToken })).status, 401, 'and as a Bearer token')
    const write = await gw.http.post('/api/fleets', { name: 'from-device-session' }, { cookie: hostCookie, headers: { origin: `http://localhost:${port}` } })
    t.equal(write.status, 401, 'no write with it either')
    await gw.http.post(`/api/devices/${device.id}/exposed-services`, { name: 'other', container_name: 'other', internal_port: 82 }, { token: gw.adminToken })
    t.equal((await requestViaHost(port, 'other.hmi-1.localhost', '/', { cookie: hostCookie })).status, 401, 'another device host refuses it')
    t.equal((await requestViaHost(port, 'panel.hmi-1.localhost', '/', { cookie })).status, 401, 'the device host refuses the console session as a cookie')
    t.equal((await requestViaHost(port, 'panel.hmi-1.localhost', '/', { authorization: `Bearer ${gw.adminToken}` })).status, 200, 'a console JWT as Bearer still works (scripts)')
  })

  await t.test('the hand-off refuses hosts that are not device services, other ports and schemes, and open redirects', async (t) => {
    for (const next of [
      'https://evil.example/',
      `http://localhost:${port}/`,
      'javascript:alert(1)',
      `http://panel.hmi-1.localhost:${port + 1}/`,
      `https://panel.hmi-1.localhost:${port}/`,
      `http://panel.hmi-1.localhost/`,
      `http://nothing.hmi-1.localhost:${port}/`,
      `http://panel.nobody.localhost:${port}/`,
      `http://panel.hmi-1.localhost:${port}/\\evil.example/`,
      `http://panel.hmi-1.localhost:${port}/a\u0000b`,
      `http://user:pw@panel.hmi-1.localhost:${port}/`,
      `http://panel.hmi-1.localhost:${port}//evil.example/`,
    ]) {
      const res = await requestViaHost(port, `localhost:${port}`, `/api/auth/handoff?next=${encodeURIComponent(next)}`, { cookie })
      t.equal(res.status, 400, next)
    }
    const publicService = (await gw.http.post(`/api/devices/${device.id}/exposed-services`, { name: 'open', container_name: 'open', internal_port: 81, auth_required: false }, { token: gw.adminToken })).body
    t.ok(publicService.id)
    const toPublic = await requestViaHost(port, `localhost:${port}`, `/api/auth/handoff?next=${encodeURIComponent(`http://open.hmi-1.localhost:${port}/`)}`, { cookie })
    t.equal(toPublic.status, 400, 'no session is minted for a public service')
    const sneaky = await requestViaHost(port, 'panel.hmi-1.localhost', `/.edgetainer/handoff?ticket=x&next=${encodeURIComponent('//evil.example')}`)
    t.equal(sneaky.status, 401)
  })

  await t.test('fuzzed next: a 400 or a redirect to the one protected host, never a 5xx', async (t) => {
    const host = `panel.hmi-1.localhost:${port}`
    const next = fc.oneof(
      fc.webUrl({ withQueryParameters: true, withFragments: true }),
      fc.string({ maxLength: 60 }).map((p) => `http://${host}/${p}`),
      fc.constantFrom(host, `panel.hmi-1.localhost`, `other.hmi-1.localhost`, `hmi-1.localhost`, `localhost`).chain((h) => fc.string({ maxLength: 30 }).map((p) => `http://${h}${p}`)),
      fc.string({ maxLength: 80 }),
    )
    let cases = 0
    await fc.assert(
      fc.asyncProperty(next, async (n) => {
        cases++
        const res = await requestViaHost(port, `localhost:${port}`, `/api/auth/handoff?next=${encodeURIComponent(n)}`, { cookie })
        if (res.status === 302) {
          const to = new URL(res.headers.location!)
          if (to.host !== host || to.pathname !== '/.edgetainer/handoff') throw new Error(`${n} → ${res.headers.location}`)
          if (/[\\\u0000-\u001f]/.test(to.searchParams.get('next') ?? '') || to.searchParams.get('next')!.startsWith('//')) throw new Error(`unsafe landing path for ${n}`)
        } else if (res.status !== 400) throw new Error(`${res.status} for ${JSON.stringify(n)}: ${res.body}`)
      }),
      { numRuns: 200 },
    )
    t.equal((await gw.http.get('/healthz')).status, 200, 'still serving')
    t.comment(`ran ${cases} cases`)
  })

  await t.test('logging out ends the handed-over session too', async (t) => {
    t.equal((await requestViaHost(port, 'panel.hmi-1.localhost', '/', { cookie: hostCookie })).status, 200, 'valid before')
    await gw.http.post('/api/auth/logout', undefined, { token: gw.adminToken })
    const after = await requestViaHost(port, 'panel.hmi-1.localhost', '/', { cookie: hostCookie })
    t.equal(after.status, 401)
  })
})

t.test('device services on a registrable domain of their own: the console host is elsewhere, and the hand-off still works', async (t) => {
  const gw = await startTestGateway(t, 'postgres', { env: { EDGETAINER_CONSOLE_HOST: 'console.example.com', EDGETAINER_BASE_DOMAIN: 'devices.example.net' } })
  const port = gw.server.httpPort
  const consoleHost = `console.example.com:${port}`
  const device = (await gw.http.post('/api/devices', { name: 'HMI', device_id: 'hmi-2' }, { token: gw.adminToken })).body
  await gw.http.post(`/api/devices/${device.id}/exposed-services`, { name: 'panel', container_name: 'panel', internal_port: 80 }, { token: gw.adminToken })

  const browser = await requestViaHost(port, `panel.hmi-2.devices.example.net:${port}`, '/x', { accept: 'text/html' })
  t.equal(browser.status, 302)
  const handoffUrl = new URL(browser.headers.location!)
  t.equal(handoffUrl.origin, `http://${consoleHost}`, 'signed-out browsers are sent to the console host')

  const cookie = `edgetainer_session=${gw.adminToken}`
  const handoff = await requestViaHost(port, consoleHost, `${handoffUrl.pathname}${handoffUrl.search}`, { cookie })
  t.equal(handoff.status, 302)
  const landing = new URL(handoff.headers.location!)
  t.equal(landing.host, `panel.hmi-2.devices.example.net:${port}`)
  const landed = await requestViaHost(port, `panel.hmi-2.devices.example.net:${port}`, `${landing.pathname}${landing.search}`)
  t.equal(landed.headers.location, '/x')
  const hostCookie = landed.headers['set-cookie']![0]!.split(';')[0]!
  t.equal((await gw.http.get('/api/auth/me', { cookie: hostCookie })).status, 401, 'the device session is no console session')

  const write = (origin: string) => gw.http.post('/api/fleets', { name: `f-${origin.length}` }, { cookie, headers: { origin } })
  t.equal((await write(`http://${consoleHost}`)).status, 201, 'writes from the console origin pass')
  t.equal((await write(`http://panel.hmi-2.devices.example.net:${port}`)).status, 403, 'writes from a device host are refused')
  t.equal((await write(`http://localhost:${port}`)).status, 403, 'and from a host that is not the console')
})
