import t from 'tap'
import { dialects } from '../lib/databases.js'
import { startTestGateway } from '../lib/test-gateway.js'
import { roleAllows } from '../../server/auth/roles.js'
import type { Role } from '../../server/db/schema.js'

const sampleId = '00000000-0000-4000-8000-000000000000'

for (const dialect of dialects) {
  t.test(`role checks on every route on ${dialect}`, async (t) => {
    const gw = await startTestGateway(t, dialect)
    const doc = (await gw.http.get('/api/openapi.json')).body
    // API tokens, not sessions: the matrix calls /api/auth/logout, which would end a session mid-test.
    const apiToken = async (session: string) => (await gw.http.post('/api/tokens', {}, { token: session })).body.token as string
    const tokens: Record<Role, string> = {
      viewer: await apiToken(await gw.tokenFor('viewer')),
      operator: await apiToken(await gw.tokenFor('operator')),
      admin: await apiToken(gw.adminToken),
    }
    type Operation = { 'x-required-role': string; 'x-streaming'?: boolean }
    const operations = Object.entries(doc.paths as Record<string, Record<string, Operation>>).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({
        method: method.toUpperCase(),
        path: path.replace(/\{[^}]+\}/g, sampleId),
        role: op['x-required-role'],
        streaming: op['x-streaming'] === true,
      })),
    )
    t.ok(operations.length > 20, `${operations.length} operations checked`)

    for (const op of operations) {
      if (op.role === 'public') continue
      const anonymous = await gw.http.request(op.method, op.path, { body: op.method === 'GET' ? undefined : {} })
      t.equal(anonymous.status, 401, `${op.method} ${op.path} without credentials → 401`)
      for (const role of ['viewer', 'operator', 'admin'] as Role[]) {
        // A stream (SSE) never ends for an allowed caller; only its refusals are checked here.
        if (op.streaming && roleAllows(role, op.role as Role)) continue
        const res = await gw.http.request(op.method, op.path, { token: tokens[role], body: op.method === 'GET' ? undefined : {} })
        if (roleAllows(role, op.role as Role)) t.notOk([401, 403].includes(res.status), `${role} may ${op.method} ${op.path} (${res.status})`)
        else t.equal(res.status, 403, `${role} may not ${op.method} ${op.path}`)
      }
    }
  })

  t.test(`what each role can do, end to end, on ${dialect}`, async (t) => {
    const gw = await startTestGateway(t, dialect)
    const { http } = gw
    const viewer = await gw.tokenFor('viewer')
    const operator = await gw.tokenFor('operator')

    const fleet = await http.post('/api/fleets', { name: 'north' }, { token: gw.adminToken })
    t.equal(fleet.status, 201, 'admin creates fleets')
    t.equal((await http.post('/api/fleets', { name: 'south' }, { token: operator })).status, 403, 'operator cannot create fleets')
    t.equal((await http.post('/api/fleets', { name: 'south' }, { token: viewer })).status, 403, 'viewer cannot create fleets')
    t.equal((await http.get(`/api/fleets/${fleet.body.id}`, { token: viewer })).status, 200, 'viewer reads fleets')
    t.equal((await http.get('/api/devices', { token: viewer })).status, 200, 'viewer reads devices')
    t.equal((await http.get('/api/users', { token: operator })).status, 403, 'operator cannot list users')
    t.equal((await http.get('/api/audit', { token: operator })).status, 403, 'operator cannot read the audit log')
    t.equal((await http.get('/api/users', { token: gw.adminToken })).status, 200, 'admin lists users')
    const dev = await http.post('/api/devices', { name: 'pump-1' }, { token: gw.adminToken })
    t.equal(dev.status, 201)
    t.equal((await http.delete(`/api/devices/${dev.body.id}`, { token: operator })).status, 403, 'operator cannot delete devices')
    t.equal((await http.delete(`/api/devices/${dev.body.id}`, { token: gw.adminToken })).status, 204, 'admin deletes devices')
  })
}
