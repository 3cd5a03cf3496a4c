import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import t from 'tap'
import { projectName } from '../../agent/deploy/stack-store.js'
import { ensureTestImage, TEST_IMAGE } from '../lib/docker-image.js'
import { startPrivateDockerd, type PrivateDockerd } from '../lib/private-dockerd.js'
import { registrationToken, startTestAgent, waitOnline, type TestAgent } from '../lib/test-agent.js'
import { startTestGateway } from '../lib/test-gateway.js'
import { waitFor } from '../lib/wait.js'

/** A one-service stack: `ok` releases print their version and sleep; a crashing one exits 1 at once. */
function stack(version: string, crash = false): string {
  const command = crash ? `echo ${version} failing; exit 1` : `echo ${version}; exec sleep 100000`
  return `services:\n  web:\n    image: ${TEST_IMAGE}\n    network_mode: host\n    stop_signal: SIGKILL\n    command: ["sh", "-c", ${JSON.stringify(command)}]\n`
}

/**
 * Rollouts with four real agents, each on a dockerd of its own, running real
 * compose stacks: canary then rolling completing; a crashing release that
 * pauses at the threshold while the failed device goes back and later waves
 * never receive it; rollback; an offline agent skipped and converging later.
 */
t.test('rollouts with real agents on real dockerd', async (t) => {
  ensureTestImage()
  const gw = await startTestGateway(t, 'postgres', { start: { agentHeartbeatSeconds: 1, rolloutTickMs: 200 } })
  const { http, adminToken: token } = gw
  const as = { token }
  const address = { http, adminToken: token, sshPort: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey }
  const fleet = (await http.post('/api/fleets', { name: 'real' }, as)).body
  const daemons: PrivateDockerd[] = await Promise.all(Array.from({ length: 4 }, () => startPrivateDockerd(t)))
  const config = (d: PrivateDockerd) => ({ docker: `${d.docker} compose`, docker_host: d.host, deploy_stable_seconds: 0.5, deploy_timeout_seconds: 30 })
  const agents: (TestAgent & { daemon: PrivateDockerd; id: string; device_id: string })[] = []
  for (const daemon of daemons) {
    const a = await startTestAgent(t, { gateway: address, token: await registrationToken(address, fleet.id), config: config(daemon) })
    agents.push({ ...a, daemon, id: a.agent.registration.id, device_id: a.agent.registration.device_id })
  }
  agents.sort((x, y) => (x.device_id < y.device_id ? -1 : 1))
  await Promise.all(agents.map((a) => waitOnline(http, token, a.device_id)))

  const sw = (await http.post('/api/software', { name: 'app', docker_compose_yaml: stack('v1'), version: 'v1' }, as)).body
  const project = projectName('app', sw.id)
  const addVersion = async (v: string, crash = false) => t.equal((await http.put(`/api/software/${sw.id}`, { docker_compose_yaml: stack(v, crash), version: v }, as)).status, 200)
  /** What the agent's own dockerd runs for the software: the version its container printed. */
  const run = promisify(execFile)
  const runs = async (a: (typeof agents)[number]) => {
    const ids = (await run('docker', ['-H', a.daemon.host, 'ps', '-q', '--filter', `label=com.docker.compose.project=${project}`, '--filter', 'status=running'])).stdout.split('\n').filter(Boolean)
    return ids.length ? (await run('docker', ['-H', a.daemon.host, 'logs', ids[0]!])).stdout.trim().split('\n')[0] : undefined
  }
  const all = async (v: string) => (await Promise.all(agents.map(runs))).every((x) => x === v)
  const get = async (id: string) => (await http.get(`/api/rollouts/${id}`, as)).body
  const until = (id: string, what: string, ok: (r: any) => boolean, ms = 60_000) =>
    waitFor(what, async () => ((r) => (ok(r) ? r : undefined))(await get(id)), ms, 250).catch(async (err) => {
      const r = await get(id)
      t.comment(JSON.stringify({ status: r.status, reason: r.reason, wave: r.current_wave, devices: r.devices.map((d: any) => [d.device_id, d.wave, d.state, d.reason, d.online]) }))
      throw err
    })

  // A plain fleet deployment first, pinned to v1 (an unpinned one follows the software's newest version, and would
  // send every version added below to every device before any rollout): the release devices go back to.
  t.equal((await http.post(`/api/software/${sw.id}/deploy`, { fleet_id: fleet.id, version: 'v1' }, as)).status, 201)
  await waitFor('v1 everywhere', () => all('v1'), 60_000, 1000).catch(async (err) => {
    t.comment(JSON.stringify((await http.get(`/api/deployments?fleet_id=${fleet.id}`, as)).body.items[0]?.devices))
    t.comment(await Promise.all(agents.map(runs)))
    throw err
  })

  await t.test('a canary wave, then rolling waves, completing', async (t) => {
    await addVersion('v2')
    const r = (await http.post('/api/rollouts', { software_id: sw.id, fleet_id: fleet.id, version: 'v2', strategy: 'canary', canary_percent: 25, wave_size: 2, soak_seconds: 1, start: true }, as)).body
    t.same(r.waves.map((w: any) => w.size), [1, 2, 1])
    const done = await until(r.id, 'completed', (x) => x.status === 'completed')
    t.equal(done.counts.succeeded, 4)
    t.ok(await all('v2'), 'every agent runs v2')
  })

  await t.test('a crashing release pauses at the threshold; the failed device rolls back; later waves never receive it; rollback', async (t) => {
    await addVersion('v3', true)
    const r = (await http.post('/api/rollouts', { software_id: sw.id, fleet_id: fleet.id, version: 'v3', strategy: 'canary', canary_percent: 25, wave_size: 2, soak_seconds: 1, start: true }, as)).body
    const paused = await until(r.id, 'paused', (x) => x.status === 'paused')
    const canary = paused.devices.find((d: any) => d.wave === 0)
    t.equal(canary.state, 'failed')
    t.match(canary.reason, /`?web`? exited with code 1.*the device went back to v2/, "the agent's reason in words")
    t.ok(paused.devices.filter((d: any) => d.wave > 0).every((d: any) => d.released_at === null), 'later waves were never sent v3')
    await waitFor('every agent runs v2', () => all('v2'), 30_000, 1000)
    const logs = (await http.get(`/api/devices/${agents[3]!.device_id}/logs?limit=200`, as)).body
    t.notMatch(JSON.stringify(logs), /app v3/, 'a later-wave agent never reported anything about v3')
    const back = (await http.post(`/api/rollouts/${r.id}/rollback`, undefined, as)).body
    t.equal(back.status, 'rolled_back')
    t.equal(back.devices.find((d: any) => d.wave === 0).state, 'rolled_back')
  })

  await t.test('an offline agent is skipped after its deadline and converges when it returns', async (t) => {
    await addVersion('v4')
    const away = agents[0]!
    await away.stop()
    await waitFor('offline', async () => (await http.get(`/api/devices/${away.device_id}`, as)).body.status === 'offline')
    const r = (await http.post('/api/rollouts', { software_id: sw.id, fleet_id: fleet.id, version: 'v4', strategy: 'immediate', soak_seconds: 1, deadline_seconds: 1, start: true }, as)).body
    const done = await until(r.id, 'completed with one skipped', (x) => x.status === 'completed')
    t.equal(done.devices.find((d: any) => d.id === away.id).state, 'skipped')
    t.equal(await runs(away), 'v2', 'the offline device still runs v2')
    const back = await startTestAgent(t, { gateway: address, token: 'already-registered', dataDir: away.dataDir, config: config(away.daemon) })
    t.teardown(() => back.stop())
    await until(r.id, 'the returning device catches up', (x) => x.devices.find((d: any) => d.id === away.id).state === 'succeeded')
    t.equal(await runs(away), 'v4')
  })
})
