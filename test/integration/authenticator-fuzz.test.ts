import http from 'node:http'
import t from 'tap'
import fc from 'fast-check'
import { ADMIN_PASSWORD, startTestGateway } from '../lib/test-gateway.js'
import { deviceHostCookie } from '../lib/handoff.js'

interface RawResponse {
  status: number
  body: string
}

/** A request with exactly these headers (no client-side normalisation), the way a hostile client sends them. */
function rawRequest(port: number, method: string, path: string, headers: Record<string, string>, body: string | Buffer): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, agent: false }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d) => (text += d))
      res.on('end', () => resolve({ status: res.statusCode!, body: text }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

const COMPOSE = 'services:\n  web:\n    image: nginx:1.29\n'

t.test('the authenticator over HTTP: header variants never crash, never 5xx, never let a forged write through', async (t) => {
  const gw = await startTestGateway(t, 'postgres')
  const port = gw.server.httpPort
  const consoleOrigin = `http://localhost:${port}`

  // Credentials of every kind: a console session (cookie + its CSRF token), a device-host session, an API token.
  const login = await gw.http.post('/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })
  const consoleJwt: string = login.body.token
  const csrf = login.headers.get('x-csrf-token')!
  const device = (await gw.http.post('/api/devices', { name: 'Panel', device_id: 'panel-1' }, { token: gw.adminToken })).body
  await gw.http.post(`/api/devices/${device.id}/exposed-services`, { name: 'hmi', container_name: 'hmi', internal_port: 80 }, { token: gw.adminToken })
  const hostCookie = await deviceHostCookie(gw, 'hmi.panel-1.localhost', consoleJwt)
  const deviceJwt = hostCookie.slice('edgetainer_session='.length)
  const apiToken: string = (await gw.http.post('/api/tokens', { description: 'fuzz' }, { token: gw.adminToken })).body.token
  const fleet = (await gw.http.post('/api/fleets', { name: 'fuzz-target' }, { token: gw.adminToken })).body

  const text = fc.string({ unit: fc.constantFrom(...' !"#$%&\'()*+,-./0123456789:;<=>?@ABCXYZ[\\]^_`abcxyz{|}~\t'.split('')), maxLength: 40 })
  // Weighted towards the credentials and headers that matter, so the oracle below is exercised both ways.
  const origin = fc.oneof(
    { arbitrary: fc.constant(undefined), weight: 2 },
    { arbitrary: fc.constant(consoleOrigin), weight: 4 },
    fc.constantFrom(consoleOrigin, consoleOrigin, 'null', 'http://localhost', `http://localhost:${port + 1}`, `https://localhost:${port}`, `http://hmi.panel-1.localhost:${port}`, `http://LOCALHOST:${port}`, `${consoleOrigin}/`, `${consoleOrigin}.evil.example`, 'https://evil.example'),
    text,
  )
  const referer = fc.oneof(fc.constant(undefined), fc.constantFrom(`${consoleOrigin}/fleets`, `http://hmi.panel-1.localhost:${port}/`, 'https://evil.example/', 'not a url'), text)
  const contentType = fc.oneof(
    fc.constant(undefined),
    { arbitrary: fc.constantFrom('application/json', 'multipart/form-data; boundary=XyZ'), weight: 3 },
    fc.constantFrom('application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'application/vnd.x+json', 'text/plain', 'text/plain;charset=UTF-8', 'multipart/form-data; boundary=XyZ', 'application/x-www-form-urlencoded', 'application/jsonp', 'json', ''),
    text,
  )
  const cookie = fc.oneof(
    fc.constant(undefined),
    { arbitrary: fc.constant(`edgetainer_session=${consoleJwt}`), weight: 4 },
    fc.constantFrom(`edgetainer_session=${consoleJwt}`, `theme=dark; edgetainer_session=${consoleJwt}`, hostCookie, 'edgetainer_session=', `edgetainer_session=${consoleJwt}x`, 'x=edgetainer_session; a b=1', `edgetainer_session=${consoleJwt}; edgetainer_session=garbage`, 'edgetainer_session="%E0%A4%A"'),
    text,
  )
  const authorization = fc.oneof(
    { arbitrary: fc.constant(undefined), weight: 6 },
    fc.constantFrom(`Bearer ${apiToken}`, `Bearer ${consoleJwt}`, `Bearer ${deviceJwt}`, 'Bearer', 'Bearer  ', `bearer ${apiToken}`, 'Basic YWRtaW46YWRtaW4=', `Bearer ${apiToken} extra`),
    text,
  )
  const csrfHeader = fc.oneof(fc.constant(undefined), { arbitrary: fc.constant(csrf), weight: 2 }, fc.constantFrom(`${csrf}x`, ''), text)
  const route = fc.constantFrom('fleet', 'token', 'upload', 'update')

  let cases = 0
  const successes: Record<string, number> = {}
  await fc.assert(
    fc.asyncProperty(
      fc.record({ route, origin, referer, contentType, cookie, authorization, csrfHeader, name: fc.stringMatching(/^[a-z][a-z0-9-]{2,20}$/), garbage: fc.integer({ min: 0, max: 9 }).map((n) => n < 2) }),
      async (c) => {
        cases++
        const headers: Record<string, string> = {}
        if (c.origin !== undefined) headers.origin = c.origin
        if (c.referer !== undefined) headers.referer = c.referer
        if (c.contentType !== undefined) headers['content-type'] = c.contentType
        if (c.cookie !== undefined) headers.cookie = c.cookie
        if (c.authorization !== undefined) headers.authorization = c.authorization
        if (c.csrfHeader !== undefined) headers['x-csrf-token'] = c.csrfHeader
        let method = 'POST'
        let path = '/api/fleets'
        let body: string
        if (c.route === 'upload') {
          path = '/api/software/upload'
          body = c.garbage ? '--XyZ\r\nnot really' : `--XyZ\r\nContent-Disposition: form-data; name="name"\r\n\r\n${c.name}\r\n--XyZ\r\nContent-Disposition: form-data; name="file"; filename="c.yml"\r\n\r\n${COMPOSE}\r\n--XyZ--\r\n`
        } else {
          if (c.route === 'token') path = '/api/tokens'
          if (c.route === 'update') {
            method = 'PUT'
            path = `/api/fleets/${fleet.id}`
          }
          body = c.garbage ? '{"name": ' : JSON.stringify(c.route === 'token' ? { description: c.name } : c.route === 'update' ? { description: c.name } : { name: c.name })
        }
        const res = await rawRequest(port, method, path, headers, body)
        if (res.status >= 500) throw new Error(`${res.status} for ${JSON.stringify(c)}: ${res.body}`)
        if (res.status < 200 || res.status >= 300) return

        // A write went through: it must have had a right to.
        successes[c.route] = (successes[c.route] ?? 0) + 1
        const bearerOk = c.authorization === `Bearer ${apiToken}` || c.authorization === `Bearer ${consoleJwt}` || c.authorization === `bearer ${apiToken}`
        // An empty header (what the server sees of blanks, after trimming) is no credential: the cookie decides.
        if (c.authorization !== undefined && c.authorization.trim() !== '') {
          if (!bearerOk) throw new Error(`a write with Authorization ${JSON.stringify(c.authorization)} succeeded`)
          return
        }
        const cookieOk = c.cookie === `edgetainer_session=${consoleJwt}` || c.cookie === `theme=dark; edgetainer_session=${consoleJwt}` || c.cookie === `edgetainer_session=${consoleJwt}; edgetainer_session=garbage`
        // An empty Origin (after trimming) is no origin, as with Authorization: the Referer decides then. Browsers never
        // send one empty (an opaque origin is "null"), and a page cannot forge a same-origin Referer.
        const originOk = c.origin !== undefined && c.origin.trim() !== '' ? c.origin === consoleOrigin : c.referer === `${consoleOrigin}/fleets`
        const type = (c.contentType ?? '').split(';')[0]!.trim().toLowerCase()
        const jsonType = type === 'application/json' || type === 'application/vnd.x+json'
        const typeOk = c.route === 'upload' ? type === 'multipart/form-data' && c.csrfHeader === csrf : jsonType
        if (!(cookieOk && originOk && typeOk)) throw new Error(`a cookie write without its proofs succeeded: ${JSON.stringify(c)}`)
      },
    ),
    { numRuns: 500 },
  )
  t.pass('no 5xx, and every successful write had a Bearer credential or the cookie with the console origin and JSON (or multipart with its CSRF token)')
  t.ok((successes.fleet ?? 0) + (successes.token ?? 0) + (successes.update ?? 0) > 0, 'some writes did go through (the oracle was exercised)')
  t.equal((await gw.http.get('/healthz')).status, 200, 'the gateway still answers')
  t.comment(`ran ${cases} cases; successful writes by route: ${JSON.stringify(successes)}`)
})
