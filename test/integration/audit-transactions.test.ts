import { spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { sql, type Kysely } from 'kysely'
import type { Database } from '../../server/db/schema.js'
import t from 'tap'
import { startTestGateway } from '../lib/test-gateway.js'
import { EDGETAINER_BIN } from '../lib/remote-cli.js'

/** Makes PostgreSQL itself refuse audit rows of one action: the change that writes it must roll back with it. */
async function refuseAudit(db: Kysely<Database>, action: string) {
  await sql`alter table audit_log add constraint refuse_for_test check (action <> ${sql.lit(action)})`.execute(db)
  return () => sql`alter table audit_log drop constraint refuse_for_test`.execute(db)
}

t.test('a change and its audit row commit together or not at all (PostgreSQL)', async (t) => {
  const gw = await startTestGateway(t, 'postgres')
  const { db } = gw.server.database
  const count = async (table: 'users' | 'fleets' | 'api_tokens' | 'audit_log', where?: [string, string]) => {
    let q = db.selectFrom(table).select((eb) => eb.fn.countAll<string>().as('n'))
    if (where) q = q.where(where[0] as never, '=', where[1] as never)
    return Number((await q.executeTakeFirstOrThrow()).n)
  }

  await t.test('user creation whose audit insert fails leaves no user', async (t) => {
    const allow = await refuseAudit(db, 'user.create')
    const res = await gw.http.post('/api/users', { username: 'ghost', password: 'ghost-password-123', role: 'viewer' }, { token: gw.adminToken })
    // A check violation maps to 400 VALIDATION_FAILED in the one error handler.
    t.equal(res.status, 400, 'PostgreSQL refused the audit row')
    t.equal(res.body.code, 'VALIDATION_FAILED')
    t.notMatch(JSON.stringify(res.body), /refuse_for_test/, 'no internals in the answer')
    t.equal(await count('users', ['username', 'ghost']), 0, 'the user row rolled back with it')
    await allow()
    const ok = await gw.http.post('/api/users', { username: 'ghost', password: 'ghost-password-123', role: 'viewer' }, { token: gw.adminToken })
    t.equal(ok.status, 201)
    t.equal(await count('audit_log', ['target_id', ok.body.id]), 1, 'with the constraint gone, change and audit row land together')
  })

  await t.test('fleet creation, token creation and user update roll back the same way', async (t) => {
    let allow = await refuseAudit(db, 'fleet.create')
    t.equal((await gw.http.post('/api/fleets', { name: 'Never' }, { token: gw.adminToken })).status, 400)
    t.equal(await count('fleets', ['name', 'Never']), 0, 'no fleet')
    await allow()

    const before = await count('api_tokens')
    allow = await refuseAudit(db, 'token.create')
    t.equal((await gw.http.post('/api/tokens', { description: 'never' }, { token: gw.adminToken })).status, 400)
    t.equal(await count('api_tokens'), before, 'no token')
    await allow()

    const user = (await gw.http.post('/api/users', { username: 'demote-me', password: 'demote-me-password', role: 'operator' }, { token: gw.adminToken })).body
    allow = await refuseAudit(db, 'user.update')
    t.equal((await gw.http.put(`/api/users/${user.id}`, { role: 'viewer' }, { token: gw.adminToken })).status, 400)
    t.equal((await gw.http.get(`/api/users/${user.id}`, { token: gw.adminToken })).body.role, 'operator', 'the role change rolled back')
    await allow()
  })
})

t.test('a new password ends the user’s sessions and API tokens, and says so in the audit log', async (t) => {
  const gw = await startTestGateway(t, 'postgres')
  const created = await gw.http.post('/api/users', { username: 'scripter', password: 'scripter-password', role: 'operator' }, { token: gw.adminToken })
  const session = (await gw.http.post('/api/auth/login', { username: 'scripter', password: 'scripter-password' })).body.token
  const apiToken = (await gw.http.post('/api/tokens', { description: 'ci' }, { token: session })).body.token
  t.equal((await gw.http.get('/api/tokens', { token: apiToken })).status, 200, 'the token works before')
  t.equal((await gw.http.put(`/api/users/${created.body.id}`, { password: 'a-completely-new-one' }, { token: gw.adminToken })).status, 200)
  t.equal((await gw.http.get('/api/tokens', { token: apiToken })).status, 401, 'the API token is revoked')
  t.equal((await gw.http.get('/api/tokens', { token: session })).status, 401, 'the session is revoked')
  const fresh = (await gw.http.post('/api/auth/login', { username: 'scripter', password: 'a-completely-new-one' })).body.token
  t.same((await gw.http.get('/api/tokens', { token: fresh })).body.items, [], 'no token survived')
  const audit = (await gw.http.get(`/api/audit?action=user.update&target_id=${created.body.id}`, { token: gw.adminToken })).body.items[0]
  t.match(audit.details, { fields: ['password'], revoked_sessions: 1, revoked_api_tokens: 1 })

  // A demotion is recorded with before and after; a disable too.
  await gw.http.put(`/api/users/${created.body.id}`, { role: 'viewer', disabled: true }, { token: gw.adminToken })
  const change = (await gw.http.get(`/api/audit?action=user.update&target_id=${created.body.id}`, { token: gw.adminToken })).body.items[0]
  t.match(change.details, { role: { before: 'operator', after: 'viewer' }, disabled: { before: false, after: true } })
})

t.test('switching auth_required off is recorded explicitly, with before and after', async (t) => {
  const gw = await startTestGateway(t, 'postgres')
  const device = (await gw.http.post('/api/devices', { name: 'Cam', device_id: 'cam-1', public_key: null }, { token: gw.adminToken })).body
  const service = (await gw.http.post(`/api/devices/${device.id}/exposed-services`, { name: 'admin', container_name: 'web', internal_port: 80, auth_required: true }, { token: gw.adminToken })).body
  const res = await gw.http.put(`/api/devices/${device.id}/exposed-services/${service.id}`, { auth_required: false }, { token: gw.adminToken })
  t.equal(res.status, 200)
  const rows = (await gw.http.get(`/api/audit?target_id=${service.id}`, { token: gw.adminToken })).body.items
  const off = rows.find((r: { action: string }) => r.action === 'service.auth_required.off')
  t.ok(off, 'a row of its own')
  t.same(off.details.auth_required, { before: true, after: false })
  const update = rows.find((r: { action: string }) => r.action === 'service.update')
  t.same(update.details.changes, { auth_required: { before: true, after: false } })
  // Turning it back on is an ordinary update, with no "off" row.
  await gw.http.put(`/api/devices/${device.id}/exposed-services/${service.id}`, { auth_required: true }, { token: gw.adminToken })
  const after = (await gw.http.get(`/api/audit?target_id=${service.id}&action=service.auth_required.off`, { token: gw.adminToken })).body.items
  t.equal(after.length, 1)
})

t.test('user changes made with the CLI are audited', async (t) => {
  const gw = await startTestGateway(t, 'postgres')
  const env = { PATH: process.env.PATH!, DATABASE_URL: gw.server.config.databaseUrl!, EDGETAINER_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'et-cli-audit-')) }
  const cli = (args: string[], input?: string) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(EDGETAINER_BIN, args, { env })
      if (input !== undefined) child.stdin.end(input)
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (d) => (stdout += d))
      child.stderr.on('data', (d) => (stderr += d))
      child.on('close', (code) => resolve({ code, stdout, stderr }))
    })
  const add = await cli(['user', 'add', 'cli-made', '--role', 'operator', '--password-stdin'], 'cli-made-password\n')
  t.equal(add.code, 0, add.stderr)
  const user = (await gw.http.get('/api/users', { token: gw.adminToken })).body.items.find((u: { username: string }) => u.username === 'cli-made')
  const session = (await gw.http.post('/api/auth/login', { username: 'cli-made', password: 'cli-made-password' })).body.token
  const apiToken = (await gw.http.post('/api/tokens', {}, { token: session })).body.token
  const passwd = await cli(['user', 'passwd', 'cli-made'])
  t.equal(passwd.code, 0, passwd.stderr)
  t.equal((await gw.http.get('/api/tokens', { token: apiToken })).status, 401, 'passwd from the CLI revokes API tokens too')
  t.equal((await gw.http.get('/api/tokens', { token: session })).status, 401, 'and sessions')
  const rows = (await gw.http.get(`/api/audit?target_id=${user.id}`, { token: gw.adminToken })).body.items
  const created = rows.find((r: { action: string }) => r.action === 'user.create')
  t.match(created, { actor: /^cli/, actor_user_id: null, details: { username: 'cli-made', role: 'operator', via: 'cli' } })
  const changed = rows.find((r: { action: string }) => r.action === 'user.update')
  t.match(changed, { actor: /^cli/, details: { fields: ['password'], revoked_sessions: 1, revoked_api_tokens: 1, via: 'cli' } })
  t.notMatch(JSON.stringify(rows), /cli-made-password/, 'no password in the log')
})
