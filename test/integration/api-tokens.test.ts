import t from 'tap'
import { dialects } from '../lib/databases.js'
import { startTestGateway } from '../lib/test-gateway.js'

for (const dialect of dialects) {
  t.test(`API tokens on ${dialect}`, async (t) => {
    const gw = await startTestGateway(t, dialect)
    const { http } = gw
    const viewer = await gw.tokenFor('viewer', 'scripter')

    const created = await http.post('/api/tokens', { description: 'ci' }, { token: viewer })
    t.equal(created.status, 201)
    t.match(created.body.token, /^et_[\w-]{40,}$/)
    const apiToken: string = created.body.token

    await t.test('works as a Bearer token with the owner’s role', async (t) => {
      const me = await http.get('/api/auth/me', { token: apiToken })
      t.equal(me.status, 200)
      t.equal(me.body.username, 'scripter')
      t.equal(me.body.authenticated_via, 'api_token')
      t.equal((await http.get('/api/fleets', { token: apiToken })).status, 200)
      t.equal((await http.post('/api/fleets', { name: 'x' }, { token: apiToken })).status, 403, 'still only a viewer')
    })

    await t.test('is stored only as a hash and listed without its value', async (t) => {
      const list = await http.get('/api/tokens', { token: viewer })
      t.equal(list.body.items.length, 1)
      t.notOk(list.body.items[0].token, 'no value in the list')
      t.equal(list.body.items[0].prefix, apiToken.slice(0, 9))
      const rows = await gw.server.database.db.selectFrom('api_tokens').select('token').execute()
      t.notOk(rows.some((r) => r.token === apiToken), 'plaintext not in the table')
    })

    await t.test('expires', async (t) => {
      const short = await http.post('/api/tokens', { description: 'short', expires_in_days: 1 }, { token: viewer })
      t.equal((await http.get('/api/auth/me', { token: short.body.token })).status, 200)
      // Move the expiry into the past rather than waiting a day.
      await gw.server.database.db.updateTable('api_tokens').set({ expires_at: new Date(Date.now() - 1000) }).where('id', '=', short.body.id).execute()
      t.equal((await http.get('/api/auth/me', { token: short.body.token })).status, 401, 'expired token refused')
      const past = await http.post('/api/tokens', { expires_at: '2001-01-01T00:00:00Z' }, { token: viewer })
      t.equal(past.status, 400)
      t.equal(past.body.field, 'expires_at')
    })

    await t.test('can be revoked, by its owner or an admin', async (t) => {
      t.equal((await http.delete(`/api/tokens/${created.body.id}`, { token: viewer })).status, 204)
      t.equal((await http.get('/api/auth/me', { token: apiToken })).status, 401, 'revoked')
      const another = await http.post('/api/tokens', {}, { token: viewer })
      const me = await http.get('/api/auth/me', { token: viewer })
      t.equal((await http.get(`/api/users/${me.body.id}/tokens`, { token: viewer })).status, 403, 'viewers cannot see others’ tokens')
      t.equal((await http.delete(`/api/users/${me.body.id}/tokens/${another.body.id}`, { token: gw.adminToken })).status, 204)
      t.equal((await http.get('/api/auth/me', { token: another.body.token })).status, 401)
    })
  })
}
