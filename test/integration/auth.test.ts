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

    await t.test('cookie auth works for reads, and writes need our Origin', async (t) => {
      const login = await http.post('/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })
      const cookie = `edgetainer_session=${login.body.token}`
      t.equal((await http.get('/api/fleets', { cookie })).status, 200, 'cookie read')
      const noOrigin = await http.post('/api/fleets', { name: 'csrf-a' }, { cookie })
      t.equal(noOrigin.status, 403)
      t.equal(noOrigin.body.code, 'CSRF_CHECK_FAILED')
      const evil = await http.post('/api/fleets', { name: 'csrf-b' }, { cookie, headers: { origin: 'https://evil.example' } })
      t.equal(evil.status, 403)
      const ours = await http.post('/api/fleets', { name: 'csrf-c' }, { cookie, headers: { origin: 'http://localhost:8080' } })
      t.equal(ours.status, 201, 'same-site origin accepted')
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
