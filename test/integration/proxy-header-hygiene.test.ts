import t from 'tap'
import { startTestGateway } from '../lib/test-gateway.js'
import { newKeyPair } from '../lib/keys.js'
import { connectSsh2Device } from '../lib/ssh2-device.js'
import { rawRequest, requestViaHost, startDeviceApp } from '../lib/device-app.js'
import { waitFor } from '../lib/openssh.js'
import { deviceHostCookie } from '../lib/handoff.js'

/** A request written by hand, so the test controls every byte the gateway receives. */
function request(host: string, path: string, headers: [string, string][], method = 'GET'): string {
  return `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\n${headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}Connection: close\r\n\r\n`
}

function upgrade(host: string, path: string, headers: [string, string][]): string {
  return request(host, path, [['Upgrade', 'websocket'], ['Connection', 'Upgrade'], ['Sec-WebSocket-Version', '13'], ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='], ...headers]).replace(
    'Connection: close\r\n',
    '',
  )
}

/** The values a header arrived with at the device app, in wire order. */
function rawValues(raw: string[], name: string): string[] {
  const out: string[] = []
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) out.push(raw[i + 1]!)
  return out
}

t.test('what a device app receives through the proxy', async (t) => {
  const gw = await startTestGateway(t, 'postgres')
  const port = gw.server.httpPort
  const key = newKeyPair()
  const device = (await gw.http.post('/api/devices', { name: 'Kiosk', device_id: 'kiosk-1', public_key: key.publicKey }, { token: gw.adminToken })).body
  const app = await startDeviceApp(t, 'app')
  const create = (body: object) => gw.http.post(`/api/devices/${device.id}/exposed-services`, body, { token: gw.adminToken })
  const open = (await create({ name: 'open', container_name: 'app', internal_port: 80, auth_required: false })).body
  await create({ name: 'secret', container_name: 'app', internal_port: 80 })
  await create({ name: 'docs', container_name: 'app', internal_port: 80, auth_required: false, url_path: '/docs' })
  const dev = await connectSsh2Device(t, { port: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey, deviceId: 'kiosk-1', key })
  await dev.forward('app', 80, app.port)
  await waitFor('service connected', async () => (await gw.http.get(`/api/devices/${device.id}/exposed-services/${open.id}`, { token: gw.adminToken })).body.connected)
  const openHost = `open.kiosk-1.localhost:${port}`
  const secretHost = `secret.kiosk-1.localhost:${port}`
  const session = `edgetainer_session=${gw.adminToken}`
  // The console session is stripped everywhere but signs in nowhere on a device host; that host's own does.
  const secretSession = await deviceHostCookie(gw, 'secret.kiosk-1.localhost')
  const last = () => app.raw.at(-1)!

  await t.test('a cookie header the cookie library cannot re-serialise passes as sent, and the gateway stays up', async (t) => {
    const res = await rawRequest(port, request(openHost, '/', [['Cookie', 'x=edgetainer_session; a b=1']]))
    t.equal(res.status, 200)
    t.same(rawValues(last(), 'cookie'), ['x=edgetainer_session; a b=1'], 'not our cookie: a value that merely says its name')
    const again = await rawRequest(port, request(openHost, '/', [['Cookie', `${session}; a b=1`]]))
    t.equal(again.status, 200)
    t.same(rawValues(last(), 'cookie'), ['a b=1'])
  })

  await t.test('our session cookie is removed as text; every other cookie is byte-exact', async (t) => {
    const cases: [string, string | undefined][] = [
      [`a=abc+/==; ${session}; b="q w"; c=%41%zz`, 'a=abc+/==; b="q w"; c=%41%zz'],
      [`${session}; theme=dark`, 'theme=dark'],
      [`${session}`, undefined],
      [`edgetainer_session; keep=1`, 'keep=1'],
      [`edgetainer_session2=x;edgetainer_session=y;x_edgetainer_session=z`, 'edgetainer_session2=x;x_edgetainer_session=z'],
      [`  edgetainer_session =spaced ; é=ü`, 'é=ü'],
    ]
    for (const [sent, expected] of cases) {
      const res = await rawRequest(port, Buffer.from(request(openHost, '/', [['Cookie', sent]]), 'latin1'))
      t.equal(res.status, 200, sent)
      t.same(rawValues(last(), 'cookie'), expected === undefined ? [] : [expected], sent)
    }
    const signedIn = await rawRequest(port, request(secretHost, '/', [['Cookie', `t=a+b/c==; ${secretSession}`]]))
    t.equal(signedIn.status, 200, 'the cookie still signs in to an auth_required service')
    t.same(rawValues(last(), 'cookie'), ['t=a+b/c=='])
  })

  await t.test('our Bearer credentials never reach a device; the app’s own Authorization does', async (t) => {
    const apiToken = (await gw.http.post('/api/tokens', { description: 'proxy' }, { token: gw.adminToken })).body.token as string
    const forgedJwt = [{ alg: 'HS256' }, { iss: 'edgetainer', sid: 'x' }, 'sig'].map((p) => Buffer.from(typeof p === 'string' ? p : JSON.stringify(p)).toString('base64url')).join('.')
    for (const bearer of [`Bearer ${apiToken}`, `Bearer ${gw.adminToken}`, `bearer   ${gw.adminToken}`, `Bearer ${forgedJwt}`, `Bearer et_not-even-valid`, `Bearer\u00a0${apiToken}`]) {
      const res = await rawRequest(port, Buffer.from(request(openHost, '/', [['Authorization', bearer]]), 'latin1'))
      t.equal(res.status, 200, `public service: ${bearer.slice(0, 20)}…`)
      t.same(rawValues(last(), 'authorization'), [], 'removed')
    }
    const viaToken = await rawRequest(port, request(secretHost, '/', [['Authorization', `Bearer ${apiToken}`]]))
    t.equal(viaToken.status, 200)
    t.same(rawValues(last(), 'authorization'), [], 'removed after signing in to an auth_required service')
    const viaNbsp = await rawRequest(port, Buffer.from(request(secretHost, '/', [['Authorization', `Bearer\u00a0${apiToken}`]]), 'latin1'))
    t.equal(viaNbsp.status, 200, 'the authenticator reads a no-break space as a separator…')
    t.same(rawValues(last(), 'authorization'), [], '…and so does the stripping')
    const appJwt = [{ alg: 'RS256' }, { iss: 'https://idp.example' }, 'sig'].map((p) => Buffer.from(typeof p === 'string' ? p : JSON.stringify(p)).toString('base64url')).join('.')
    for (const own of ['Basic dXNlcjpwYXNz', 'Bearer app-own-token', `Bearer ${appJwt}`]) {
      const res = await rawRequest(port, request(openHost, '/', [['Authorization', own]]))
      t.equal(res.status, 200)
      t.same(rawValues(last(), 'authorization'), [own], `passes: ${own.slice(0, 20)}…`)
    }
    const basicWithCookie = await rawRequest(port, request(secretHost, '/', [['Authorization', 'Basic dXNlcjpwYXNz'], ['Cookie', secretSession]]))
    t.equal(basicWithCookie.status, 200, 'signed in by cookie, the app’s own Basic credentials pass')
    t.same(rawValues(last(), 'authorization'), ['Basic dXNlcjpwYXNz'])
  })

  await t.test('client X-Forwarded-* and Forwarded are replaced by ours, never appended to', async (t) => {
    const spoofed: [string, string][] = [
      ['X-Forwarded-For', '6.6.6.6'],
      ['X-Forwarded-For', '7.7.7.7'],
      ['X-Forwarded-Host', 'evil.example'],
      ['X-Forwarded-Proto', 'https'],
      ['X-Forwarded-Port', '1'],
      ['X-Forwarded-Prefix', '/evil'],
      ['X-Forwarded-Server', 'evil'],
      ['Forwarded', 'for=6.6.6.6;host=evil.example;proto=https'],
      ['X-Real-IP', '6.6.6.6'],
    ]
    const ours = {
      'x-forwarded-for': ['127.0.0.1'],
      'x-forwarded-host': [openHost],
      'x-forwarded-proto': ['http'],
      'x-forwarded-port': [String(port)],
      'x-forwarded-prefix': [],
      'x-forwarded-server': [],
      'x-real-ip': [],
      forwarded: [`for=127.0.0.1;host="${openHost}";proto=http`],
      host: [openHost],
    }
    const check = (what: string, expected: Record<string, string[]>) => {
      for (const [name, values] of Object.entries(expected)) t.same(rawValues(last(), name), values, `${what}: ${name}`)
    }
    t.equal((await rawRequest(port, request(`OPEN.kiosk-1.localhost.:${port}`, '/', spoofed))).status, 200)
    check('plain request', ours)
    const ws = await rawRequest(port, upgrade(openHost, '/', spoofed))
    t.equal(ws.status, 101)
    check('WebSocket upgrade', ours)
    const docsHost = `kiosk-1.localhost:${port}`
    t.equal((await rawRequest(port, request(docsHost, '/docs/page', spoofed))).status, 200)
    t.equal(app.urls.at(-1), '/page', 'the prefix is stripped')
    check('path-routed', { 'x-forwarded-prefix': ['/docs'], 'x-forwarded-host': [docsHost], 'x-forwarded-for': ['127.0.0.1'] })
  })

  await t.test('the path reaches the device as sent', async (t) => {
    for (const path of ['/a<b', '/a\\b', '/\\|x<y', '/a//b/../c', '/q?x=<1>&y=\\']) {
      const res = await rawRequest(port, request(openHost, path, []))
      t.equal(res.status, 200, path)
      t.equal(app.urls.at(-1), path, `${path}: not re-parsed as a URL`)
    }
    t.equal((await rawRequest(port, request(`kiosk-1.localhost:${port}`, '/docs/a<b', []))).status, 200)
    t.equal(app.urls.at(-1), '/a<b', 'path routing strips only its prefix')
  })

  await t.test('WebSockets to an auth_required service: a browser’s must come from that very host', async (t) => {
    const attempt = async (headers: [string, string][]) => (await rawRequest(port, upgrade(secretHost, '/', headers))).status
    t.equal(await attempt([['Cookie', secretSession]]), 403, 'no Origin')
    t.equal(await attempt([['Cookie', secretSession], ['Origin', 'http://evil.example']]), 403, 'another site')
    t.equal(await attempt([['Cookie', secretSession], ['Origin', `http://open.kiosk-1.localhost:${port}`]]), 403, 'another device host')
    t.equal(await attempt([['Cookie', secretSession], ['Origin', `http://localhost:${port}`]]), 403, 'the console')
    t.equal(await attempt([['Cookie', secretSession], ['Origin', `http://secret.kiosk-1.localhost:${port + 1}`]]), 403, 'another port')
    t.equal(await attempt([['Cookie', secretSession], ['Origin', `https://secret.kiosk-1.localhost:${port}`]]), 403, 'another scheme')
    t.equal(await attempt([['Cookie', secretSession], ['Origin', 'null']]), 403, 'an opaque origin')
    t.equal(await attempt([['Cookie', secretSession], ['Origin', `http://secret.kiosk-1.localhost:${port}`]]), 101, 'its own origin')
    t.equal(await attempt([['Authorization', `Bearer ${gw.adminToken}`]]), 101, 'a Bearer client is no browser: no Origin needed')
    t.equal(await attempt([]), 401, 'and nobody at all is refused first')
    t.equal((await rawRequest(port, upgrade(openHost, '/', [['Origin', 'http://evil.example']]))).status, 101, 'public services are public')
  })

  await t.test('the hand-off landing never sends a browser off this host', async (t) => {
    const handoffPath = `/api/auth/handoff?next=${encodeURIComponent(`http://${secretHost}/`)}`
    const ticket = async () => new URL((await requestViaHost(port, `localhost:${port}`, handoffPath, { cookie: session })).headers.location!).searchParams.get('ticket')!
    for (const next of ['/\\evil.example/', '\\\\evil.example', '/\t/evil.example', '/\n/evil.example', '/%5Cevil', '//evil.example', 'https://evil.example', '/ok\u0085']) {
      const res = await requestViaHost(port, secretHost, `/.edgetainer/handoff?ticket=${await ticket()}&next=${encodeURIComponent(next)}`)
      t.equal(res.status, 302, JSON.stringify(next))
      t.equal(res.headers.location, next === '/%5Cevil' ? '/%5Cevil' : '/', JSON.stringify(next))
    }
  })

  await t.test('garbage hosts are a 404 or 400, never a 5xx', async (t) => {
    for (const host of ['x..kiosk-1.localhost', '-.kiosk-1.localhost', 'ö.kiosk-1.localhost', `${'a'.repeat(5000)}.localhost`, 'open.kiosk-1.localhost:99999999', 'open.kiosk-1.localhost:"x', '[::1].localhost', ':', '']) {
      const res = await rawRequest(port, Buffer.from(request(host, '/', []), 'latin1'))
      t.ok([200, 400, 404, 431].includes(res.status), `${JSON.stringify(host.slice(0, 40))} → ${res.status}`)
    }
    t.equal((await requestViaHost(port, openHost)).status, 200, 'and the device keeps answering')
  })
})
