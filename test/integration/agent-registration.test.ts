import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { stringify } from 'yaml'
import { RegistrationRefusedError } from '../../agent/identity/register.js'
import { requestViaHost } from '../lib/device-app.js'
import { sshExec, startTestSshd, waitFor } from '../lib/openssh.js'
import { registrationToken, startTestAgent, waitOnline } from '../lib/test-agent.js'
import { createOutboxIngest } from '../../server/telemetry/outbox-ingest.js'
import { startTestGateway } from '../lib/test-gateway.js'
import { newKeyPair } from '../lib/keys.js'
import { sql } from 'kysely'
import { repoRoot } from '../lib/repo-root.js'
import { EDGETAINER_BIN } from '../lib/remote-cli.js'

t.test('an agent registers once, holds its tunnel, reports metrics and keeps its identity', async (t) => {
  const gw = await startTestGateway(t, 'postgres', { start: { agentHeartbeatSeconds: 1 } })
  const { http, adminToken: token } = gw
  const address = { http, adminToken: token, sshPort: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey }
  const fleet = (await http.post('/api/fleets', { name: 'pumps' }, { token })).body
  const value = await registrationToken(address, fleet.id, { name_pattern: 'pump-{n}' })
  const sshd = await startTestSshd(t)
  const dataDir = mkdtempSync(path.join(tmpdir(), 'et-agent-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const agentConfig = { sshd_address: `127.0.0.1:${sshd.port}`, command_allowlist: ['echo *', 'uptime', 'sleep *'] }

  const first = await startTestAgent(t, { gateway: address, token: value, dataDir, config: agentConfig })
  const agent = () => first.agent
  const deviceId = first.agent.registration.device_id
  const device = (await http.get(`/api/devices/${deviceId}`, { token })).body

  await t.test('the token registered it into the fleet, and its key stays private', async (t) => {
    t.match(device, { fleet_id: fleet.id, name: 'pump-1' })
    const keyMode = statSync(path.join(dataDir, 'identity', 'id_ed25519')).mode & 0o777
    t.equal(keyMode, 0o600, 'the private key is 0600')
    t.equal(statSync(path.join(dataDir, 'identity', 'registration.json')).mode & 0o777, 0o600)
    t.equal(device.public_key, readFileSync(path.join(dataDir, 'identity', 'id_ed25519.pub'), 'utf8').trim(), 'the gateway holds its public key')
    const audit = (await http.get(`/api/audit?action=device.register&target_id=${device.id}`, { token })).body.items
    t.equal(audit.length, 1, 'the registration is audited')
    t.match(audit[0], { actor: /^registration-token:/, target_type: 'device', actor_user_id: null })
  })

  await t.test('its tunnel comes up with the sshd and control forwards', async (t) => {
    await waitOnline(http, token, deviceId)
    const status = await waitFor('both forwards', async () => {
      const body = (await http.get(`/api/devices/${deviceId}/status`, { token })).body
      return body.session?.forwards.length === 2 ? body : undefined
    })
    const kinds = status.session.forwards.map((f: { kind: string; bind_address: string; gateway_port: number | null }) => `${f.kind}:${f.bind_address}:${f.gateway_port}`).sort()
    t.same(kinds, [`service:edgetainer-agent:null`, `ssh:localhost:${device.ssh_port}`])
    const res = await sshExec(device.ssh_port, sshd.clientKeyFile, sshd.hostPublicKey, 'echo through-the-agent')
    t.equal(res.stdout.trim(), 'through-the-agent', "the device's assigned port reaches its sshd through the agent")
  })

  await t.test('heartbeats carry metrics, stored as latest and history', async (t) => {
    const latest = await waitFor('metrics', async () => (await http.get(`/api/devices/${deviceId}`, { token })).body.metrics)
    t.ok(latest.memory_total_bytes > 0, 'memory')
    t.ok(latest.disk_total_bytes > 0, 'disk')
    t.ok(latest.uptime_seconds > 0, 'uptime')
    t.type(latest.net_rx_bytes, 'number')
    t.ok(Array.isArray(latest.containers))
    const history = await waitFor('two samples', async () => {
      const res = await http.get(`/api/devices/${deviceId}/metrics?since=${encodeURIComponent(new Date(Date.now() - 60_000).toISOString())}`, { token })
      return res.body.items.length >= 2 ? res.body : undefined
    })
    t.ok(history.latest.cpu_percent === null || history.latest.cpu_percent >= 0)
    const future = await http.get(`/api/devices/${deviceId}/metrics?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`, { token })
    t.same(future.body.items, [], 'since filters the history')
  })

  await t.test('commands run only if the device allows them', async (t) => {
    const operator = await gw.tokenFor('operator')
    const ok = await http.post(`/api/devices/${deviceId}/command`, { command: ['echo', 'hello', 'device'] }, { token: operator })
    t.equal(ok.status, 200, JSON.stringify(ok.body))
    t.match(ok.body, { exit_code: 0, stdout: 'hello device\n', timed_out: false })
    const refused = await http.post(`/api/devices/${deviceId}/command`, { command: 'cat /etc/shadow' }, { token: operator })
    t.equal(refused.status, 403)
    t.equal(refused.body.code, 'COMMAND_NOT_ALLOWED', 'the agent refuses what its allow-list does not name')
    const exact = await http.post(`/api/devices/${deviceId}/command`, { command: 'uptime --pretty' }, { token: operator })
    t.equal(exact.body.code, 'COMMAND_NOT_ALLOWED', 'an entry without * allows exactly that argv')
    const reboot = await http.post(`/api/devices/${deviceId}/restart`, { target: 'host' }, { token: operator })
    t.equal(reboot.status, 403, 'rebooting needs its own allow-list entry')
    const slow = await http.post(`/api/devices/${deviceId}/command`, { command: ['sleep', '10'], timeout_seconds: 1 }, { token: operator })
    t.match(slow.body, { timed_out: true }, 'a command past its timeout is stopped')
    t.equal((await http.post(`/api/devices/${deviceId}/command`, { command: 'uptime' }, { token: await gw.tokenFor('viewer') })).status, 403, 'viewers cannot run commands')
    const audit = await http.get('/api/audit?action=device.command', { token })
    t.ok(JSON.stringify(audit.body).includes('device.command'), 'commands are audited')
  })

  await t.test('the control forward answers only the gateway, even when exposed as a service', async (t) => {
    const refused = await http.post(
      `/api/devices/${deviceId}/exposed-services`,
      { name: 'sneaky', container_name: 'edgetainer-agent', internal_port: 1, auth_required: false },
      { token },
    )
    t.equal(refused.status, 400, 'the API refuses to expose the reserved control name')
    // Second layer: even a row written behind the API's back reaches an agent that wants the control key.
    const row = await gw.server.database.db
      .insertInto('exposed_services')
      .values({ device_id: device.id, name: 'sneaky', container_name: 'edgetainer-agent', internal_port: 1, external_port: null, auth_required: false, enabled: true, url_path: null })
      .returning('id')
      .executeTakeFirstOrThrow()
    gw.server.events.emit('service.changed', { device_uuid: device.id })
    const res = await requestViaHost(gw.server.httpPort, `sneaky.${device.subdomain}.localhost`, '/command')
    t.equal(res.status, 401, `the agent refuses a request without the control key: ${res.status} ${res.body}`)
    t.match(res.body, /CONTROL_KEY_INVALID/)
    t.equal((await http.delete(`/api/devices/${deviceId}/exposed-services/${row.id}`, { token })).status, 204)
    await agent().syncNow()
    const still = await http.post(`/api/devices/${deviceId}/command`, { command: ['echo', 'still', 'here'] }, { token })
    t.equal(still.body.stdout, 'still here\n', 'removing that service left the control forward alone')
  })

  await t.test('a resent outbox batch is stored once', async (t) => {
    const ingest = createOutboxIngest({ db: gw.server.database.db })
    // A device of its own: the running agent's outbox (another outbox_id) arriving between two calls would restart the count.
    const device = (await http.post('/api/devices', { name: 'outbox-resend', device_id: 'outbox-resend', public_key: newKeyPair('outbox-resend').publicKey }, { token })).body
    const at = new Date().toISOString()
    const batch = {
      outbox_id: 'resend-test-1',
      dropped_log_lines: 3,
      events: [
        { seq: 1, at, kind: 'agent' as const, message: 'first' },
        { seq: 2, at, kind: 'log' as const, container: 'web', stream: 'stdout' as const, line: 'second' },
      ],
    }
    t.same(await ingest.ingest(device.id, batch), { acked_seq: 2, stored: 2 })
    t.same(await ingest.ingest(device.id, batch), { acked_seq: 2, stored: 0 }, 'the same batch again (its reply was lost) stores nothing')
    const next = { ...batch, dropped_log_lines: 0, events: [...batch.events, { seq: 3, at, kind: 'agent' as const, message: 'third' }] }
    t.same(await ingest.ingest(device.id, next), { acked_seq: 3, stored: 1 }, 'an overlapping batch stores only what is new')
    const rows = await gw.server.database.db.selectFrom('device_logs').select(['message', 'log_type']).where('device_id', '=', device.id).where('message', 'in', ['first', 'second', 'third']).execute()
    t.equal(rows.length, 3)
    const dropped = await gw.server.database.db.selectFrom('device_logs').select('message').where('device_id', '=', device.id).where('log_type', '=', 'dropped').execute()
    t.equal(dropped.length, 1, 'the dropped count is recorded once')
    t.match(dropped[0]!.message, /^3 events .*were dropped on the device/)
  })

  await t.test('the token is spent: another device replaying it is refused', async (t) => {
    await t.rejects(startTestAgent(t, { gateway: address, token: value }), RegistrationRefusedError, 'registration refused')
    const tokens = (await http.get(`/api/provision/tokens?fleet_id=${fleet.id}`, { token })).body.items
    t.equal(tokens[0].uses, 1)
    t.equal((await http.get(`/api/devices?fleet_id=${fleet.id}`, { token })).body.total, 1)
  })

  await t.test('a restarted agent keeps its identity and does not register again', async (t) => {
    await first.stop()
    await waitFor('offline', async () => !(await http.get(`/api/devices/${deviceId}/status`, { token })).body.online)
    // The token is used up: only a kept identity can bring this agent back.
    const again = await startTestAgent(t, { gateway: address, token: value, dataDir, config: agentConfig })
    t.equal(again.agent.registration.device_id, deviceId, 'same device')
    await waitOnline(http, token, deviceId)
    t.equal((await http.get(`/api/devices?fleet_id=${fleet.id}`, { token })).body.total, 1, 'no second device')
    await again.stop()
  })

  await t.test('`edgetainer agent` runs from a config file and stops cleanly on SIGTERM', async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'et-agent-cli-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const file = path.join(dir, 'agent.yaml')
    const cliToken = await registrationToken(address, fleet.id)
    writeFileSync(
      file,
      stringify({
        server_url: http.baseUrl,
        ssh_host: '127.0.0.1',
        ssh_port: gw.server.sshPort,
        host_key: gw.server.hostPublicKey,
        token: cliToken,
        data_dir: path.join(dir, 'data'),
        command_allowlist: [],
      }),
    )
    const child = spawn(EDGETAINER_BIN, ['agent', '--config', file], {
      cwd: repoRoot,
      env: { ...process.env, EDGETAINER_AGENT_LOG_LEVEL: 'warn', EDGETAINER_AGENT_WATCH_SECONDS: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    child.stderr!.on('data', (d) => (stderr += d))
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    t.teardown(() => {
      child.kill('SIGKILL')
    })
    const registration = await waitFor('cli agent registered', () => {
      try {
        return JSON.parse(readFileSync(path.join(dir, 'data', 'identity', 'registration.json'), 'utf8')) as { device_id: string }
      } catch {
        return undefined
      }
    }, 60_000)
    await waitOnline(http, token, registration.device_id, 30_000)
    child.kill('SIGTERM')
    t.equal(await exited, 0, `exit code 0 after SIGTERM ${stderr}`)
    await waitFor('cli device offline', async () => !(await http.get(`/api/devices/${registration.device_id}/status`, { token })).body.online)
    t.ok(gw.server.tunnels.get((await http.get(`/api/devices/${registration.device_id}`, { token })).body.id) === undefined, 'its session left the registry')
  })
})

t.test('registration is one transaction: when its audit row cannot be written, no device, no registration and no token use remain', async (t) => {
  const gw = await startTestGateway(t, 'postgres')
  const { http, adminToken: token } = gw
  const db = gw.server.database.db
  const fleet = (await http.post('/api/fleets', { name: 'atomic' }, { token })).body
  const value = await registrationToken({ http, adminToken: token, sshPort: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey }, fleet.id, { max_uses: 1 })
  // A real failure inside PostgreSQL, after the device row is in: the audit insert raises.
  await sql`create function refuse_registration_audit() returns trigger language plpgsql as $$
    begin if new.action = 'device.register' then raise exception 'audit log unavailable'; end if; return new; end $$`.execute(db)
  await sql`create trigger refuse_registration_audit before insert on audit_log for each row execute function refuse_registration_audit()`.execute(db)
  const key = newKeyPair('atomic')
  const failed = await http.post('/api/provision/register', { token: value, public_key: key.publicKey })
  t.equal(failed.status, 500, 'the registration failed')
  t.notMatch(JSON.stringify(failed.body), /audit log unavailable/, 'without leaking the database error')
  t.equal((await http.get(`/api/devices?fleet_id=${fleet.id}`, { token })).body.total, 0, 'no device was left behind')
  t.equal((await db.selectFrom('device_registrations').select('device_id').execute()).length, 0, 'no registration record')
  t.equal((await http.get(`/api/provision/tokens?fleet_id=${fleet.id}`, { token })).body.items[0].uses, 0, 'the token use was given back by the rollback')

  await sql`drop trigger refuse_registration_audit on audit_log`.execute(db)
  const ok = await http.post('/api/provision/register', { token: value, public_key: key.publicKey })
  t.equal(ok.status, 201, 'the same token and key register once the database accepts the audit row')
  const rows = await db.selectFrom('audit_log').selectAll().where('action', '=', 'device.register').execute()
  t.equal(rows.length, 1)
  t.equal(rows[0]!.target_id, ok.body.id)
})
