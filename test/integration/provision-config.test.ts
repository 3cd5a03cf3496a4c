import t from 'tap'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { parse as parseYaml } from 'yaml'
import type { IgnitionConfig } from '../../ignition/render-ignition.js'
import { ensureAgentBuilt } from '../lib/agent-build.js'
import { filesOf, ignitionValidate, privateKeyMarkers } from '../lib/ignition-config.js'
import { newKeyPair } from '../lib/keys.js'
import { startTestGateway, type TestGateway } from '../lib/test-gateway.js'
import type { StartOptions } from '../../server/main.js'

async function gatewayWithAgent(t: Parameters<typeof startTestGateway>[0], start: StartOptions = {}) {
  const agent = await ensureAgentBuilt()
  // A public URL with port 0 means "the port the gateway bound", so the config points at this gateway.
  const gw = await startTestGateway(t, 'postgres', { env: { EDGETAINER_PUBLIC_URL: 'http://127.0.0.1:0' }, start: { agentDir: agent.dir, ...start } })
  const fleet = (await gw.http.post('/api/fleets', { name: 'pumps' }, { token: gw.adminToken })).body
  const newToken = async (body: Record<string, unknown> = {}) => {
    const res = await gw.http.post('/api/provision/tokens', { fleet_id: fleet.id, ...body }, { token: gw.adminToken })
    if (res.status !== 201) throw new Error(`token: ${res.status} ${JSON.stringify(res.body)}`)
    return res.body as { id: string; token: string }
  }
  return { gw, agent, fleet, newToken }
}

/** These gateways listen on 127.0.0.1, a lab setup: every render allows the loopback address explicitly (refusal: provision-endpoints.test.ts). */
const configOf = (gw: TestGateway, value: string, query = '') => gw.http.get(`/api/provision/config/${value}${query ? `${query}&` : '?'}allow_loopback=1`)

t.test('a usable token renders a valid config that pins this gateway and its agent', async (t) => {
  const { gw, agent, newToken } = await gatewayWithAgent(t)
  const admin = newKeyPair('admin@laptop').publicKey
  const { id, token } = await newToken({ hostname: 'pump-7', ssh_keys: [admin], network: { address: '192.168.7.20/24', gateway: '192.168.7.1', dns: ['192.168.7.1'] } })

  const res = await configOf(gw, token)
  t.equal(res.status, 200, JSON.stringify(res.body).slice(0, 200))
  t.match(res.headers.get('content-type'), /^application\/vnd\.coreos\.ignition\+json/)
  t.equal(res.headers.get('cache-control'), 'no-store', 'a config holds a credential: never cached')
  t.match(res.headers.get('content-disposition'), /filename="pump-7\.ign"/)
  const config = res.body as IgnitionConfig

  const validation = await ignitionValidate(config)
  t.ok(validation.ok, `ignition-validate accepts it: ${validation.report}`)
  t.equal(validation.report, '', 'without warnings')

  const files = filesOf(config)
  const agentConfig = parseYaml(files.get('/etc/edgetainer/agent.yaml')!.text!)
  t.same(agentConfig, {
    server_url: `http://127.0.0.1:${gw.server.httpPort}`,
    ssh_host: '127.0.0.1',
    ssh_port: gw.server.sshPort,
    host_key: gw.server.hostPublicKey,
    token,
    data_dir: '/var/lib/edgetainer-agent',
    release_key: (await gw.http.get('/api/agent-releases', { token: gw.adminToken })).body.release_key,
  }, 'the agent pins the gateway release key it verifies updates with')
  t.equal(files.get('/etc/hostname')!.text, 'pump-7\n')
  t.match(files.get('/etc/systemd/network/00-edgetainer-static.network')!.text, /Address=192\.168\.7\.20\/24\nGateway=192\.168\.7\.1\nDNS=192\.168\.7\.1/)
  const terminalKey = (await gw.http.get('/api/provision/terminal-key', { token: gw.adminToken })).body.trim()
  t.same(config.passwd.users, [{ name: 'core', sshAuthorizedKeys: [terminalKey, admin.split(' ').slice(0, 2).join(' ')] }], 'the terminal key and the admin key')

  await t.test('the agent download is the file whose sha512 the config pins', async (t) => {
    const binary = files.get('/opt/bin/edgetainer-agent')!
    t.equal(binary.source, `http://127.0.0.1:${gw.server.httpPort}/api/provision/agent/${agent.sha512}`, 'content-addressed: the URL names this build for good')
    const download = await fetch(binary.source!)
    t.equal(download.status, 200)
    t.equal(download.headers.get('content-type'), 'application/octet-stream')
    const bytes = Buffer.from(await download.arrayBuffer())
    t.equal(Number(download.headers.get('content-length')), bytes.length)
    const sha512 = createHash('sha512').update(bytes).digest('hex')
    t.equal(binary.hash, `sha512-${sha512}`, 'the hash in the config is the hash of what the gateway serves')
    t.equal(sha512, agent.sha512, 'and of what `make agent` built')
    const published = await fetch(`http://127.0.0.1:${gw.server.httpPort}/api/provision/agent/linux-x64.sha512`)
    t.equal(await published.text(), `${sha512}  edgetainer-agent-linux-x64\n`, 'the .sha512 in sha512sum format')
  })

  await t.test('no private key material anywhere in it', async (t) => {
    t.same(privateKeyMarkers(config), [], 'no PRIVATE KEY / BEGIN OPENSSH, data URLs decoded')
    const raw = JSON.stringify(config)
    for (const name of ['ssh_host_ed25519_key', 'terminal_ed25519_key']) {
      const privateKey = readFileSync(path.join(gw.dataDir, name), 'utf8')
      const body = privateKey.split('\n').filter((l) => l && !l.startsWith('-----')).join('')
      t.notOk(raw.includes(body.slice(0, 40)), `the gateway's ${name} is not in it`)
      for (const f of files.values()) t.notOk((f.text ?? '').replace(/\n/g, '').includes(body.slice(0, 40)))
    }
  })

  await t.test('Butane: the same device as YAML', async (t) => {
    const butane = await configOf(gw, token, '?format=butane')
    t.equal(butane.status, 200)
    t.match(butane.headers.get('content-type'), /^application\/yaml/)
    t.equal(butane.headers.get('cache-control'), 'no-store')
    const doc = parseYaml(butane.body)
    t.match(doc, { variant: 'flatcar', version: '1.0.0' })
    const agentYaml = doc.storage.files.find((f: { path: string }) => f.path === '/etc/edgetainer/agent.yaml')
    t.equal(agentYaml.mode, 384)
    t.equal(parseYaml(agentYaml.contents.inline).token, token)
    t.same(privateKeyMarkers(butane.body), [])
    t.equal((await configOf(gw, token, '?format=xml')).status, 400, 'an unknown format is a 400')
  })

  const row = (await gw.http.get(`/api/provision/tokens/${id}`, { token: gw.adminToken })).body
  t.equal(row.uses, 0, 'rendering uses nothing: only registration does')
  t.equal(row.state, 'active')
})

t.test('an unknown, expired, used-up or revoked token renders nothing', async (t) => {
  const { gw, newToken } = await gatewayWithAgent(t)
  const db = gw.server.database.db
  const expect = async (value: string, status: number, code: string, message: RegExp, what: string) => {
    for (const query of ['', '?format=butane']) {
      const res = await configOf(gw, value, query)
      t.equal(res.status, status, `${what}${query}: ${status}`)
      t.equal(res.body.code, code, `${what}${query}: ${code}`)
      t.match(res.body.error, message, `${what}${query}: says why`)
      t.notOk(JSON.stringify(res.body).includes('ignition') || JSON.stringify(res.body).includes('variant'), 'no config in the answer')
    }
  }

  await expect('etr_' + 'x'.repeat(43), 404, 'REGISTRATION_TOKEN_NOT_FOUND', /registration token not found/, 'unknown')
  await expect('not-a-token', 404, 'REGISTRATION_TOKEN_NOT_FOUND', /registration token not found/, 'malformed')

  const expired = await newToken()
  await db.updateTable('registration_tokens').set({ expires_at: new Date(Date.now() - 1000) }).where('id', '=', expired.id).execute()
  await expect(expired.token, 410, 'REGISTRATION_TOKEN_EXPIRED', /expired/, 'expired')

  const used = await newToken({ max_uses: 1 })
  t.equal((await configOf(gw, used.token)).status, 200, 'usable before registration')
  const registered = await gw.http.post('/api/provision/register', { token: used.token, public_key: newKeyPair('device').publicKey })
  t.equal(registered.status, 201, JSON.stringify(registered.body))
  await expect(used.token, 410, 'REGISTRATION_TOKEN_USED_UP', /used up/, 'used up')

  const revoked = await newToken()
  t.equal((await gw.http.delete(`/api/provision/tokens/${revoked.id}`, { token: gw.adminToken })).status, 204)
  await expect(revoked.token, 410, 'REGISTRATION_TOKEN_REVOKED', /revoked/, 'revoked')
})

t.test('guessing tokens is rate-limited per address; good fetches do not count', async (t) => {
  const { gw, newToken } = await gatewayWithAgent(t, { configFetchLimit: { maxFailures: 3, windowSeconds: 60 } })
  const { token } = await newToken({ max_uses: 50 })
  for (let i = 0; i < 5; i++) t.equal((await configOf(gw, token)).status, 200, `a batch of boxes behind one address: fetch ${i + 1}`)
  for (let i = 0; i < 3; i++) t.equal((await configOf(gw, `etr_guess${i}${'y'.repeat(40)}`)).status, 404)
  const limited = await configOf(gw, `etr_guess9${'y'.repeat(40)}`)
  t.equal(limited.status, 429, 'the fourth failure within the window is refused')
  t.ok(Number(limited.headers.get('retry-after')) > 0, 'with Retry-After')
  t.equal((await configOf(gw, token)).status, 429, 'and so is everything else from that address until the window ends')
})
