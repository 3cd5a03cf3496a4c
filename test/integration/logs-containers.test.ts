import { execFileSync } from 'node:child_process'
import t from 'tap'
import { projectName } from '../../agent/deploy/stack-store.js'
import { ensureTestImage, TEST_IMAGE } from '../lib/docker-image.js'
import { runningContainer, serviceContainers } from '../lib/docker-state.js'
import { freePort, startTestSshd, waitFor } from '../lib/openssh.js'
import { openSse } from '../lib/sse-client.js'
import { openTerminal } from '../lib/terminal-client.js'
import { registrationToken, startTestAgent, waitOnline } from '../lib/test-agent.js'
import { startTestGateway } from '../lib/test-gateway.js'

/**
 * `livesvc` serves a version marker and says one line at start; `chatty`
 * writes 1,100 numbered lines, then sleeps. Service names are unusual on
 * purpose: other suites' agents share this dockerd.
 */
function stack(port: number, marker: string, exitCode?: number): string {
  const live = exitCode === undefined ? `mkdir -p /www && echo ${marker} > /www/version.txt && echo live up ${marker} && exec httpd -f -p ${port} -h /www` : `echo crashing ${marker}; exit ${exitCode}`
  return `services:
  livesvc:
    image: ${TEST_IMAGE}
    network_mode: host
    stop_signal: SIGKILL
    command: ["sh", "-c", ${JSON.stringify(live)}]
  chatty:
    image: ${TEST_IMAGE}
    network_mode: host
    stop_signal: SIGKILL
    command: ["sh", "-c", "i=0; while [ $$i -lt 1100 ]; do echo chatty-$$i; i=$$((i+1)); done; exec sleep 100000"]
`
}

t.test('live logs, paged history, container actions, terminal by service name and honest health on a real agent', async (t) => {
  ensureTestImage()
  const gw = await startTestGateway(t, 'postgres', { env: { EDGETAINER_TERMINAL_USER: 'root' }, start: { agentHeartbeatSeconds: 1, logKeepAliveMs: 300, logFollowPollMs: 5000 } })
  const { http, adminToken: token } = gw
  const terminalKey = (await http.get('/api/provision/terminal-key', { token })).body as string
  const sshd = await startTestSshd(t, [terminalKey.trim()])
  const address = { http, adminToken: token, sshPort: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey }
  const fleet = (await http.post('/api/fleets', { name: 'live' }, { token })).body
  const { agent } = await startTestAgent(t, { gateway: address, token: await registrationToken(address, fleet.id), config: { sshd_address: `127.0.0.1:${sshd.port}` } })
  const deviceId = agent.registration.device_id
  await waitOnline(http, token, deviceId)
  const port = await freePort()
  const software = (await http.post('/api/software', { name: 'livelogs', docker_compose_yaml: stack(port, 'v1') }, { token })).body
  const project = projectName('livelogs', software.id)
  t.equal((await http.post(`/api/software/${software.id}/deploy`, { fleet_id: fleet.id }, { token })).status, 201)
  const deployStatus = (version: string, status: string) =>
    waitFor(`${version} ${status}`, async () => {
      const res = await http.get(`/api/deployments?device_id=${deviceId}`, { token })
      const row = res.body.items[0]?.devices.find((d: { device_id: string }) => d.device_id === deviceId)
      return row?.reported_version === version && row.status === status ? row : undefined
    }, 45_000)
  await deployStatus('1', 'running')
  const operator = await gw.tokenFor('operator')
  const viewer = await gw.tokenFor('viewer')

  await t.test('before pages back through more than 1,000 lines, newest first', async (t) => {
    await waitFor('1,100 chatty lines shipped', async () => (await http.get(`/api/devices/${deviceId}/logs?container=chatty&limit=1`, { token })).body.total >= 1100, 30_000)
    const seen: string[] = []
    let cursor: string | null = ''
    let pages = 0
    while (cursor !== null) {
      const res: { status: number; body: any } = await http.get(`/api/devices/${deviceId}/logs?container=chatty&limit=400&before=${encodeURIComponent(cursor)}`, { token: viewer })
      t.equal(res.status, 200)
      t.ok(res.body.items.length <= 400)
      seen.push(...res.body.items.filter((e: { log_type: string }) => e.log_type === 'stdout').map((e: { message: string }) => e.message))
      cursor = res.body.next_before
      pages++
    }
    t.equal(pages, 3, 'three pages of at most 400 (1,100 lines and a state change)')
    t.equal(seen.length, 1100, 'every line once, past the old 1,000-line ceiling')
    t.same(seen, Array.from({ length: 1100 }, (_, i) => `chatty-${1099 - i}`), 'newest first, in the order they were written')
    const bad = await http.get(`/api/devices/${deviceId}/logs?before=not-a-cursor`, { token })
    t.match(bad, { status: 400, body: { code: 'VALIDATION_FAILED', error: /before/ } })
    // Offset paging still reads oldest first. The container's state change sits among the first lines,
    // where the agent's watch happened to notice it, so the page is compared with the first 30 rows.
    const head = await http.get(`/api/devices/${deviceId}/logs?container=chatty&limit=30&offset=0`, { token })
    const lines = head.body.items.filter((e: { log_type: string }) => e.log_type === 'stdout').map((e: { message: string }) => e.message)
    t.ok(lines.length >= 27, `the first 30 rows are lines but for a state change or two (${lines.length} lines)`)
    t.same(lines, Array.from({ length: lines.length }, (_, i) => `chatty-${i}`), 'the first rows are the oldest lines, in order')
    const old = await http.get(`/api/devices/${deviceId}/logs?container=chatty&limit=10&offset=20`, { token })
    t.same(old.body.items.map((e: { message: string }) => e.message), head.body.items.slice(20).map((e: { message: string }) => e.message), 'offset paging still reads oldest first')
    t.type(old.body.next_before, 'string', 'and offers a cursor for the lines before its first')
  })

  await t.test('follow streams the backfill, then a new container line within 2 s, with keep-alives', async (t) => {
    const sse = await openSse(gw.server.httpPort, `/api/devices/${deviceId}/logs?follow=1&container=livesvc&limit=5`, { authorization: `Bearer ${viewer}` })
    t.teardown(() => sse.close())
    t.equal(sse.status, 200)
    t.match(sse.contentType, /text\/event-stream/)
    await waitFor('backfill', () => sse.events.some((e) => JSON.parse(e.data).message === 'live up v1'))
    const first = sse.events[0]!
    t.equal(first.event, 'log')
    t.equal(first.id, JSON.parse(first.data).id, 'the event id is the entry id')
    t.match(JSON.parse(first.data), { log_type: /stdout|stderr|container/, container: 'livesvc', created_at: String })
    const container = (await runningContainer(project, 'livesvc'))!
    const started = Date.now()
    execFileSync('docker', ['exec', container.id, 'sh', '-c', 'echo fresh-line-42 > /proc/1/fd/1'])
    await waitFor('the new line', () => sse.events.some((e) => JSON.parse(e.data).message === 'fresh-line-42'), 5000)
    const took = Date.now() - started
    t.ok(took < 2000, `the line arrived after ${took} ms`)
    await waitFor('a keep-alive', () => sse.comments.includes('keep-alive'))
    t.ok(sse.events.every((e) => JSON.parse(e.data).container === 'livesvc'), 'the container filter applies to live lines')
  })

  await t.test('a stream reconnecting with Last-Event-ID gets what it missed, and no backfill again', async (t) => {
    const latest = (await http.get(`/api/devices/${deviceId}/logs?container=livesvc&before=&limit=1`, { token })).body.items[0]
    execFileSync('docker', ['exec', (await runningContainer(project, 'livesvc'))!.id, 'sh', '-c', 'echo missed-line > /proc/1/fd/1'])
    await waitFor('missed line stored', async () => (await http.get(`/api/devices/${deviceId}/logs?container=livesvc&before=&limit=1`, { token })).body.items[0]?.message === 'missed-line')
    const sse = await openSse(gw.server.httpPort, `/api/devices/${deviceId}/logs?follow=1&container=livesvc`, { authorization: `Bearer ${token}`, 'last-event-id': latest.id })
    t.teardown(() => sse.close())
    await waitFor('resumed', () => sse.events.length >= 1)
    t.equal(JSON.parse(sse.events[0]!.data).message, 'missed-line')
  })

  await t.test('the stream ends when the caller loses access', async (t) => {
    const doomed = await gw.tokenFor('viewer', 'doomed-viewer')
    const sse = await openSse(gw.server.httpPort, `/api/devices/${deviceId}/logs?follow=1`, { authorization: `Bearer ${doomed}` })
    await waitFor('connected', () => sse.comments.includes('connected'))
    t.equal((await http.post('/api/auth/logout', {}, { token: doomed })).status < 300, true)
    await sse.ended
    t.ok(sse.events.some((e) => e.event === 'access.revoked'), 'told why')
  })

  await t.test('restart, stop and start one compose service through the API change the real container; audited; viewers refused', async (t) => {
    const before = (await runningContainer(project, 'livesvc'))!
    t.equal((await http.post(`/api/devices/${deviceId}/containers/livesvc/restart`, {}, { token: viewer })).status, 403)
    const restarted = await http.post(`/api/devices/${deviceId}/containers/livesvc/restart`, {}, { token: operator })
    t.equal(restarted.status, 200, JSON.stringify(restarted.body))
    t.match(restarted.body, { service: 'livesvc', action: 'restart', containers: [{ service: 'livesvc', state: 'running' }] })
    const after = (await runningContainer(project, 'livesvc'))!
    t.equal(after.id, before.id, 'the same container')
    t.not(after.startedAt, before.startedAt, 'started again')

    t.equal((await http.post(`/api/devices/${deviceId}/containers/livesvc/stop`, {}, { token: operator })).status, 200)
    t.match(await serviceContainers(project, 'livesvc'), [{ state: 'exited' }], 'stopped')
    const release = await waitFor('heartbeat shows it stopped', async () => {
      const r = (await http.get(`/api/devices/${deviceId}/release`, { token: viewer })).body
      const c = r.software[0]?.containers.find((x: { service: string }) => x.service === 'livesvc')
      return c?.state === 'exited' ? r : undefined
    })
    t.equal(release.software[0].software_id, software.id)
    t.equal((await http.post(`/api/devices/${deviceId}/containers/livesvc/start`, {}, { token: operator })).status, 200)
    t.match(await serviceContainers(project, 'livesvc'), [{ state: 'running' }], 'running again')

    const missing = await http.post(`/api/devices/${deviceId}/containers/nothere/restart`, {}, { token: operator })
    t.match(missing, { status: 404, body: { code: 'CONTAINER_NOT_FOUND' } })
    t.match(await http.post(`/api/devices/${deviceId}/containers/${encodeURIComponent('a b')}/restart`, {}, { token: operator }), { status: 400 })
    const audit = (await http.get(`/api/audit?target_id=${agent.registration.id}&target_type=device`, { token })).body.items.map((r: { action: string }) => r.action)
    for (const action of ['device.container.restart', 'device.container.stop', 'device.container.start', 'device.container.restart.failed']) t.ok(audit.includes(action), `audited: ${action}`)
  })

  await t.test('the release panel lists containers with state, restarts, ports and since when', async (t) => {
    const release = await waitFor('listening port reported', async () => {
      const r = (await http.get(`/api/devices/${deviceId}/release`, { token: viewer })).body
      const c = r.software[0]?.containers.find((x: { service: string; state: string }) => x.service === 'livesvc' && x.state === 'running')
      return c?.ports?.some((p: { container_port: number }) => p.container_port === port) ? r : undefined
    })
    const sw = release.software[0]
    t.match(sw, { name: 'livelogs', running_version: '1', needs_attention: false, last_result: { status: 'running', summary: 'livelogs 1 is running' } })
    const live = sw.containers.find((x: { service: string }) => x.service === 'livesvc')
    t.match(live, { state: 'running', restart_count: Number, image: TEST_IMAGE, started_at: String })
    t.match(live.ports, [{ container_port: port, protocol: 'tcp', source: 'listening' }])
    t.equal(release.online, true)
  })

  await t.test('the terminal takes the compose service name and finds compose\'s container', async (t) => {
    const term = await openTerminal(gw, operator, `/api/devices/${deviceId}/terminal?container=livesvc`)
    term.send('cat /www/version.txt; echo done-$((6*7))\n')
    await waitFor('command output', () => term.output().includes('done-42'), 15_000)
    t.match(term.output(), /v1/, 'the shell runs inside the livesvc container')
    term.send('exit 0\n')
    t.equal((await term.exit).code, 0)
  })

  await t.test('a failing deploy makes the device need attention, with the reason in words; deployments show it online', async (t) => {
    t.equal((await http.get(`/api/devices?attention=1`, { token })).body.total, 0, 'nobody needs attention yet')
    t.equal((await http.put(`/api/software/${software.id}`, { docker_compose_yaml: stack(port, 'v2', 3) }, { token })).body.current_version, '2')
    await deployStatus('2', 'rolled_back')
    const list = (await http.get(`/api/devices?attention=1`, { token: viewer })).body
    t.equal(list.total, 1)
    t.match(list.items[0], { device_id: deviceId, attention: /livelogs 2 was rolled back: .*`?livesvc`? exited with code 3/ })
    t.equal((await http.get(`/api/devices?attention=0`, { token })).body.total, 0)
    t.match((await http.get(`/api/fleets/${fleet.id}`, { token })).body, { device_count: 1, online_count: 1, attention_count: 1 })
    t.match((await http.get(`/api/devices/${deviceId}`, { token })).body, { attention: /rolled back/ })
    // The running version comes from the agent's next heartbeat, which may follow the rollback report by a beat.
    const release = await waitFor('the heartbeat after the rollback', async () => {
      const body = (await http.get(`/api/devices/${deviceId}/release`, { token })).body
      return body.software[0]?.running_version === '1' ? body : undefined
    }, 15_000)
    t.match(release.software[0], { needs_attention: true, running_version: '1', last_result: { version: '2', status: 'rolled_back', summary: /was rolled back/ } })
    const deployment = (await http.get(`/api/deployments?device_id=${deviceId}`, { token })).body.items[0]
    t.match(deployment.devices[0], { online: true, device_status: 'online' })
  })
})
