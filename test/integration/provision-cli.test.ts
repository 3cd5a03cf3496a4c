import t from 'tap'
import { spawn } from 'node:child_process'
import { readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { parse as parseYaml } from 'yaml'
import type { IgnitionConfig } from '../../ignition/render-ignition.js'
import { ensureAgentBuilt } from '../lib/agent-build.js'
import { filesOf, ignitionValidate, privateKeyMarkers } from '../lib/ignition-config.js'
import { startTestGateway } from '../lib/test-gateway.js'
import { repoRoot } from '../lib/repo-root.js'
import { EDGETAINER_BIN } from '../lib/remote-cli.js'

const root = repoRoot

/** The CLI as users run it, with only the environment given. */
async function cli(args: string[], env: Record<string, string>) {
  const child = spawn(EDGETAINER_BIN, args, { cwd: root, env: { PATH: process.env.PATH!, ...env } })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => (stdout += d))
  child.stderr.on('data', (d) => (stderr += d))
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  return { code, stdout, stderr }
}

t.test('edgetainer ignition renders the same device offline, from the database and the data dir', async (t) => {
  const agent = await ensureAgentBuilt()
  // PostgreSQL, so the CLI reads the database while the gateway that made the token keeps running.
  const gw = await startTestGateway(t, 'postgres')
  const { http } = gw
  const fleet = (await http.post('/api/fleets', { name: 'pumps' }, { token: gw.adminToken })).body
  const created = await http.post('/api/provision/tokens', { fleet_id: fleet.id, hostname: 'pump-9', max_uses: 3 }, { token: gw.adminToken })
  t.equal(created.status, 201)
  const env = {
    DATABASE_URL: gw.server.config.databaseUrl!,
    EDGETAINER_DATA_DIR: gw.dataDir,
    EDGETAINER_PUBLIC_URL: 'https://gw.example.com',
    EDGETAINER_SSH_PORT: '2222',
  }
  const out = path.join(gw.dataDir, 'device.ign')

  const written = await cli(['ignition', '--token', created.body.token, '--out', out, '--agent-dir', agent.dir], env)
  t.equal(written.code, 0, written.stderr)
  t.match(written.stderr, /^wrote .*device\.ign for token etr_\S+… \(fleet [0-9a-f-]+, 3 use\(s\) left, expires \S+\)\n$/)
  t.notOk(written.stderr.includes(created.body.token), 'the token value is not echoed')
  t.equal(statSync(out).mode & 0o777, 0o600, 'the file holds a credential: 0600')

  const config = JSON.parse(readFileSync(out, 'utf8')) as IgnitionConfig
  t.ok((await ignitionValidate(config)).ok, 'ignition-validate accepts it')
  t.same(privateKeyMarkers(config), [])
  const files = filesOf(config)
  t.same(parseYaml(files.get('/etc/edgetainer/agent.yaml')!.text!), {
    server_url: 'https://gw.example.com',
    ssh_host: 'gw.example.com',
    ssh_port: 2222,
    host_key: gw.server.hostPublicKey,
    token: created.body.token,
    data_dir: '/var/lib/edgetainer-agent',
    release_key: (await gw.http.get('/api/agent-releases', { token: gw.adminToken })).body.release_key,
  }, "the configured public endpoints, the running gateway's host key and its release key")
  t.same(files.get('/opt/bin/edgetainer-agent'), {
    mode: 493,
    overwrite: true,
    source: `https://gw.example.com/api/provision/agent/${agent.sha512}`,
    hash: `sha512-${agent.sha512}`,
  })
  t.equal(files.get('/etc/hostname')!.text, 'pump-9\n')

  const butane = await cli(['ignition', '--token', created.body.token, '--format', 'butane', '--agent-dir', agent.dir], env)
  t.equal(butane.code, 0, butane.stderr)
  t.match(parseYaml(butane.stdout), { variant: 'flatcar', version: '1.0.0' }, 'Butane on standard output')

  const lab = { ...env, EDGETAINER_PUBLIC_URL: 'http://127.0.0.1:8080' }
  const refused = await cli(['ignition', '--token', created.body.token, '--agent-dir', agent.dir], lab)
  t.equal(refused.code, 1, 'a loopback public_url is refused')
  t.equal(refused.stdout, '', 'renders nothing')
  t.match(refused.stderr, /^edgetainer: refusing to render this config: devices would dial the server URL http:\/\/127\.0\.0\.1:8080 and the SSH endpoint 127\.0\.0\.1:2222/)
  t.match(refused.stderr, /Set public_url \(EDGETAINER_PUBLIC_URL\)/, 'naming the setting to change')
  t.match(refused.stderr, /--allow-loopback/, 'and the override')
  const allowed = await cli(['ignition', '--token', created.body.token, '--agent-dir', agent.dir, '--allow-loopback'], lab)
  t.equal(allowed.code, 0, allowed.stderr)
  t.equal(parseYaml(filesOf(JSON.parse(allowed.stdout)).get('/etc/edgetainer/agent.yaml')!.text!).server_url, 'http://127.0.0.1:8080', '--allow-loopback renders it')
  t.match(allowed.stderr, /^edgetainer: warning: rendered with --allow-loopback: devices would dial/, 'with a warning')

  await gw.server.database.db.updateTable('registration_tokens').set({ expires_at: new Date(Date.now() - 1000) }).where('id', '=', created.body.id).execute()
  const expired = await cli(['ignition', '--token', created.body.token, '--agent-dir', agent.dir], env)
  t.equal(expired.code, 1)
  t.equal(expired.stdout, '', 'renders nothing')
  t.equal(expired.stderr, 'edgetainer: registration token has expired\n', 'one line saying why')
})

t.test('edgetainer ignition refuses a gateway configured on port 0, which no device can dial', async (t) => {
  const res = await cli(['ignition', '--token', 'etr_whatever'], { EDGETAINER_SSH_PORT: '0', EDGETAINER_DATA_DIR: path.join(root, 'test-artifacts', 'never-created') })
  t.equal(res.code, 1)
  t.match(res.stderr, /^edgetainer: public_url: the gateway is configured with port 0/)
})
