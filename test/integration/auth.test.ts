import t from 'tap'
import { dialects } from '../lib/databases.js'
import { ADMIN_PASSWORD, startTestGateway } from '../lib/test-gateway.js'

for (const dialect of dialects) {
  t.test(`sessions on ${dialect}`, async (t) => {
    const gw = await startTestGateway(t, dialect)
    const { http } = gw

    await t.test('login returns a JWT and sets the console cookie', async (t) => {
      const res = await http.post('/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })
      t.equal(res.status, 200)
      t.match(res.body.token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'token is a JWT')
      t.equal(res.body.user.role, 'admin')
      const cookies = res.headers.getSetCookie()
      t.ok(cookies.some((c) => /^edgetainer_session=/.test(c) && /HttpOnly/i.test(c) && /SameSite=Lax/i.test(c)), 'HttpOnly SameSite=Lax cookie')
      t.notOk(res.body.user.password_hash, 'no hash in the answer')
      const me = await http.get('/api/auth/me', { token: res.body.token })
      t.equal(me.status, 200)
      t.equal(me.body.username, 'admin')
    })

    await t.test('a wrong password and an unknown user get the same answer', async (t) => {
      const wrong = await http.post('/api/auth/login', { username: 'admin', password: 'not-the-password' })
      const unknown = await http.post('/api/auth/login', { username: 'nobody-here', password: 'not-the-password' })
      t.equal(wrong.status, 401)
      t.equal(unknown.status, 401)
      t.same(wrong.body, unknown.body, 'identical bodies: existence is not revealed')
    })

    await t.test('logout revokes the token', async (t) => {
      const login = await http.post('/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })
      const token = login.body.token
      t.equal((await http.get('/api/auth/me', { token })).status, 200)
      t.equal((await http.post('/api/auth/logout', undefined, { token })).status, 204)
      const after = await http.get('/api/auth/me', { token })
      t.equal(after.status, 401, 'revoked token refused')
      t.equal(after.body.code, 'UNAUTHORIZED')
    })

    await t.test('refresh rotates the session', async (t) => {
      const login = await http.post('/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })
      const refreshed = await http.post('/api/auth/refresh', undefined, { token: login.body.token })
      t.equal(refreshed.status, 200)
      t.not(refreshed.body.token, login.body.token)
      t.equal((await http.get('/api/auth/me', { token: refreshed.body.token })).status, 200, 'new token works')
      t.equal((await http.get('/api/auth/me', { token: login.body.token })).status, 401, 'old token revoked')
    })

    await t.test('cookie auth works for reads, and writes need the exact console origin and JSON', async (t) => {
      const login = await http.post('/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })
      const cookie = `edgetainer_session=${login.body.token}`
      const consoleOrigin = `http://localhost:${gw.server.httpPort}`
      t.equal((await http.get('/api/fleets', { cookie })).status, 200, 'cookie read')
      const noOrigin = await http.post('/api/fleets', { name: 'csrf-a' }, { cookie })
      t.equal(noOrigin.status, 403)
      t.equal(noOrigin.body.code, 'CSRF_CHECK_FAILED')
      for (const origin of ['https://evil.example', 'http://localhost:8080', `https://localhost:${gw.server.httpPort}`, `http://web.pump-7.localhost:${gw.server.httpPort}`, 'null']) {
        const res = await http.post('/api/fleets', { name: 'csrf-b' }, { cookie, headers: { origin } })
        t.equal(res.status, 403, `Origin ${origin} is refused`)
      }
      const viaReferer = await http.post('/api/fleets', { name: 'csrf-d' }, { cookie, headers: { referer: `http://pump-7.localhost:${gw.server.httpPort}/` } })
      t.equal(viaReferer.status, 403, 'a device host in the Referer is refused too')
      const plain = await http.post('/api/tokens', JSON.stringify({ description: 'x' }), { cookie, headers: { origin: consoleOrigin, 'content-type': 'text/plain' } })
      t.equal(plain.status, 415, 'a text/plain write on the cookie is refused')
      t.equal(plain.body.code, 'UNSUPPORTED_MEDIA_TYPE')
      const ours = await http.post('/api/fleets', { name: 'csrf-c' }, { cookie, headers: { origin: consoleOrigin } })
      t.equal(ours.status, 201, 'the exact console origin is accepted')
      const fromReferer = await http.post('/api/fleets', { name: 'csrf-e' }, { cookie, headers: { referer: `${consoleOrigin}/fleets` } })
      t.equal(fromReferer.status, 201, 'without Origin, a console Referer is accepted')
    })

    await t.test('the session cookie is host-only', async (t) => {
      const res = await http.post('/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })
      const cookie = res.headers.getSetCookie().find((c) => c.startsWith('edgetainer_session='))!
      t.match(cookie, /HttpOnly/i)
      t.match(cookie, /SameSite=Lax/i)
      t.notMatch(cookie, /Domain=/i, 'no Domain attribute: device hosts never receive it')
    })

    await t.test('bodies are JSON for every caller; a text/plain body is never read as {}', async (t) => {
      const bearer = { token: gw.adminToken }
      for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx']) {
        const res = await http.post('/api/tokens', '{"description":"sneaky"}', { ...bearer, headers: { 'content-type': type } })
        t.equal(res.status, 415, `${type} is refused`)
        t.equal(res.body.code, 'UNSUPPORTED_MEDIA_TYPE')
      }
      const structured = await http.post('/api/fleets', { name: 'merge-json' }, { ...bearer, headers: { 'content-type': 'application/vnd.edgetainer+json; charset=utf-8' } })
      t.equal(structured.status, 201, 'application/*+json is JSON')
      const own = (await http.post('/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })).body.token
      const bare = await http.post('/api/auth/refresh', undefined, { token: own })
      t.equal(bare.status, 200, 'a route without a body schema takes a bare POST')
    })

    await t.test('multipart uploads on the cookie need the session’s CSRF token', async (t) => {
      const login = await http.post('/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })
      const cookie = `edgetainer_session=${login.body.token}`
      const origin = `http://localhost:${gw.server.httpPort}`
      const fromLogin = login.headers.get('x-csrf-token')
      t.ok(fromLogin, 'login returns the CSRF token in a header')
      const me = await http.get('/api/auth/me', { cookie })
      t.equal(me.body.csrf_token, fromLogin, '/api/auth/me returns the same token')
      const upload = (headers: Record<string, string>, name: string) => {
        const form = new FormData()
        form.set('name', name)
        form.set('file', new Blob(['services:\n  web:\n    image: nginx:1\n']), 'compose.yml')
        return fetch(`${http.baseUrl}/api/software/upload`, { method: 'POST', body: form, headers: { cookie, origin, ...headers } })
      }
      const without = await upload({}, 'csrf-upload-a')
      t.equal(without.status, 403)
      t.equal((await without.json()).code, 'CSRF_TOKEN_REQUIRED')
      const other = await http.post('/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })
      const wrong = await upload({ 'x-csrf-token': other.headers.get('x-csrf-token')! }, 'csrf-upload-b')
      t.equal(wrong.status, 403, "another session's token is refused")
      t.equal((await wrong.json()).code, 'CSRF_TOKEN_INVALID')
      const ok = await upload({ 'x-csrf-token': fromLogin! }, 'csrf-upload-c')
      t.equal(ok.status, 201, 'with the token, the upload goes through')
      const bearer = new FormData()
      bearer.set('name', 'bearer-upload')
      bearer.set('file', new Blob(['services:\n  web:\n    image: nginx:1\n']), 'compose.yml')
      const viaBearer = await fetch(`${http.baseUrl}/api/software/upload`, { method: 'POST', body: bearer, headers: { authorization: `Bearer ${gw.adminToken}` } })
      t.equal(viaBearer.status, 201, 'Bearer callers need no CSRF token')
    })

    await t.test('a tampered or foreign JWT is refused', async (t) => {
      const parts = gw.adminToken.split('.')
      const tampered = `${parts[0]}.${Buffer.from(JSON.stringify({ sub: 'x', sid: 'y', iss: 'edgetainer' })).toString('base64url')}.${parts[2]}`
      t.equal((await http.get('/api/auth/me', { token: tampered })).status, 401)
      t.equal((await http.get('/api/auth/me', { headers: { authorization: 'Basic abc' } })).status, 401)
    })

    await t.test('changing a password ends the user’s sessions', async (t) => {
      const token = await gw.tokenFor('viewer', 'pwchange')
      const me = await http.get('/api/auth/me', { token })
      const res = await http.put(`/api/users/${me.body.id}`, { password: 'a-brand-new-password' }, { token: gw.adminToken })
      t.equal(res.status, 200)
      t.equal((await http.get('/api/auth/me', { token })).status, 401)
    })
  })
}
