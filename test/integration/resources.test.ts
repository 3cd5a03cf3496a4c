import t from 'tap'
import { dialects } from '../lib/databases.js'
import { startTestGateway } from '../lib/test-gateway.js'
import { newKeyPair } from '../lib/keys.js'


for (const dialect of dialects) {
  t.test(`fleets, devices, validation, pagination and audit on ${dialect}`, async (t) => {
    const gw = await startTestGateway(t, dialect)
    const { http } = gw
    const token = gw.adminToken

    await t.test('validation errors name the field', async (t) => {
      const noName = await http.post('/api/fleets', { description: 'x' }, { token })
      t.equal(noName.status, 400)
      t.equal(noName.body.code, 'VALIDATION_FAILED')
      t.equal(noName.body.field, 'name')
      t.match(noName.body.error, /^name: /)
      const extra = await http.post('/api/fleets', { name: 'a', colour: 'red' }, { token })
      t.equal(extra.body.field, 'colour', 'unknown fields are named too')
      const badLimit = await http.get('/api/devices?limit=0', { token })
      t.equal(badLimit.status, 400)
      t.equal(badLimit.body.field, 'limit')
      const badKey = await http.post('/api/devices', { name: 'x', public_key: 'ssh-ed25519 not-base64!' }, { token })
      t.equal(badKey.status, 400)
      t.equal(badKey.body.field, 'public_key')
      const privateKey = await http.post('/api/devices', { name: 'x', public_key: '-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----' }, { token })
      t.equal(privateKey.status, 400)
      t.match(privateKey.body.error, /private key/)
      const badJson = await http.post('/api/fleets', '{"name":', { token })
      t.equal(badJson.status, 400)
      t.equal(badJson.body.code, 'INVALID_JSON')
      const badFleet = await http.post('/api/devices', { name: 'x', fleet_id: '00000000-0000-4000-8000-000000000000' }, { token })
      t.equal(badFleet.status, 400)
      t.equal(badFleet.body.field, 'fleet_id')
    })

    await t.test('fleet CRUD with conflicts and 404s', async (t) => {
      const a = await http.post('/api/fleets', { name: 'alpha', description: 'first' }, { token })
      t.equal(a.status, 201)
      t.equal(a.body.device_count, 0)
      const dup = await http.post('/api/fleets', { name: 'alpha' }, { token })
      t.equal(dup.status, 409)
      t.equal(dup.body.field, 'name')
      const upd = await http.put(`/api/fleets/${a.body.id}`, { description: 'changed' }, { token })
      t.equal(upd.body.description, 'changed')
      t.equal((await http.get('/api/fleets/not-a-uuid', { token })).status, 404)
      const missing = await http.get('/api/fleets/00000000-0000-4000-8000-000000000000', { token })
      t.equal(missing.status, 404)
      t.equal(missing.body.code, 'FLEET_NOT_FOUND')
    })

    await t.test('devices: ports, subdomains, keys, move, filters and pagination', async (t) => {
      const fleet = (await http.post('/api/fleets', { name: 'pumps' }, { token })).body
      const other = (await http.post('/api/fleets', { name: 'valves' }, { token })).body
      const key = newKeyPair().publicKey
      const first = await http.post('/api/devices', { name: 'Pump 0', device_id: 'pump-0', fleet_id: fleet.id, public_key: key }, { token })
      t.equal(first.status, 201)
      t.equal(first.body.subdomain, 'pump-0')
      const rangeStart = gw.server.config.sshPortRange.start
      t.equal(first.body.ssh_port, rangeStart, 'first port of the range')
      t.match(first.body.public_key_fingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/)
      const sameKey = await http.post('/api/devices', { name: 'thief', public_key: key }, { token })
      t.equal(sameKey.status, 409, 'a key belongs to one device')
      t.equal(sameKey.body.code, 'PUBLIC_KEY_IN_USE')
      const dupId = await http.post('/api/devices', { name: 'again', device_id: 'pump-0' }, { token })
      t.equal(dupId.status, 409)
      t.equal(dupId.body.field, 'device_id')
      for (let i = 1; i < 7; i++) {
        const res = await http.post('/api/devices', { name: `Pump ${i}`, device_id: `pump-${i}`, fleet_id: fleet.id }, { token })
        t.equal(res.body.ssh_port, rangeStart + i, `pump-${i} gets the next port`)
      }
      const byDeviceId = await http.get('/api/devices/pump-3', { token })
      t.equal(byDeviceId.body.name, 'Pump 3', 'found by device_id')

      const p1 = await http.get(`/api/devices?fleet_id=${fleet.id}&limit=3&offset=0`, { token })
      const p2 = await http.get(`/api/devices?fleet_id=${fleet.id}&limit=3&offset=3`, { token })
      const p3 = await http.get(`/api/devices?fleet_id=${fleet.id}&limit=3&offset=6`, { token })
      t.equal(p1.body.total, 7)
      t.same([p1.body.items.length, p2.body.items.length, p3.body.items.length], [3, 3, 1])
      t.same([p1.body.limit, p2.body.offset], [3, 3])
      const names = [...p1.body.items, ...p2.body.items, ...p3.body.items].map((d: { name: string }) => d.name)
      t.equal(new Set(names).size, 7, 'pages do not overlap')
      const search = await http.get('/api/devices?q=pump%205', { token })
      t.same(search.body.items.map((d: { device_id: string }) => d.device_id), ['pump-5'])
      const offline = await http.get('/api/devices?status=offline', { token })
      t.equal(offline.body.total, 7)
      t.equal((await http.get('/api/devices?status=online', { token })).body.total, 0)
      const fleetDevices = await http.get(`/api/fleets/${fleet.id}/devices?limit=2`, { token })
      t.equal(fleetDevices.body.total, 7)
      t.equal(fleetDevices.body.items.length, 2)

      const moved = await http.post('/api/devices/pump-6/move', { fleet_id: other.id }, { token })
      t.equal(moved.status, 200)
      t.equal(moved.body.fleet_id, other.id)
      t.equal((await http.get(`/api/fleets/${other.id}`, { token })).body.device_count, 1)

      const taken = await http.put('/api/devices/pump-1', { subdomain: 'pump-2' }, { token })
      t.equal(taken.status, 409)
      t.equal(taken.body.field, 'subdomain')
      const reserved = await http.put('/api/devices/pump-1', { subdomain: 'www' }, { token })
      t.equal(reserved.status, 409, 'reserved labels are refused')
      t.equal((await http.delete('/api/devices/pump-0', { token })).status, 204)
      const reused = await http.post('/api/devices', { name: 'replacement' }, { token })
      t.equal(reused.body.ssh_port, rangeStart, 'a deleted device releases its port')
    })

    await t.test('every mutation is audited', async (t) => {
      const fleet = (await http.post('/api/fleets', { name: 'audited' }, { token })).body
      await http.put(`/api/fleets/${fleet.id}`, { description: 'x' }, { token })
      await http.delete(`/api/fleets/${fleet.id}`, { token })
      const audit = await http.get(`/api/audit?target_type=fleet&target_id=${fleet.id}`, { token })
      t.equal(audit.status, 200)
      t.same(audit.body.items.map((r: { action: string }) => r.action), ['fleet.delete', 'fleet.update', 'fleet.create'])
      t.ok(audit.body.items.every((r: { actor: string }) => r.actor === 'admin'), 'actor recorded')
      t.ok(audit.body.items.every((r: { ip_address: string }) => r.ip_address), 'address recorded')
      const userAudit = await http.get('/api/audit?action=user.create', { token })
      t.ok(userAudit.body.total >= 0)
      const u = await http.post('/api/users', { username: 'newbie', password: 'long-enough-password', role: 'viewer' }, { token })
      const rows = await http.get(`/api/audit?action=user.create&target_id=${u.body.id}`, { token })
      t.equal(rows.body.total, 1)
      t.notMatch(JSON.stringify(rows.body), /long-enough-password/, 'no password in the audit log')
    })

    await t.test('users: last admin is protected', async (t) => {
      const me = (await http.get('/api/auth/me', { token })).body
      const demote = await http.put(`/api/users/${me.id}`, { role: 'viewer' }, { token })
      t.equal(demote.status, 409)
      t.equal(demote.body.code, 'LAST_ADMIN')
      const self = await http.delete(`/api/users/${me.id}`, { token })
      t.equal(self.status, 409)
    })
  })
}
