import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { execa } from 'execa'
import t from 'tap'
import { projectName } from '../../agent/deploy/stack-store.js'
import { startDeviceApp } from '../lib/device-app.js'
import { ensureTestImage, TEST_IMAGE } from '../lib/docker-image.js'
import { runningContainer } from '../lib/docker-state.js'
import { startTestSshd } from '../lib/openssh.js'
import { freePort } from '../lib/ports.js'
import { createCliRunner, EDGETAINER_BIN } from '../lib/remote-cli.js'
import { registrationToken, startTestAgent, waitOnline } from '../lib/test-agent.js'
import { startTestGateway } from '../lib/test-gateway.js'
import { waitFor } from '../lib/wait.js'

const compose = `services:
  web:
    image: ${TEST_IMAGE}
    network_mode: host
    stop_signal: SIGKILL
    command: ["sh", "-c", "echo web up; exec sleep 100000"]
`

/**
 * The CLI's access commands end to end: `logs -f` over the gateway's event
 * stream, and `ssh` and `tunnel` through the gateway as a jump host with a
 * gateway-issued certificate, to a real sshd that trusts only the gateway's CA.
 */
t.test('logs -f, ssh and tunnel through a real gateway and agent', async (t) => {
  ensureTestImage()
  // The test sshd runs as root: the device account (the certificates' principal) is root here, core on Flatcar.
  const gw = await startTestGateway(t, 'postgres', { env: { EDGETAINER_TERMINAL_USER: 'root' }, start: { agentHeartbeatSeconds: 1 } })
  const { http, adminToken: token } = gw
  const caFile = path.join(gw.dataDir, 'user-ca.pub')
  writeFileSync(caFile, (await http.get('/api/provision/ssh-user-ca')).body)
  // The device's own sshd trusts the gateway's user CA and no key of anyone's.
  const sshd = await startTestSshd(t, [], [`TrustedUserCAKeys ${caFile}`])
  const address = { http, adminToken: token, sshPort: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey }
  const fleet = (await http.post('/api/fleets', { name: 'lab' }, { token })).body
  const { agent } = await startTestAgent(t, { gateway: address, token: await registrationToken(address, fleet.id), config: { sshd_address: `127.0.0.1:${sshd.port}` } })
  const deviceId = agent.registration.device_id as string
  await waitOnline(http, token, deviceId)
  const software = (await http.post('/api/software', { name: 'lab-app', docker_compose_yaml: compose }, { token })).body
  t.equal((await http.post(`/api/software/${software.id}/deploy`, { fleet_id: fleet.id }, { token })).status, 201)
  const project = projectName('lab-app', software.id)
  const web = await waitFor('web running', () => runningContainer(project, 'web'), 60_000)

  const cli = createCliRunner(t)
  const password = 'operator-password-123'
  t.equal((await http.post('/api/users', { username: 'olga', password, role: 'operator' }, { token })).status, 201)
  const login = await cli.run(['login', http.baseUrl, '--username', 'olga', '--password-stdin'], { input: password })
  t.equal(login.exitCode, 0, login.stderr)

  await t.test('logs -f shows a new container line within 2 s', async (t) => {
    const follow = execa(EDGETAINER_BIN, ['logs', deviceId, '-f', '--service', 'web'], { env: cli.env, extendEnv: false, reject: false, buffer: false })
    t.teardown(() => void follow.kill('SIGTERM'))
    let out = ''
    follow.stdout!.on('data', (d: Buffer) => (out += d))
    await waitFor('the backfill', () => out.includes('[web] web up'), 30_000)
    const marker = `marker-${Date.now()}`
    const started = Date.now()
    // Written to the container's own stdout, as its process would: docker logs it, the agent ships it.
    await execa('docker', ['exec', web.id, 'sh', '-c', `echo ${marker} > /proc/1/fd/1`])
    await waitFor('the new line', () => out.includes(`[web] ${marker}`), 10_000)
    const elapsed = Date.now() - started
    t.ok(elapsed <= 2000, `the line arrived after ${elapsed} ms`)
  })

  await t.test('ssh runs a command on the device, and in a container by service name', async (t) => {
    const host = await cli.run(['ssh', deviceId, '--', 'echo', 'via-the-cli'])
    t.equal(host.exitCode, 0, host.stderr)
    t.equal(host.stdout, 'via-the-cli\n')
    const inContainer = await cli.run(['ssh', deviceId, '--container', 'web', '--', 'cat', '/proc/1/cmdline'])
    t.equal(inContainer.exitCode, 0, inContainer.stderr)
    t.match(inContainer.stdout, /sleep/, 'docker exec in the compose service web, resolved to its container')
    const status = await cli.run(['ssh', deviceId, '--', 'exit', '7'])
    t.equal(status.exitCode, 7, "the remote command's exit status is the CLI's")
    const printed = await cli.run(['ssh', deviceId, '--print', '--json'])
    t.match(JSON.parse(printed.stdout), { host: deviceId, ssh_config: /\.ssh_config$/ })
    const viewer = createCliRunner(t, { EDGETAINER_URL: http.baseUrl, EDGETAINER_TOKEN: await gw.tokenFor('viewer', 'vic') })
    const refused = await viewer.run(['ssh', deviceId, '--', 'true'])
    t.equal(refused.exitCode, 2, 'viewers get no certificate')
  })

  await t.test('tunnel carries an HTTP request to a port on the device', async (t) => {
    const app = await startDeviceApp(t, 'device-app')
    const local = await freePort()
    const tunnel = execa(EDGETAINER_BIN, ['tunnel', deviceId, String(app.port), '--local-port', String(local)], { env: cli.env, extendEnv: false, reject: false })
    t.teardown(() => void tunnel.kill('SIGTERM'))
    const body = await waitFor(
      'an answer through the tunnel',
      async () => {
        const res = await fetch(`http://127.0.0.1:${local}/through-the-tunnel`).catch(() => undefined)
        return res?.status === 200 ? res.text() : undefined
      },
      30_000,
      200,
    )
    t.equal(body, 'device-app says hello at /through-the-tunnel')
  })
})
