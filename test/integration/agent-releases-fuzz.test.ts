import t from 'tap'
import fc from 'fast-check'
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { verifySignedManifest } from '../../shared/agent-release.js'
import { connectAgentApiDevice } from '../lib/agent-api-device.js'
import { buildAgentScript, publishBuild } from '../lib/agent-bundles.js'
import { registrationToken } from '../lib/test-agent.js'
import { startTestGateway } from '../lib/test-gateway.js'

const work = mkdtempSync(path.join(tmpdir(), 'et-releases-fuzz-'))
t.teardown(() => rmSync(work, { recursive: true, force: true }))

/** Nothing a client or a device sends to the release routes gets a 5xx, and the gateway keeps answering. */
t.test('agent release routes: happy paths, then hostile input', async (t) => {
  const agentDir = path.join(work, 'agent-dir')
  mkdirSync(agentDir)
  const build = await buildAgentScript(path.join(work, 'agent'), '2.0.0')
  publishBuild(agentDir, build)
  const gw = await startTestGateway(t, 'postgres', { start: { agentDir } })
  const { http, adminToken: token } = gw

  // Two consoles asking at once, right after a build: the one import is shared, never two half-written copies.
  const asked = await Promise.all(Array.from({ length: 6 }, () => http.get('/api/provision/endpoints', { token })))
  t.same(asked.map((r) => [r.status, r.body.agent?.sha512]), Array.from({ length: 6 }, () => [200, build.sha512]), 'six requests at once all name the build')
  t.same(readdirSync(path.join(gw.dataDir, 'agent-releases')), [build.sha512], 'one file in the store, no temporary left')
  const listed = await http.get('/api/agent-releases', { token })
  t.match(listed.body, { release_key: /^ed25519:/, items: [{ version: '2.0.0', arch: 'x64', sha512: build.sha512, size: build.size }] })

  const fleet = (await http.post('/api/fleets', { name: 'fuzzed' }, { token })).body
  const device = await connectAgentApiDevice(t, { http, token: await registrationToken({ http, adminToken: token, sshPort: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey }, fleet.id), sshPort: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey })
  const deviceId = device.registration.id

  await t.test('targets and what the device is told', async (t) => {
    t.same((await device.json('GET', '/api/agent/update')).body.update, null, 'no target, no update')
    t.equal((await http.put(`/api/fleets/${fleet.id}/agent-target`, { version: '9.9.9' }, { token })).status, 400, 'a version without a release is refused')
    t.equal((await http.put(`/api/fleets/${fleet.id}/agent-target`, { version: '2.0.0' }, { token })).status, 200)
    const offered = await device.json('GET', '/api/agent/update')
    const manifest = verifySignedManifest(offered.body.update, listed.body.release_key)
    t.match(manifest, { version: '2.0.0', arch: 'x64', sha512: build.sha512, size: build.size, min_gateway_version: '0.1.0' }, 'a signed manifest that verifies')
    const download = await device.request('GET', `/api/agent/executable?sha512=${build.sha512}`)
    t.equal(download.status, 200)
    t.equal(Buffer.byteLength(download.text, 'latin1') > 0 && Number(download.headers['content-length']), build.size, 'the executable through the tunnel')
    t.match((await http.get(`/api/fleets/${fleet.id}/agent`, { token })).body, { target: '2.0.0', versions: [{ version: null, devices: 1 }] })
    t.match((await http.get(`/api/devices/${deviceId}/agent`, { token })).body, { target: '2.0.0', target_from: 'fleet', outdated: false })
    const beat = await device.json('POST', '/api/agent/heartbeat', {
      agent_version: '0.0.1',
      agent_arch: 'x64',
      at: new Date().toISOString(),
      metrics: { cpu_percent: null, memory_used_bytes: null, memory_total_bytes: null, disk_used_bytes: null, disk_total_bytes: null, uptime_seconds: null, load_1: null, net_rx_bytes: null, net_tx_bytes: null },
      containers: [],
      software: [],
      outbox: { pending: 0, dropped_log_lines: 0 },
    })
    t.equal(beat.status, 200)
    t.match((await http.get(`/api/devices/${deviceId}/agent`, { token })).body, { version: '0.0.1', arch: 'x64', outdated: true }, 'older than the gateway supports: flagged')
    t.equal((await http.put(`/api/devices/${deviceId}/agent-target`, { version: null }, { token })).status, 200, 'clearing a target that is not set')
    t.equal((await http.get(`/api/provision/agent/${build.sha512}`)).status, 200, 'the content-addressed download')
    t.equal((await http.get(`/api/provision/agent/${'0'.repeat(128)}`)).status, 404)
  })

  await t.test('fuzzed bodies, paths and queries', async (t) => {
    const nasty = fc.oneof(
      fc.string(),
      fc.string({ unit: 'binary' }),
      fc.constantFrom('\u0000', '\ud800', '1.2.3\u0000', '1.2.3-', '99999999999999999999.0.0', 'x'.repeat(5000), '', '__proto__', '../../etc/passwd', '%00', '2.0.0'),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.array(fc.string({ maxLength: 3 }), { maxLength: 2 }),
      fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 2 }),
    )
    const segment = fc.oneof(fc.constantFrom(fleet.id, deviceId, device.registration.device_id, build.sha512, 'a'.repeat(128), '..', '%2e%2e', '%00', 'linux-x64', 'linux-arm64.sha512'), fc.string({ maxLength: 140 }).map(encodeURIComponent))
    let cases = 0
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('fleet', 'device', 'provision', 'agent-update', 'agent-executable'), segment, nasty, async (route, id, value) => {
        cases++
        let status: number
        if (route === 'fleet') status = (await http.put(`/api/fleets/${id}/agent-target`, { version: value }, { token })).status
        else if (route === 'device') status = (await http.put(`/api/devices/${id}/agent-target`, typeof value === 'object' && value ? value : { version: value }, { token })).status
        else if (route === 'provision') status = (await http.get(`/api/provision/agent/${id}`)).status
        else if (route === 'agent-update') status = (await device.request('GET', `/api/agent/update?${encodeURIComponent(JSON.stringify(value) ?? '')}=${id}`)).status
        else status = (await device.request('GET', `/api/agent/executable?sha512=${id}&x=${encodeURIComponent(JSON.stringify(value) ?? '')}`)).status
        return status < 500 || status === 503
      }),
      { numRuns: 150 },
    )
    t.comment(`ran ${cases} cases`)
    t.equal((await http.get('/api/health')).status < 500, true, 'the gateway still answers')
    t.equal((await device.json('GET', '/api/agent/update')).status, 200, 'and so does the agent API')
  })
})
