import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, symlinkSync, unlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import fc from 'fast-check'
import t, { type Test } from 'tap'
import { projectName } from '../../agent/deploy/stack-store.js'
import { connectAgentApiDevice } from '../lib/agent-api-device.js'
import { ensureTestImage, TEST_IMAGE } from '../lib/docker-image.js'
import { runningContainer } from '../lib/docker-state.js'
import { registrationToken, startTestAgent, waitOnline } from '../lib/test-agent.js'
import { startTestGateway } from '../lib/test-gateway.js'
import { waitFor } from '../lib/wait.js'
import { AGENT_PATHS } from '../../shared/agent-wire.js'

/** Far beyond any wait below: whatever reaches the agent in this file was nudged, not picked up by a heartbeat. */
const HEARTBEAT_SECONDS = 3600

/** `web` serves nothing; it sleeps with its release's marker in its command line. SIGKILL stops busybox at once. */
function stack(marker: string, webCommand = `echo ${marker}; exec sleep 100000`, webImage = TEST_IMAGE): string {
  return `services:
  web:
    image: ${webImage}
    network_mode: host
    stop_signal: SIGKILL
    command: ["sh", "-c", ${JSON.stringify(webCommand)}]
  side:
    image: ${TEST_IMAGE}
    network_mode: host
    stop_signal: SIGKILL
    command: ["sh", "-c", "exec sleep 100000"]
`
}

/** When docker saw this container die, in ms since the epoch. */
function diedAt(containerId: string, since: number): number | undefined {
  const out = execFileSync(
    'docker',
    ['events', '--since', String(Math.floor(since / 1000) - 1), '--until', String(Math.ceil(Date.now() / 1000) + 1), '--filter', `container=${containerId}`, '--filter', 'event=die', '--format', '{{.TimeNano}}'],
    { encoding: 'utf8' },
  ).trim()
  return out ? Number(BigInt(out.split('\n')[0]!) / 1_000_000n) : undefined
}

t.test('the agent reports each phase, honours update locks and strategies, and is nudged; the target document has an ETag', async (t) => {
  ensureTestImage()
  const gw = await startTestGateway(t, 'postgres', { start: { agentHeartbeatSeconds: HEARTBEAT_SECONDS } })
  const { http, adminToken: token } = gw
  const address = { http, adminToken: token, sshPort: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey }
  const fleet = (await http.post('/api/fleets', { name: 'updates' }, { token })).body
  // The agent reaches the machine's dockerd through a symlink to its socket: removing the link takes dockerd away from the agent alone.
  const linkDir = mkdtempSync(path.join(tmpdir(), 'et-dockerd-link-'))
  t.teardown(() => rmSync(linkDir, { recursive: true, force: true }))
  const dockerdLink = path.join(linkDir, 'docker.sock')
  symlinkSync('/var/run/docker.sock', dockerdLink)
  const { agent } = await startTestAgent(t, {
    gateway: address,
    token: await registrationToken(address, fleet.id),
    config: { heartbeat_seconds: HEARTBEAT_SECONDS, update_lock_retry_seconds: 0.3, deploy_stable_seconds: 1, docker_host: `unix://${dockerdLink}` },
  })
  const deviceId = agent.registration.device_id
  await waitOnline(http, token, deviceId)
  // The tunnel-up sync has run (and found nothing): from here on only nudges move the agent.
  await agent.syncNow()

  const software = (await http.post('/api/software', { name: 'shop', docker_compose_yaml: stack('v1') }, { token })).body
  const project = projectName('shop', software.id)
  const deviceStatus = async () => {
    const res = await http.get(`/api/deployments?device_id=${deviceId}`, { token })
    return res.body.items[0]?.devices.find((d: { device_id: string }) => d.device_id === deviceId) as { status: string; error: string | null; reported_version: string | null } | undefined
  }
  const statusOf = (version: string, status: string, error?: RegExp) =>
    waitFor(`${version} ${status}`, async () => {
      const s = await deviceStatus()
      return s?.reported_version === version && s.status === status && (!error || error.test(s.error ?? '')) ? s : undefined
    }, 45_000)
  /** This version's deploy reports in the device log, oldest first, as `status` or `status: reason`. */
  const phases = async (version: string) => {
    const { total } = (await http.get(`/api/devices/${deviceId}/logs?limit=1`, { token })).body
    const items = (await http.get(`/api/devices/${deviceId}/logs?limit=1000&offset=${Math.max(0, total - 1000)}`, { token })).body.items as { log_type: string; message: string; created_at: string }[]
    return items
      .filter((l) => l.log_type === 'deploy' && l.message.startsWith(`shop ${version}: `))
      .sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at))
      .map((l) => ({ text: l.message.slice(`shop ${version}: `.length), at: Date.parse(l.created_at) }))
  }
  const setVersion = async (compose: string, expected: string) => t.equal((await http.put(`/api/software/${software.id}`, { docker_compose_yaml: compose }, { token })).body.current_version, expected)

  await t.test('a deploy is nudged to the agent at once and reports downloading, installing, verifying, running in order', async (t) => {
    const started = Date.now()
    t.equal((await http.post(`/api/software/${software.id}/deploy`, { fleet_id: fleet.id }, { token })).status, 201)
    await statusOf('1', 'running')
    t.ok(Date.now() - started < 60_000, `running ${Date.now() - started} ms after the deploy, with a ${HEARTBEAT_SECONDS} s heartbeat`)
    t.same((await phases('1')).map((p) => p.text), ['downloading', 'installing', 'verifying', 'running'])
    t.equal(await gw.server.nudgeDevices([agent.registration.id, '00000000-0000-4000-8000-000000000000']), 1, 'nudgeDevices reaches the online agent and skips unknown devices')
  })

  // A crashing container's report ("container `web` exited with code 3") is proven in agent-deploy.test.ts.
  await t.test('a release that cannot be pulled fails with which image and why, and nothing running is touched', async (t) => {
    const web = (await runningContainer(project, 'web'))!
    await setVersion(stack('v2', undefined, 'edgetainer-test/missing:1'), '2')
    const failed = await statusOf('2', 'failed')
    t.match(failed.error, /^image `edgetainer-test\/missing:1` could not be pulled: [a-z]/)
    t.notMatch(failed.error, /ERROR|Pulling|\n/, 'no compose output')
    t.same((await phases('2')).map((p) => p.text.split(':')[0]), ['downloading', 'failed'])
    t.equal((await runningContainer(project, 'web'))!.id, web.id)
  })

  await t.test('an update lock held by a container defers the kill until it is released; the images are pulled meanwhile', async (t) => {
    const web = (await runningContainer(project, 'web'))!
    execFileSync('docker', ['exec', web.id, 'sh', '-c', 'set -C; : > /run/edgetainer/updates.lock'])
    await setVersion(stack('v3'), '3')
    const waiting = await statusOf('3', 'installing', /waiting for update lock/)
    t.equal(waiting.error, 'waiting for update lock held by `web`')
    // The agent re-checks every 0.3 s: let several checks pass with the lock held.
    const before = (await phases('3')).length
    await waitFor('agent re-checked the lock', async () => {
      await agent.syncNow()
      await agent.syncNow()
      return true
    })
    t.equal((await runningContainer(project, 'web'))!.id, web.id, 'web was not killed while it held the lock')
    t.equal((await phases('3')).length, before, 're-checks repeat no report')
    t.same((await phases('3')).map((p) => p.text), ['downloading', 'installing: waiting for update lock held by `web`'])

    const released = Date.now()
    execFileSync('docker', ['exec', web.id, 'rm', '/run/edgetainer/updates.lock'])
    await statusOf('3', 'running')
    t.not((await runningContainer(project, 'web'))!.id, web.id, 'released: web was replaced')
    const died = diedAt(web.id, released - 5000)
    const downloading = (await phases('3'))[0]!
    t.ok(died && downloading.at < died, 'download-then-kill: downloaded before the old web died')
    t.same((await phases('3')).map((p) => p.text), ['downloading', 'installing: waiting for update lock held by `web`', 'installing', 'verifying', 'running'])
  })

  await t.test('kill-then-download stops the running release before it downloads; override_lock kills through a held lock', async (t) => {
    const deployed = (await http.post(`/api/software/${software.id}/deploy`, { fleet_id: fleet.id, update_strategy: 'kill-then-download', override_lock: true }, { token })).body
    t.match(deployed, { update_strategy: 'kill-then-download', override_lock: true })
    const web = (await runningContainer(project, 'web'))!
    execFileSync('docker', ['exec', web.id, 'sh', '-c', 'set -C; : > /run/edgetainer/updates.lock'])
    const started = Date.now()
    await setVersion(stack('v4'), '4')
    await statusOf('4', 'running')
    t.not((await runningContainer(project, 'web'))!.id, web.id, 'replaced although it held its lock')
    const reports = await phases('4')
    t.same(reports.map((p) => p.text.split(':')[0]), ['downloading', 'downloading', 'installing', 'verifying', 'running'])
    t.match(reports[0]!.text, /stopping 3 first \(kill-then-download\)/)
    const died = diedAt(web.id, started)
    t.ok(died && died < reports[1]!.at, `the old web died (${died}) before the download began (${reports[1]!.at})`)
  })

  await t.test('the target document answers with an ETag and 304 while unchanged; any If-None-Match is safe', async (t) => {
    const other = (await http.post('/api/fleets', { name: 'raw' }, { token })).body
    const raw = await connectAgentApiDevice(t, { http, token: await registrationToken(address, other.id), sshPort: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey })
    const first = await raw.request('GET', AGENT_PATHS.software)
    t.equal(first.status, 200)
    t.equal(first.headers.etag, `"${first.body.revision}"`)
    const again = await raw.request('GET', AGENT_PATHS.software, undefined, { 'if-none-match': first.headers.etag! })
    t.equal(again.status, 304)
    t.equal(again.text, '', 'no body')
    t.equal((await raw.request('GET', AGENT_PATHS.software, undefined, { 'if-none-match': `W/${first.headers.etag}, "other"` })).status, 304, 'weak and listed tags match too')
    const beat = await raw.json('POST', AGENT_PATHS.heartbeat, {
      agent_version: 'raw',
      at: new Date().toISOString(),
      metrics: { cpu_percent: null, memory_used_bytes: null, memory_total_bytes: null, disk_used_bytes: null, disk_total_bytes: null, uptime_seconds: null, load_1: null, net_rx_bytes: null, net_tx_bytes: null },
      containers: [],
      software: [],
      outbox: { pending: 0, dropped_log_lines: 0 },
    })
    t.equal(beat.body.revision, first.body.revision, 'the heartbeat names the same revision')

    t.equal((await http.put(`/api/fleets/${other.id}/env-vars/web`, { vars: { A: '1' } }, { token })).status, 200)
    t.equal((await http.post(`/api/software/${software.id}/deploy`, { fleet_id: other.id }, { token })).status, 201)
    const changed = await raw.request('GET', AGENT_PATHS.software, undefined, { 'if-none-match': first.headers.etag! })
    t.equal(changed.status, 200, 'a deployment to its fleet changes the document')
    t.not(changed.headers.etag, first.headers.etag)
    t.same(changed.body.software.map((s: { version: string; env: Record<string, unknown> }) => [s.version, s.env.web]), [['4', { A: '1' }]])

    // Phases and the older agents' `deploying` are stored alike.
    const deployEvent = (seq: number, status: string) => ({ seq, at: new Date().toISOString(), kind: 'deploy', software_id: software.id, name: 'shop', version: '4', status, error: null })
    const ack = await raw.json('POST', AGENT_PATHS.status, { outbox_id: 'raw-outbox-1', events: [deployEvent(1, 'deploying'), deployEvent(2, 'downloading'), deployEvent(3, 'verifying')], dropped_log_lines: 0 })
    t.same(ack.body, { acked_seq: 3 })
    const rawId = raw.registration.device_id
    const rows = (await http.get(`/api/deployments?device_id=${rawId}`, { token })).body.items[0].devices
    t.match(rows, [{ device_id: rawId, status: 'verifying', reported_version: '4' }])

    let n = 0
    const headerValue = fc.oneof(
      fc.string({ maxLength: 200 }).map((s) => s.replace(/[^\t\x20-\x7e]/g, '')),
      fc.constantFrom('*', '""', 'W/', 'W/"', '"', ',,,', changed.headers.etag!, `${changed.headers.etag},*`, 'x'.repeat(4000)),
    )
    await fc.assert(
      fc.asyncProperty(headerValue, async (value) => {
        n++
        const res = await raw.request('GET', AGENT_PATHS.software, undefined, { 'if-none-match': value })
        return res.status === 200 || res.status === 304
      }),
      { numRuns: 60 },
    )
    t.comment(`ran ${n} cases`)
    t.equal((await http.get('/healthz')).status, 200, 'the gateway is alive')
  })

  /**
   * Sends `version` under `strategy` while dockerd is hidden from the agent: the release must wait with the
   * reason and leave the running web alone, then deploy once dockerd is back, never reported failed or
   * rolled back. The gateway's nudge brings the retry now: the agent's own retry backs off (from 2 s, up to
   * the hour-long heartbeat here), which agent-watch-rhythm.test.ts proves with short intervals.
   */
  async function deployWhileDockerdAway(t: Test, version: string, strategy: 'download-then-kill' | 'kill-then-download') {
    t.equal((await http.post(`/api/software/${software.id}/deploy`, { fleet_id: fleet.id, update_strategy: strategy, override_lock: false }, { token })).status, 201)
    const web = (await runningContainer(project, 'web'))!
    // The lock an earlier test took outlives its container (the lock folder is the device's): let it go.
    execFileSync('docker', ['exec', web.id, 'rm', '-f', '/run/edgetainer/updates.lock'])
    unlinkSync(dockerdLink)
    await setVersion(stack(`v${version}`), version)
    const waiting = await statusOf(version, 'downloading', /waiting for dockerd/)
    t.equal(waiting.error, `waiting for dockerd, which does not answer at unix://${dockerdLink}`)
    t.equal((await runningContainer(project, 'web'))!.id, web.id, 'the running release was not touched')

    symlinkSync('/var/run/docker.sock', dockerdLink)
    t.equal(await gw.server.nudgeDevices([agent.registration.id]), 1, 'the agent is nudged')
    // On a timeout, what the agent reported says where it stopped.
    await statusOf(version, 'running').catch(async (err: Error) => {
      throw new Error(`${err.message}; reports: ${(await phases(version)).map((p) => p.text).join(' | ')}`)
    })
    t.not((await runningContainer(project, 'web'))!.id, web.id, 'then web was replaced')
    const reports = (await phases(version)).map((p) => p.text)
    t.notOk(reports.some((r) => /^(failed|rolled_back)/.test(r)), `never reported failed or rolled back: ${reports.join(' | ')}`)
    t.same(reports.slice(-4), ['downloading', 'installing', 'verifying', 'running'])
  }

  await t.test('a download that finds dockerd away waits for it and then deploys, rather than failing the release', (t) => deployWhileDockerdAway(t, '5', 'download-then-kill'))
  await t.test('kill-then-download with dockerd away: the running release cannot be stopped, so the release waits, then deploys', (t) => deployWhileDockerdAway(t, '6', 'kill-then-download'))
})
