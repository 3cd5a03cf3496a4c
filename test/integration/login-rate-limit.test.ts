import t from 'tap'
import { ADMIN_PASSWORD, startTestGateway } from '../lib/test-gateway.js'

t.test('repeated failed logins from one address are refused', async (t) => {
  const gw = await startTestGateway(t, 'pglite', { start: { loginLimit: { maxFailures: 3, windowSeconds: 600 } } })
  for (let i = 0; i < 3; i++) {
    const res = await gw.http.post('/api/auth/login', { username: 'admin', password: `wrong-${i}` })
    t.equal(res.status, 401, `failure ${i + 1} is a plain 401`)
  }
  const blocked = await gw.http.post('/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })
  t.equal(blocked.status, 429, 'even the right password is refused while blocked')
  t.equal(blocked.body.code, 'TOO_MANY_REQUESTS')
  t.ok(Number(blocked.headers.get('retry-after')) > 0, 'Retry-After says when to come back')
  const unknownUser = await gw.http.post('/api/auth/login', { username: 'ghost', password: 'x' })
  t.equal(unknownUser.status, 429, 'the limit is per address, whatever the user name')
})

t.test('a successful login clears the failure count', async (t) => {
  const gw = await startTestGateway(t, 'pglite', { start: { loginLimit: { maxFailures: 3, windowSeconds: 600 } } })
  for (let round = 0; round < 3; round++) {
    t.equal((await gw.http.post('/api/auth/login', { username: 'admin', password: 'wrong' })).status, 401)
    t.equal((await gw.http.post('/api/auth/login', { username: 'admin', password: 'wrong' })).status, 401)
    t.equal((await gw.http.post('/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })).status, 200)
  }
})
