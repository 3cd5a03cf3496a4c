import { existsSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import fc from 'fast-check'
import t from 'tap'
import { projectName } from '../../agent/deploy/stack-store.js'
import { ensureTestImage, TEST_IMAGE } from '../lib/docker-image.js'
import { runningContainer } from '../lib/docker-state.js'
import { containerEnv } from '../lib/env-values.js'
import { freePort } from '../lib/ports.js'
import { createCliRunner, EDGETAINER_BIN, isOneLineError } from '../lib/remote-cli.js'
import { registrationToken, startTestAgent, waitOnline } from '../lib/test-agent.js'
import { ADMIN_PASSWORD, startTestGateway } from '../lib/test-gateway.js'
import { waitFor } from '../lib/wait.js'

const bash = promisify(execFile)

/** One service that prints its environment to its log, then idles; SIGKILL stops busybox at once. */
const compose = `services:
  web:
    image: ${TEST_IMAGE}
    network_mode: host
    stop_signal: SIGKILL
    command: ["sh", "-c", "echo web up with GREETING=$$GREETING; exec sleep 100000"]
`

/**
 * The real `bin/edgetainer` against a real gateway and a real agent on real
 * dockerd: login, the device list, environment changes that reach the
 * container, deploys, tokens, logs, errors and their exit codes.
 */
t.test('the remote CLI against a real gateway and agent', async (t) => {
  ensureTestImage()
  const gw = await startTestGateway(t, 'postgres', { start: { agentHeartbeatSeconds: 1 } })
  const { http, adminToken: token } = gw
  const url = http.baseUrl
  const address = { http, adminToken: token, sshPort: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey }
  const fleet = (await http.post('/api/fleets', { name: 'shops' }, { token })).body
  const { agent } = await startTestAgent(t, { gateway: address, token: await registrationToken(address, fleet.id) })
  const deviceId = agent.registration.device_id as string
  await waitOnline(http, token, deviceId)
  const cli = createCliRunner(t)
  const software = (await http.post('/api/software', { name: 'shop', docker_compose_yaml: compose, env_vars: { vars: { GREETING: 'from-software' } } }, { token })).body
  const project = projectName('shop', software.id)

  await t.test('errors: one line, the documented exit codes', async (t) => {
    // Independent runs go in parallel: each is a whole Node process.
    const [badUrl, closed, wrong, notLoggedIn, usage, unknownOption] = await Promise.all([
      cli.run(['login', 'not a url', '--username', 'admin', '--password-stdin'], { input: ADMIN_PASSWORD }),
      freePort().then((port) => cli.run(['login', `http://127.0.0.1:${port}`, '--username', 'admin', '--password-stdin'], { input: ADMIN_PASSWORD })),
      cli.run(['login', url, '--username', 'admin', '--password-stdin'], { input: 'not-the-password\n' }),
      cli.run(['devices']),
      cli.run(['devices', '--status', 'sleeping']),
      cli.run(['devices', '--colour']),
    ])
    t.equal(badUrl.exitCode, 1, 'a bad URL is a usage error')
    t.ok(isOneLineError(badUrl.stderr), badUrl.stderr)
    t.match(badUrl.stderr, /is not a URL/)
    t.equal(closed.exitCode, 4, 'nobody listening is a network error')
    t.ok(isOneLineError(closed.stderr), closed.stderr)
    t.match(closed.stderr, /cannot reach the gateway at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/)
    t.equal(wrong.exitCode, 2, 'bad credentials are an auth error')
    t.ok(isOneLineError(wrong.stderr), wrong.stderr)
    t.match(wrong.stderr, /INVALID_CREDENTIALS/)
    t.equal(notLoggedIn.exitCode, 2)
    t.match(notLoggedIn.stderr, /^edgetainer: not logged in; run `edgetainer login <url>` first\n$/)
    t.equal(usage.exitCode, 1)
    t.ok(isOneLineError(usage.stderr), usage.stderr)
    t.equal(unknownOption.exitCode, 1, "commander's own usage errors exit 1 too")
    t.ok(isOneLineError(unknownOption.stderr), unknownOption.stderr)
    t.notOk(existsSync(path.join(cli.configDir, 'config.json')), 'nothing is stored after a failed login')
  })

  await t.test('login stores a named API token, never the password, in a 0600 file in a 0700 dir', async (t) => {
    const res = await cli.run(['login', url, '--username', 'admin', '--password-stdin'], { input: `${ADMIN_PASSWORD}\n` })
    t.equal(res.exitCode, 0, res.stderr)
    t.match(res.stdout, new RegExp(`logged in to ${url.replace(/[.]/g, '\\.')} as admin \\(admin\\)`))
    const file = path.join(cli.configDir, 'config.json')
    t.equal(statSync(file).mode & 0o777, 0o600, 'config.json is 0600')
    t.equal(statSync(cli.configDir).mode & 0o777, 0o700, 'its directory is 0700')
    const stored = JSON.parse(readFileSync(file, 'utf8'))
    t.match(stored, { url, username: 'admin', token: /^et_/, token_id: /^[0-9a-f-]{36}$/ })
    t.notMatch(readFileSync(file, 'utf8'), ADMIN_PASSWORD, 'no password on disk')
    const tokens = (await http.get('/api/tokens', { token })).body.items
    t.ok(tokens.some((tk: { id: string; description: string }) => tk.id === stored.token_id && /^edgetainer CLI \(/.test(tk.description)), 'the token is named for the CLI')
    const again = await cli.run(['login', url, '--username', 'admin', '--password-stdin', '--json'], { input: ADMIN_PASSWORD })
    t.equal(again.exitCode, 0, again.stderr)
    t.match(JSON.parse(again.stdout), { url, username: 'admin', role: 'admin' })
    const after = (await http.get('/api/tokens', { token })).body.items
    t.notOk(after.some((tk: { id: string }) => tk.id === stored.token_id), 'a second login revoked the first token')
    const who = await cli.run(['whoami', '--json'])
    t.equal(who.exitCode, 0, who.stderr)
    t.match(JSON.parse(who.stdout), { url, username: 'admin', role: 'admin', authenticated_via: 'api_token' })
  })

  await t.test('devices and device, as text and as JSON', async (t) => {
    const [list, filtered, offline, table, one, unknown, noFleet] = await Promise.all([
      cli.run(['devices', '--json']),
      cli.run(['devices', '--fleet', 'shops', '--status', 'online', '--json']),
      cli.run(['devices', '--status', 'offline', '--json']),
      cli.run(['devices']),
      cli.run(['device', deviceId, '--json']),
      cli.run(['device', 'no-such-device']),
      cli.run(['devices', '--fleet', 'nowhere']),
    ])
    t.equal(list.exitCode, 0, list.stderr)
    t.match(JSON.parse(list.stdout), [{ device_id: deviceId, fleet_id: fleet.id, status: 'online' }])
    t.same(JSON.parse(filtered.stdout).map((d: { device_id: string }) => d.device_id), [deviceId], 'filters by fleet name and status')
    t.same(JSON.parse(offline.stdout), [])
    t.match(table.stdout, /^DEVICE ID\s+NAME\s+STATUS\s+FLEET\s+LAST SEEN\n/)
    t.match(table.stdout, new RegExp(`${deviceId}\\s+\\S+\\s+online\\s+shops`))
    t.match(JSON.parse(one.stdout), { device_id: deviceId, status: 'online' })
    t.equal(unknown.exitCode, 3, 'an unknown device is exit 3')
    t.equal(unknown.stderr, 'edgetainer: device "no-such-device" not found (DEVICE_NOT_FOUND)\n')
    t.equal(noFleet.exitCode, 3)
    t.equal(noFleet.stderr, 'edgetainer: fleet "nowhere" not found\n')
  })

  await t.test('deploy, then env set changes the container environment after the redeploy', async (t) => {
    const deploy = await cli.run(['deploy', 'shop', '--fleet', 'shops', '--json'])
    t.equal(deploy.exitCode, 0, deploy.stderr)
    t.match(JSON.parse(deploy.stdout), { software_id: software.id, fleet_id: fleet.id })
    const first = await waitFor('web running', () => runningContainer(project, 'web'), 60_000)
    t.equal(containerEnv(first.id).get('GREETING')?.toString(), 'from-software')

    const set = await cli.run(['env', 'set', 'GREETING', 'from-the-cli', '--device', deviceId, '--service', 'web'])
    t.equal(set.exitCode, 0, set.stderr)
    t.equal(set.stdout, `set GREETING on device ${deviceId}, service web\n`)
    const secret = await cli.run(['env', 'set', 'API_KEY', '--secret', '--device', deviceId, '--service', 'web'], { input: 'k3y-from-stdin\n' })
    t.equal(secret.exitCode, 0, secret.stderr)
    const second = await waitFor(
      'web recreated with both variables',
      async () => {
        const c = await runningContainer(project, 'web')
        if (!c || c.id === first.id) return undefined
        const env = containerEnv(c.id)
        return env.get('GREETING')?.toString() === 'from-the-cli' && env.get('API_KEY')?.toString() === 'k3y-from-stdin' ? c : undefined
      },
      60_000,
    )
    t.not(second.id, first.id, 'a new container carries the new environment; the secret arrived without its trailing newline')
    const [listing, onArgv, noService] = await Promise.all([
      cli.run(['env', 'list', '--device', deviceId, '--json']),
      cli.run(['env', 'set', 'API_KEY', 'on-the-command-line', '--secret', '--device', deviceId, '--service', 'web']),
      cli.run(['env', 'set', 'X', '1', '--fleet', 'shops']),
    ])
    const listed = JSON.parse(listing.stdout)
    t.same(listed.containers.web.API_KEY, { value: '********', secret: true, description: null }, 'secrets are listed masked')
    t.equal(listed.containers.web.GREETING.value, 'from-the-cli')
    t.equal(onArgv.exitCode, 1, 'a secret on the command line is refused')
    t.match(onArgv.stderr, /read from stdin, never from the command line/)
    t.equal(noService.exitCode, 1)
    t.match(noService.stderr, /--service is needed at the fleet level/)
    // Changing a neighbour keeps the secret's stored value (it travels back masked).
    t.equal((await cli.run(['env', 'set', 'COLOR', 'blue', '--device', deviceId, '--service', 'web'])).exitCode, 0)
    const resolved = JSON.parse((await cli.run(['env', 'list', '--device', deviceId, '--resolved', '--json'])).stdout)
    t.match(resolved.containers.web, { GREETING: { value: 'from-the-cli', source: 'device' }, API_KEY: { secret: true, source: 'device' } })
    const third = await waitFor('web with COLOR', async () => {
      const c = await runningContainer(project, 'web')
      return c && containerEnv(c.id).get('COLOR')?.toString() === 'blue' ? c : undefined
    }, 60_000)
    t.equal(containerEnv(third.id).get('API_KEY')?.toString(), 'k3y-from-stdin', 'the secret kept its value')
    const rm = await cli.run(['env', 'rm', 'COLOR', '--device', deviceId, '--service', 'web'])
    t.equal(rm.exitCode, 0, rm.stderr)
    const rmAgain = await cli.run(['env', 'rm', 'COLOR', '--device', deviceId, '--service', 'web'])
    t.equal(rmAgain.exitCode, 3, 'removing a missing variable is not found')
    t.ok(isOneLineError(rmAgain.stderr), rmAgain.stderr)
  })

  await t.test('deploy a pinned version to one device', async (t) => {
    const res = await cli.run(['deploy', 'shop', '--device', deviceId, '--version', '1'])
    t.equal(res.exitCode, 0, res.stderr)
    t.match(res.stdout, new RegExp(`^deployed shop 1 to device ${deviceId} \\(pinned\\); deployment [0-9a-f-]{36}\n$`))
    const unknownVersion = await cli.run(['deploy', 'shop', '--device', deviceId, '--version', '9'])
    t.equal(unknownVersion.exitCode, 1, 'a version that does not exist is refused by the gateway')
    t.ok(isOneLineError(unknownVersion.stderr), unknownVersion.stderr)
  })

  await t.test('env at the fleet and software levels', async (t) => {
    // A fleet with no device and software deployed nowhere: no container churns while these change.
    t.equal((await http.post('/api/fleets', { name: 'spare' }, { token })).status, 201)
    t.equal((await http.post('/api/software', { name: 'spare-app', docker_compose_yaml: compose, env_vars: { vars: { GREETING: 'from-software' } } }, { token })).status, 201)
    const [fleetSet, swSet] = await Promise.all([
      cli.run(['env', 'set', 'REGION', 'eu', '--fleet', 'spare', '--service', 'web']),
      cli.run(['env', 'set', 'MODE', 'prod', '--software', 'spare-app', '--json']),
    ])
    t.equal(fleetSet.exitCode, 0, fleetSet.stderr)
    t.equal(swSet.exitCode, 0, swSet.stderr)
    t.match(JSON.parse(swSet.stdout), { level: 'software', version: '2' }, 'software defaults make a new version')
    const [fleetList, swList, table] = await Promise.all([
      cli.run(['env', 'list', '--fleet', 'spare', '--json']),
      cli.run(['env', 'list', '--software', 'spare-app', '--json']),
      cli.run(['env', 'list', '--software', 'spare-app']),
    ])
    t.same(JSON.parse(fleetList.stdout).containers.web.REGION.value, 'eu')
    t.match(JSON.parse(swList.stdout), { vars: { GREETING: { value: 'from-software' }, MODE: { value: 'prod' } } })
    t.match(table.stdout, /^SERVICE\s+NAME\s+VALUE\s+SECRET\n/)
    t.match(table.stdout, /\*\s+MODE\s+prod\s+no/)
    const [fleetRm, swRm] = await Promise.all([
      cli.run(['env', 'rm', 'REGION', '--fleet', 'spare', '--service', 'web']),
      cli.run(['env', 'rm', 'MODE', '--software', 'spare-app']),
    ])
    t.equal(fleetRm.exitCode, 0, fleetRm.stderr)
    t.equal(swRm.exitCode, 0, swRm.stderr)
    t.same(JSON.parse((await cli.run(['env', 'list', '--fleet', 'spare', '--json'])).stdout).containers, {}, 'an emptied set is removed')
  })

  await t.test('logs print what the container wrote', async (t) => {
    const lines = await waitFor('the log lines of two container starts', async () => {
      const r = await cli.run(['logs', deviceId, '--service', 'web'])
      return r.exitCode === 0 && r.stdout.includes('web up with GREETING=from-the-cli') ? r.stdout : undefined
    }, 30_000, 500)
    t.match(lines, /^\d{4}-\d\d-\d\dT\S+ \[web\] web up with GREETING=from-software$/m)
    const [json, bad, ghost] = await Promise.all([
      cli.run(['logs', deviceId, '--service', 'web', '--since', '1h', '--json']),
      cli.run(['logs', deviceId, '--since', 'yesterday']),
      cli.run(['logs', 'ghost']),
    ])
    const entries = json.stdout.trim().split('\n').map((l) => JSON.parse(l))
    t.ok(entries.length >= 2 && entries.every((e: { container: string }) => e.container === 'web'), 'NDJSON, one entry a line')
    t.equal(bad.exitCode, 1)
    t.match(bad.stderr, /--since must be an ISO 8601 time/)
    t.equal(ghost.exitCode, 3)
  })

  await t.test('tokens: API tokens and provisioning tokens', async (t) => {
    const [created, prov] = await Promise.all([
      cli.run(['tokens', 'create', 'ci job', '--expires-in-days', '7']),
      cli.run(['tokens', 'provisioning', 'create', '--fleet', 'shops', '--max-uses', '3', '--expires-in', '2h', '--json']),
    ])
    t.equal(created.exitCode, 0, created.stderr)
    const value = created.stdout.trim()
    t.match(value, /^et_/, 'the value alone on stdout, for $(…)')
    t.equal((await http.get('/api/auth/me', { token: value })).status, 200, 'and it works')
    const list = JSON.parse((await cli.run(['tokens', 'list', '--json'])).stdout)
    const ci = list.find((tk: { description: string }) => tk.description === 'ci job')
    t.ok(ci && list.some((tk: { this_cli: boolean }) => tk.this_cli), "the list marks the CLI's own token")
    const revoked = await cli.run(['tokens', 'revoke', ci.prefix])
    t.equal(revoked.exitCode, 0, revoked.stderr)
    t.equal((await http.get('/api/auth/me', { token: value })).status, 401, 'revoked by its prefix')
    t.equal(prov.exitCode, 0, prov.stderr)
    const p = JSON.parse(prov.stdout)
    t.match(p, { fleet_id: fleet.id, max_uses: 3, token: /\S{20,}/ })
    const provList = await cli.run(['tokens', 'provisioning', 'list', '--fleet', 'shops'])
    t.match(provList.stdout, new RegExp(`${p.id}\\s`))
    t.equal((await cli.run(['tokens', 'provisioning', 'revoke', p.id])).exitCode, 0)
  })

  await t.test('environment credentials for CI: EDGETAINER_URL and EDGETAINER_TOKEN', async (t) => {
    const other = createCliRunner(t, { EDGETAINER_URL: url, EDGETAINER_TOKEN: await gw.tokenFor('viewer', 'ci-viewer') })
    const who = await other.run(['whoami', '--json'])
    t.match(JSON.parse(who.stdout), { username: 'ci-viewer', role: 'viewer' })
    const refused = await other.run(['env', 'set', 'X', '1', '--device', deviceId, '--service', 'web'])
    t.equal(refused.exitCode, 2, 'a viewer may not write: auth exit code')
    t.ok(isOneLineError(refused.stderr), refused.stderr)
  })

  await t.test('GET /api/gateway names the SSH endpoint and host key; hostile queries and headers change nothing', async (t) => {
    const info = await http.get('/api/gateway', { token })
    t.equal(info.status, 200)
    t.match(info.body, { version: /\d/, ssh: { port: gw.server.sshPort, host: /\S/, host_key: gw.server.hostPublicKey.trim().split(' ').slice(0, 2).join(' '), device_user: 'core' } })
    t.equal((await http.get('/api/gateway')).status, 401, 'signed-in users only')
    let n = 0
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 200 }), fc.string({ maxLength: 100 }), async (query, header) => {
        n++
        const res = await fetch(`${url}/api/gateway?${encodeURIComponent(query)}=${encodeURIComponent(header)}`, {
          headers: { authorization: `Bearer ${token}`, 'x-forwarded-host': header.replace(/[^\x20-\x7e]/g, '') },
        })
        await res.arrayBuffer()
        return res.status === 200
      }),
      { numRuns: 60 },
    )
    t.comment(`ran ${n} cases`)
    t.equal((await http.get('/api/gateway', { token })).status, 200, 'the gateway still answers')
  })

  await t.test('bash completion offers the commands and their options', async (t) => {
    const script = (await cli.run(['completion', 'bash'])).stdout
    const complete = async (words: string[]) => {
      const program = `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _edgetainer; printf '%s\\n' "\${COMPREPLY[@]}"`
      return (await bash('bash', ['-c', program])).stdout.split('\n').filter(Boolean).sort()
    }
    t.same(await complete(['edgetainer', 'de']), ['deploy', 'device', 'devices'])
    t.same(await complete(['edgetainer', 'env', '']), ['--help', 'add', 'list', 'ls', 'remove', 'rm', 'set'])
    t.ok((await complete(['edgetainer', 'env', 'set', 'X', '--s'])).includes('--secret'))
    t.ok((await complete(['edgetainer', 'se'])).includes('server'), 'the server commands too')
    t.equal((await cli.run(['completion', 'fish'])).exitCode, 1)
  })

  await t.test('logout revokes the token and forgets the login', async (t) => {
    const stored = JSON.parse(readFileSync(path.join(cli.configDir, 'config.json'), 'utf8'))
    const out = await cli.run(['logout'])
    t.equal(out.exitCode, 0, out.stderr)
    t.equal((await http.get('/api/auth/me', { token: stored.token })).status, 401, 'the token is revoked on the gateway')
    t.notOk(existsSync(path.join(cli.configDir, 'config.json')))
    t.equal((await cli.run(['whoami'])).exitCode, 2)
    t.equal((await cli.run(['logout'])).stdout, 'not logged in\n', 'a second logout is harmless')
  })

  t.ok(existsSync(EDGETAINER_BIN))
})
