import { existsSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { projectName } from '../../agent/deploy/stack-store.js'
import { requestViaHost } from '../lib/device-app.js'
import { ensureTestImage, TEST_IMAGE } from '../lib/docker-image.js'
import { containerEnv, envMismatches, HARD_VALUES } from '../lib/env-values.js'
import { runningContainer, serviceContainers } from '../lib/docker-state.js'
import { freePort, waitFor } from '../lib/openssh.js'
import { registrationToken, startTestAgent, waitOnline } from '../lib/test-agent.js'
import { startTestGateway } from '../lib/test-gateway.js'

/**
 * A two-service stack on the test image. `web` writes its environment and a
 * version marker into the directory its httpd serves; `side` just runs.
 * SIGKILL stops them at once (busybox as PID 1 ignores SIGTERM).
 */
function stack(port: number, marker: string, webCommand?: string, extra = ''): string {
  const command = webCommand ?? `mkdir -p /www && env | sort > /www/env.txt && echo ${marker} > /www/version.txt && exec httpd -f -p ${port} -h /www`
  return `services:
  web:
    image: ${TEST_IMAGE}
    network_mode: host
    stop_signal: SIGKILL
    command: ["sh", "-c", ${JSON.stringify(command.replace(/\$/g, '$$$$'))}]
${extra}  side:
    image: ${TEST_IMAGE}
    network_mode: host
    stop_signal: SIGKILL
    command: ["sh", "-c", "echo side up with X=$$X; exec sleep 100000"]
`
}

t.test('the agent runs what the gateway deploys, with the merged environment, and rolls back failures', async (t) => {
  ensureTestImage()
  const gw = await startTestGateway(t, 'postgres', { start: { agentHeartbeatSeconds: 1 } })
  const { http, adminToken: token } = gw
  const address = { http, adminToken: token, sshPort: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey }
  const fleet = (await http.post('/api/fleets', { name: 'shops' }, { token })).body
  const { agent, dataDir } = await startTestAgent(t, { gateway: address, token: await registrationToken(address, fleet.id) })
  const deviceId = agent.registration.device_id
  const device = (await http.get(`/api/devices/${deviceId}`, { token })).body
  await waitOnline(http, token, deviceId)
  const port = await freePort()

  const software = (
    await http.post(
      '/api/software',
      {
        name: 'shop',
        docker_compose_yaml: stack(port, 'v1'),
        env_vars: { vars: { GREETING: 'hello', COLOR: 'red', QUOTED: "it's $HOME" }, services: { web: { vars: { ROLE: 'web' } } } },
      },
      { token },
    )
  ).body
  const project = projectName('shop', software.id)
  const web = () => requestViaHost(gw.server.httpPort, `web.${device.subdomain}.localhost`, '/env.txt')
  const deviceStatus = async () => {
    const res = await http.get(`/api/deployments?device_id=${deviceId}`, { token })
    return res.body.items[0]?.devices.find((d: { device_id: string }) => d.device_id === deviceId) as { status: string; error: string | null; reported_version: string | null } | undefined
  }
  const statusOf = (version: string, status: string, timeoutMs = 45_000) =>
    waitFor(`${version} ${status}`, async () => {
      const s = await deviceStatus()
      return s?.reported_version === version && s.status === status ? s : undefined
    }, timeoutMs)

  await t.test('a fleet deployment reaches the agent; the container sees the merged env; the service answers on its subdomain', async (t) => {
    t.equal((await http.put(`/api/fleets/${fleet.id}/env-vars/web`, { vars: { COLOR: 'blue', FLEET_ONLY: 'fleet' } }, { token })).status, 200)
    // The hard values travel as device variables, one of them as a secret: through the API, encryption, the tunnel and compose.
    const hard = Object.fromEntries(HARD_VALUES.map(([name, value]) => [`HARD_${name}`, name === 'SQ' ? { value, secret: true } : value]))
    t.equal((await http.put(`/api/devices/${deviceId}/env-vars/web`, { vars: { COLOR: 'green', API_KEY: { value: 'device-secret-5e1f', secret: true }, ...hard } }, { token })).status, 200)
    t.equal((await http.post(`/api/devices/${deviceId}/exposed-services`, { name: 'web', container_name: 'web', internal_port: port, auth_required: false }, { token })).status, 201)
    t.equal((await http.post(`/api/software/${software.id}/deploy`, { fleet_id: fleet.id }, { token })).status, 201)

    await statusOf('1', 'running')
    const res = await waitFor('web through the gateway', async () => {
      const r = await web()
      return r.status === 200 ? r : undefined
    })
    // `env | sort` output: multi-line hard values spill onto lines of their own, which only the plain variables below can ignore.
    const env = Object.fromEntries(res.body.trim().split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))
    t.match(env, { GREETING: 'hello', ROLE: 'web', FLEET_ONLY: 'fleet', QUOTED: "it's $HOME", API_KEY: 'device-secret-5e1f' }, 'software, service, fleet and device levels all arrive; the secret decrypted')
    t.equal(env.COLOR, 'green', 'the device override wins over fleet and software')
    const override = path.join(dataDir, 'stacks', software.id, 'current', 'edgetainer.override.yml')
    t.equal(statSync(override).mode & 0o777, 0o600, 'the override carrying the environment is 0600')
    t.match(readFileSync(override, 'utf8'), /"API_KEY": "device-secret-5e1f"/)
    const inContainer = containerEnv((await runningContainer(project, 'web'))!.id)
    t.same(envMismatches(Object.fromEntries(HARD_VALUES.map(([name, value]) => [`HARD_${name}`, value])), inContainer), [], 'every hard value arrives byte-exact, the secret one too')
    t.equal(inContainer.get('QUOTED')?.toString(), "it's $HOME", 'a software default with a quote and a $ as well')
    const containers = JSON.stringify(await serviceContainers(project, 'web'))
    t.notMatch(containers, /device-secret/)
    t.equal((await requestViaHost(gw.server.httpPort, `web.${device.subdomain}.localhost`, '/version.txt')).body, 'v1\n')
  })

  await t.test('the gateway refuses what no environment can carry, with a 400 naming the variable', async (t) => {
    for (const [value, reason] of [['a\0b', /NUL/], ['a\uD800b', /unpaired surrogate/]] as const) {
      const res = await http.put(`/api/devices/${deviceId}/env-vars/web`, { vars: { COLOR: 'green', BAD: value } }, { token })
      t.equal(res.status, 400)
      t.match(res.body, { code: 'VALIDATION_FAILED', error: reason })
      t.match(res.body.error, /BAD/)
    }
    t.equal((await http.put(`/api/devices/${deviceId}/env-vars/web`, { vars: { 'NOT-POSIX': 'x' } }, { token })).status, 400, 'and a name that is not an environment name')
  })

  await t.test('an environment change restarts only the affected container', async (t) => {
    const webBefore = (await runningContainer(project, 'web'))!
    const sideBefore = (await runningContainer(project, 'side'))!
    t.ok(webBefore && sideBefore)
    t.equal((await http.put(`/api/devices/${deviceId}/env-vars/side`, { vars: { X: 'changed' } }, { token })).status, 200)
    const sideAfter = await waitFor('side recreated', async () => {
      const c = await runningContainer(project, 'side')
      return c && c.id !== sideBefore.id ? c : undefined
    })
    t.not(sideAfter.id, sideBefore.id, 'side was recreated with its new environment')
    await statusOf('1', 'running')
    const webAfter = (await runningContainer(project, 'web'))!
    t.equal(webAfter.id, webBefore.id, 'web is the same container')
    t.equal(webAfter.startedAt, webBefore.startedAt, 'and was not restarted')
    const logs = await waitFor('side log line shipped', async () => {
      const res = await http.get(`/api/devices/${deviceId}/logs?container=side`, { token })
      return res.body.items.some((l: { message: string }) => l.message === 'side up with X=changed') ? res.body : undefined
    })
    t.ok(logs.items.every((l: { container: string }) => l.container === 'side'), 'the container filter applies')
  })

  await t.test('a queued restart restarts that container', async (t) => {
    const before = (await runningContainer(project, 'web'))!
    t.equal((await http.post(`/api/devices/${deviceId}/env-vars/web/restart`, {}, { token })).status, 202)
    await waitFor('web restarted', async () => {
      const c = await runningContainer(project, 'web')
      return c && c.id === before.id && c.startedAt !== before.startedAt
    })
    t.pass('same container, started again')
  })

  await t.test('a broken compose file is rejected and the running stack is untouched', async (t) => {
    const before = (await runningContainer(project, 'web'))!
    const broken = stack(port, 'v2', undefined, '    depends_on: [nothere]\n')
    t.equal((await http.put(`/api/software/${software.id}`, { docker_compose_yaml: broken }, { token })).body.current_version, '2')
    const failed = await statusOf('2', 'failed')
    t.match(failed.error, /invalid compose file.*nothere/s, 'the report says why')
    const after = (await runningContainer(project, 'web'))!
    t.same(after, before, 'web is the same container, never restarted')
    t.equal((await requestViaHost(gw.server.httpPort, `web.${device.subdomain}.localhost`, '/version.txt')).body, 'v1\n', 'v1 still answers')
    t.equal(JSON.parse(readFileSync(path.join(dataDir, 'stacks', software.id, 'current', 'meta.json'), 'utf8')).version, '1')
  })

  await t.test('a container that exits at once is rolled back and reported', async (t) => {
    const crashing = stack(port, 'v3', 'echo starting v3; exit 3')
    t.equal((await http.put(`/api/software/${software.id}`, { docker_compose_yaml: crashing }, { token })).body.current_version, '3')
    const rolled = await statusOf('3', 'rolled_back')
    t.match(rolled.error, /container `web` exited with code 3/)
    const res = await waitFor('v1 back', async () => {
      const r = await requestViaHost(gw.server.httpPort, `web.${device.subdomain}.localhost`, '/version.txt')
      return r.status === 200 ? r : undefined
    })
    t.equal(res.body, 'v1\n', 'the previous version runs again')
    const logs = (await http.get(`/api/devices/${deviceId}/logs?limit=500`, { token })).body.items as { log_type: string; message: string }[]
    t.ok(logs.some((l) => l.log_type === 'deploy' && /shop 3: rolled_back: container `web` exited with code 3/.test(l.message)), 'the result is in the device log')
  })

  await t.test('a one-shot job the web service waits for may finish; a failing one rolls back', async (t) => {
    // The Compose way to say "this container is meant to finish": another service depends on it completing.
    const withJob = (marker: string, exitCode: number) =>
      stack(port, marker, undefined, '    depends_on:\n      migrate:\n        condition: service_completed_successfully\n') +
      `  migrate:\n    image: ${TEST_IMAGE}\n    network_mode: host\n    command: ["sh", "-c", "echo migrating ${marker}; exit ${exitCode}"]\n`
    t.equal((await http.put(`/api/software/${software.id}`, { docker_compose_yaml: withJob('v4', 0) }, { token })).body.current_version, '4')
    const running = await statusOf('4', 'running')
    t.equal(running.error, null, 'a job that exited 0 is not a crash')
    t.match(await serviceContainers(project, 'migrate'), [{ state: 'exited' }], 'the job ran and finished')
    t.equal((await requestViaHost(gw.server.httpPort, `web.${device.subdomain}.localhost`, '/version.txt')).body, 'v4\n', 'web started after it')

    t.equal((await http.put(`/api/software/${software.id}`, { docker_compose_yaml: withJob('v5', 1) }, { token })).body.current_version, '5')
    const rolled = await statusOf('5', 'rolled_back')
    t.match(rolled.error, /^compose up failed: container `migrate` exited with code 1$/, 'the report names the failed job and its exit code')
    const back = await waitFor('v4 back', async () => {
      const r = await requestViaHost(gw.server.httpPort, `web.${device.subdomain}.localhost`, '/version.txt')
      return r.status === 200 && r.body === 'v4\n' ? r : undefined
    })
    t.equal(back.body, 'v4\n', 'the previous version runs again')
  })

  await t.test('an operator restarts every stack', async (t) => {
    const before = (await runningContainer(project, 'side'))!
    const res = await http.post(`/api/devices/${deviceId}/restart`, { target: 'stacks' }, { token: await gw.tokenFor('operator') })
    t.equal(res.status, 202, JSON.stringify(res.body))
    t.match(res.body, { target: 'stacks', stacks: [{ project, ok: true }] })
    t.not((await runningContainer(project, 'side'))!.startedAt, before.startedAt)
  })

  await t.test('software removed from the device is taken down', async (t) => {
    const deployments = (await http.get(`/api/deployments?device_id=${deviceId}`, { token })).body.items
    t.equal((await http.delete(`/api/deployments/${deployments[0].id}`, { token })).status, 204)
    await waitFor('stack down', async () => (await serviceContainers(project, 'web')).length === 0 && (await serviceContainers(project, 'side')).length === 0, 30_000)
    await waitFor('stack files removed', () => !existsSync(path.join(dataDir, 'stacks', software.id)))
    t.pass('its files are gone')
  })
})
