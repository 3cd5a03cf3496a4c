import t from 'tap'
import { dialects } from '../lib/databases.js'
import { newKeyPair } from '../lib/keys.js'
import { startTestGateway } from '../lib/test-gateway.js'
import { createRegistrationTokens, hashRegistrationToken, RegistrationTokenError } from '../../server/provision/registration-tokens.js'

for (const dialect of dialects) {
  t.test(`registration tokens and device registration on ${dialect}`, async (t) => {
    const gw = await startTestGateway(t, dialect)
    const { http } = gw
    const token = gw.adminToken
    const db = gw.server.database.db
    const fleet = (await http.post('/api/fleets', { name: 'pumps' }, { token })).body
    const store = createRegistrationTokens({ db })
    const register = (value: string, publicKey = newKeyPair().publicKey, extra: Record<string, unknown> = {}) =>
      http.post('/api/provision/register', { token: value, public_key: publicKey, hardware_info: { cpu: 'arm64' }, os_version: 'Flatcar 3975.2.0', hostname: 'box', ...extra })

    await t.test('a token is created with defaults and options, shown once and stored hashed', async (t) => {
      const admin = newKeyPair('admin').publicKey
      const res = await http.post(
        '/api/provision/tokens',
        { fleet_id: fleet.id, name: 'line 1', name_pattern: 'pump-{n}', network: { address: '10.0.0.5/24', gateway: '10.0.0.1', dns: ['10.0.0.2'] }, ssh_keys: [admin], hostname: 'pump' },
        { token },
      )
      t.equal(res.status, 201, JSON.stringify(res.body))
      t.match(res.body.token, /^etr_[A-Za-z0-9_-]{43}$/)
      t.match(res.body, { fleet_id: fleet.id, name: 'line 1', max_uses: 1, uses: 0, state: 'active', revoked_at: null })
      const ttl = Date.parse(res.body.expires_at) - Date.now()
      t.ok(ttl > 23.9 * 3600_000 && ttl <= 24 * 3600_000, 'expires in 24 h by default')
      t.same(res.body.options, { name_pattern: 'pump-{n}', network: { address: '10.0.0.5/24', gateway: '10.0.0.1', dns: ['10.0.0.2'] }, ssh_keys: [admin.split(' ').slice(0, 2).join(' ')], hostname: 'pump' })
      const row = await db.selectFrom('registration_tokens').selectAll().where('id', '=', res.body.id).executeTakeFirstOrThrow()
      t.equal(row.token_hash, hashRegistrationToken(res.body.token), 'only the hash is stored')
      t.notOk(JSON.stringify(row).includes(res.body.token), 'the value is nowhere in the row')
      const listed = await http.get(`/api/provision/tokens?fleet_id=${fleet.id}`, { token })
      t.equal(listed.status, 200)
      t.equal(listed.body.items.length, 1)
      t.notOk('token' in listed.body.items[0], 'listings never show the value')
      t.notOk('token_hash' in listed.body.items[0])
      const usable = await store.findUsable(res.body.token)
      t.equal(usable.id, res.body.id, 'findUsable finds it without using it')
      t.equal(usable.uses, 0)
      t.equal(usable.options.name_pattern, 'pump-{n}')
    })

    await t.test('bad token requests are 400s naming the field', async (t) => {
      const cases: [Record<string, unknown>, string][] = [
        [{}, 'fleet_id'],
        [{ fleet_id: '00000000-0000-4000-8000-000000000000' }, 'fleet_id'],
        [{ fleet_id: fleet.id, ssh_keys: ['not a key'] }, 'ssh_keys.0'],
        [{ fleet_id: fleet.id, network: { address: '10.0.0.5' } }, 'network'],
        [{ fleet_id: fleet.id, name_pattern: 'pump-{x}' }, 'name_pattern'],
        [{ fleet_id: fleet.id, expires_in: 5 }, 'expires_in'],
        [{ fleet_id: fleet.id, max_uses: 0 }, 'max_uses'],
        [{ fleet_id: fleet.id, extra: 1 }, 'extra'],
      ]
      for (const [body, field] of cases) {
        const res = await http.post('/api/provision/tokens', body, { token })
        t.equal(res.status, 400, JSON.stringify(body))
        t.match(res.body.field ?? '', new RegExp(`^(body\\.)?${field.replace('.', '\\.')}`), `${JSON.stringify(body)} → ${res.body.field}`)
      }
      const dhcp = await http.post('/api/provision/tokens', { fleet_id: fleet.id, network: { dhcp: true }, expires_in: '7d' }, { token })
      t.equal(dhcp.status, 201)
      t.ok(Date.parse(dhcp.body.expires_at) - Date.now() > 6.9 * 86_400_000, 'durations are accepted')
    })

    await t.test('a token registers one device; its replay is refused; a retry with the same key gets the same device', async (t) => {
      const value = (await http.post('/api/provision/tokens', { fleet_id: fleet.id, name_pattern: 'pump-{n}' }, { token })).body.token
      const device = newKeyPair('device')
      const first = await register(value, device.publicKey)
      t.equal(first.status, 201, JSON.stringify(first.body))
      t.match(first.body, { fleet_id: fleet.id, name: 'pump-1', ssh: { host: 'localhost', port: gw.server.sshPort }, host_key: gw.server.hostPublicKey })
      t.equal(first.body.device_id, 'pump-1', 'the name pattern names the device id (provision-device-ids.test.ts has the rest)')
      t.type(first.body.ssh_port, 'number')
      t.equal(first.body.subdomain, 'pump-1', 'and its subdomain')
      const stored = (await http.get(`/api/devices/${first.body.id}`, { token })).body
      t.match(stored, { fleet_id: fleet.id, os_version: 'Flatcar 3975.2.0', hardware_info: { cpu: 'arm64', hostname: 'box' }, ssh_port: first.body.ssh_port })
      t.equal(stored.public_key, device.publicKey.split(' ').slice(0, 2).join(' '))

      const retry = await register(value, device.publicKey)
      t.equal(retry.status, 200, 'a retry after a lost reply is answered again')
      t.same(retry.body, first.body, 'with the same device')
      const replay = await register(value)
      t.equal(replay.status, 410)
      t.equal(replay.body.code, 'REGISTRATION_TOKEN_USED_UP', 'another key replaying the token is refused')
      t.equal((await http.get(`/api/devices?fleet_id=${fleet.id}`, { token })).body.total, 1, 'one device only')
      await t.rejects(store.findUsable(value), new RegistrationTokenError('used_up'))
    })

    await t.test('unknown, expired and revoked tokens are refused', async (t) => {
      const unknown = await register('etr_nothing-like-this')
      t.equal(unknown.status, 404)
      t.equal(unknown.body.code, 'REGISTRATION_TOKEN_NOT_FOUND')

      const expiring = (await http.post('/api/provision/tokens', { fleet_id: fleet.id }, { token })).body
      await db.updateTable('registration_tokens').set({ expires_at: new Date(Date.now() - 1000) }).where('id', '=', expiring.id).execute()
      const expired = await register(expiring.token)
      t.equal(expired.status, 410)
      t.equal(expired.body.code, 'REGISTRATION_TOKEN_EXPIRED')
      t.equal((await http.get(`/api/provision/tokens/${expiring.id}`, { token })).body.state, 'expired')

      const revoking = (await http.post('/api/provision/tokens', { fleet_id: fleet.id, max_uses: 5 }, { token })).body
      t.equal((await http.delete(`/api/provision/tokens/${revoking.id}`, { token })).status, 204)
      t.equal((await http.delete(`/api/provision/tokens/${revoking.id}`, { token })).status, 204, 'revoking twice is fine')
      const revoked = await register(revoking.token)
      t.equal(revoked.status, 410)
      t.equal(revoked.body.code, 'REGISTRATION_TOKEN_REVOKED')
      await t.rejects(store.findUsable(revoking.token), { code: 'REGISTRATION_TOKEN_REVOKED' })
      t.equal((await http.delete('/api/provision/tokens/00000000-0000-4000-8000-000000000000', { token })).status, 404)
      t.equal((await http.post('/api/provision/register', { token: revoking.token, public_key: 'ssh-ed25519 nonsense' })).body.field, 'public_key')
    })

    await t.test('concurrent registrations never take more uses than the token has', async (t) => {
      const twice = (await http.post('/api/provision/tokens', { fleet_id: fleet.id, max_uses: 2, name_pattern: 'multi-{n}-{hostname}' }, { token })).body
      const results = await Promise.all([1, 2, 3, 4].map((i) => register(twice.token, newKeyPair().publicKey, { hostname: `h${i}` })))
      const statuses = results.map((r) => r.status).sort()
      t.same(statuses, [201, 201, 410, 410], 'two succeed, two are refused')
      t.same(results.filter((r) => r.status === 201).map((r) => r.body.name.replace(/-h\d$/, '')).sort(), ['multi-1', 'multi-2'])
      t.equal((await http.get(`/api/provision/tokens/${twice.id}`, { token })).body.uses, 2)
    })
  })
}

t.test('registration is rate-limited per address', async (t) => {
  const gw = await startTestGateway(t, 'pglite', { start: { registerLimit: { maxAttempts: 3, windowSeconds: 60 } } })
  const attempt = () => gw.http.post('/api/provision/register', { token: 'etr_guess', public_key: newKeyPair().publicKey })
  for (let i = 0; i < 3; i++) t.equal((await attempt()).status, 404)
  const limited = await attempt()
  t.equal(limited.status, 429)
  t.ok(Number(limited.headers.get('retry-after')) > 0, 'Retry-After says when')
})
