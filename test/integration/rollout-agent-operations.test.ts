import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { projectName } from '../../agent/deploy/stack-store.js'
import { loadConfig } from '../../server/config/load-config.js'
import { createLogger } from '../../server/logger.js'
import { startServer, type RunningServer } from '../../server/main.js'
import { createPostgresDatabase } from '../lib/databases.js'
import { ensureTestImage, TEST_IMAGE } from '../lib/docker-image.js'
import { createHttpClient } from '../lib/http-client.js'
import { freePort } from '../lib/ports.js'
import { startPrivateDockerd, type PrivateDockerd } from '../lib/private-dockerd.js'
import { registrationToken, startTestAgent, waitOnline, type TestAgent } from '../lib/test-agent.js'
import { ADMIN_PASSWORD, TEST_SCRYPT_COST, testGatewayEnv } from '../lib/test-gateway.js'
import { waitFor } from '../lib/wait.js'

const run = promisify(execFile)

/**
 * A one-service stack that prints its version and sleeps. A `crashable`
 * release exits 1 at once while the test's flag file exists (a host
 * directory bind-mounted read-only), so the same release can crash first
 * and run when it is retried.
 */
function stack(version: string, flagDir?: string): string {
  const check = flagDir ? `if [ -e /flag/crash ]; then echo ${version} failing; exit 1; fi; ` : ''
  const volumes = flagDir ? `    volumes: ["${flagDir}:/flag:ro"]\n` : ''
  return `services:\n  web:\n    image: ${TEST_IMAGE}\n    network_mode: host\n    stop_signal: SIGKILL\n${volumes}    command: ["sh", "-c", ${JSON.stringify(`${check}echo ${version}; exec sleep 100000`)}]\n`
}

/**
 * The operations of issue 13 with four real agents, each on a dockerd of its
 * own running real compose stacks, against one gateway that restarts on the
 * same database mid-rollout. The same agents and stacks carry through every
 * subtest, in order: resume then retry-failed; an update lock held across a
 * gateway restart, then rollback; cancel. (Canary and rolling completing, the
 * automatic pause and the offline deadline are in rollout-agents.test.ts.)
 */
// About 30 docker-compose v1 runs (0.7 CPU-second each), mostly in sequence: a loaded machine stretches this file past the usual 240 s.
t.setTimeout(600_000)
t.test('rollout operations with real agents on real dockerd', async (t) => {
  ensureTestImage()
  const began = Date.now()
  const elapsed = () => `${((Date.now() - began) / 1000).toFixed(1)} s`
  // The daemons take seconds to start: they come up while the gateway boots.
  const daemonsUp: Promise<PrivateDockerd[]> = Promise.all(Array.from({ length: 4 }, () => startPrivateDockerd(t)))
  const env = testGatewayEnv(t, { EDGETAINER_HTTP_PORT: String(await freePort()), EDGETAINER_SSH_PORT: String(await freePort()) })
  env.DATABASE_URL = await createPostgresDatabase(t)
  const config = loadConfig({ env })
  // The same config, data dir (host key, signing key) and database each time: a restart, as systemd would do it.
  const boot = () => startServer(config, createLogger(config.logLevel), { passwordHashing: { cost: TEST_SCRYPT_COST }, agentHeartbeatSeconds: 1, rolloutTickMs: 200 })
  let server: RunningServer = await boot()
  t.teardown(() => server.close())
  const http = createHttpClient(`http://127.0.0.1:${server.httpPort}`)
  const token = (await http.post('/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })).body.token as string
  const as = { token }
  const address = { http, adminToken: token, sshPort: server.sshPort, hostPublicKey: server.hostPublicKey }
  const fleet = (await http.post('/api/fleets', { name: 'ops' }, as)).body
  const flagDir = mkdtempSync(path.join(tmpdir(), 'et-flag-'))
  t.teardown(() => rmSync(flagDir, { recursive: true, force: true }))

  // Each container watch is two docker CLI runs per agent: every 1.5 s rather than 0.5 s keeps four agents cheap.
  const daemons = await daemonsUp
  t.comment(`gateway and 4 dockerds up after ${elapsed()}`)
  const agentConfig = (d: PrivateDockerd) => ({ docker: `${d.docker} compose`, docker_host: d.host, deploy_stable_seconds: 0.5, deploy_timeout_seconds: 30, update_lock_retry_seconds: 0.3, watch_seconds: 1.5 })
  const agents: (TestAgent & { daemon: PrivateDockerd; id: string; device_id: string })[] = await Promise.all(
    daemons.map(async (daemon) => {
      const a = await startTestAgent(t, { gateway: address, token: await registrationToken(address, fleet.id), config: agentConfig(daemon) })
      return { ...a, daemon, id: a.agent.registration.id, device_id: a.agent.registration.device_id }
    }),
  )
  agents.sort((x, y) => (x.device_id < y.device_id ? -1 : 1)) // the engine's wave order
  const [A, B, C, D] = agents as [(typeof agents)[number], (typeof agents)[number], (typeof agents)[number], (typeof agents)[number]]
  await Promise.all(agents.map((a) => waitOnline(http, token, a.device_id)))
  t.comment(`4 agents online after ${elapsed()}`)

  const sw = (await http.post('/api/software', { name: 'app', docker_compose_yaml: stack('v1'), version: 'v1' }, as)).body
  const project = projectName('app', sw.id)
  const addVersion = async (v: string, crashable = false) => t.equal((await http.put(`/api/software/${sw.id}`, { docker_compose_yaml: stack(v, crashable ? flagDir : undefined), version: v }, as)).status, 200)
  const webOf = async (a: (typeof agents)[number]) =>
    (await run('docker', ['-H', a.daemon.host, 'ps', '-q', '--filter', `label=com.docker.compose.project=${project}`, '--filter', 'status=running'])).stdout.split('\n').filter(Boolean)[0]
  /** What the agent's own dockerd runs for the software: the version its container printed. */
  const runs = async (a: (typeof agents)[number]) => {
    const id = await webOf(a)
    return id ? (await run('docker', ['-H', a.daemon.host, 'logs', id])).stdout.trim().split('\n')[0] : undefined
  }
  const versions = () => Promise.all(agents.map(runs))
  const get = async (id: string) => (await http.get(`/api/rollouts/${id}`, as)).body
  const until = (id: string, what: string, ok: (r: any) => boolean) =>
    waitFor(what, async () => ((r) => (ok(r) ? r : undefined))(await get(id)), 60_000, 250).catch(async (err) => {
      const r = await get(id).catch(() => ({ devices: [] }))
      t.comment(JSON.stringify({ status: r.status, reason: r.reason, wave: r.current_wave, devices: r.devices.map((d: any) => [d.device_id, d.wave, d.state, d.reason, d.attempt]) }))
      t.comment(JSON.stringify(await versions()))
      throw err
    })
  const row = (r: any, a: { id: string }) => r.devices.find((d: any) => d.id === a.id)
  const op = async (id: string, name: string) => {
    const res = await http.post(`/api/rollouts/${id}/${name}`, undefined, as)
    t.equal(res.status, 200, `${name}: ${JSON.stringify(res.body).slice(0, 200)}`)
    return res.body
  }
  const rollout = async (body: Record<string, unknown>) => {
    const res = await http.post('/api/rollouts', { software_id: sw.id, fleet_id: fleet.id, soak_seconds: 0.5, start: true, ...body }, as)
    if (res.status !== 201) throw new Error(`create: ${res.status} ${JSON.stringify(res.body)}`)
    return res.body
  }

  // A plain fleet deployment first, pinned to v1 (an unpinned one follows the software's newest version, and would
  // send every version added below to every device before any rollout): the release everything starts from.
  t.equal((await http.post(`/api/software/${sw.id}/deploy`, { fleet_id: fleet.id, version: 'v1' }, as)).status, 201)
  await waitFor('v1 everywhere', async () => (await versions()).every((v) => v === 'v1'), 60_000, 1000)
  t.comment(`v1 everywhere after ${elapsed()}`)

  await t.test('resume goes on past the accepted failure; retry-failed sends the release again to the failed device only', async (t) => {
    await addVersion('v2', true)
    writeFileSync(path.join(flagDir, 'crash'), '')
    const r = await rollout({ version: 'v2', strategy: 'canary', canary_percent: 25 })
    t.same(r.waves.map((w: any) => w.size), [1, 3])
    const paused = await until(r.id, 'the crashing canary pauses the rollout', (x) => x.status === 'paused')
    t.match(row(paused, A).reason, /`?web`? exited with code 1.*went back to v1/)
    rmSync(path.join(flagDir, 'crash')) // the cause is fixed; the failed device is not retried by resume
    await waitFor('the canary runs v1 again', async () => (await runs(A)) === 'v1', 30_000, 500)

    t.equal((await op(r.id, 'resume')).status, 'running')
    const ended = await until(r.id, 'the resumed rollout ends', (x) => x.status === 'failed')
    t.match(ended.reason, /only 3 of 4 devices succeeded/, 'the accepted failure did not pause it again; it still counts at the end')
    t.same(await versions(), ['v1', 'v2', 'v2', 'v2'], 'resume sent wave 2; the failed canary stayed on v1')
    t.same(ended.devices.map((d: any) => d.attempt), [0, 0, 0, 0])

    t.equal((await op(r.id, 'retry')).status, 'running')
    const done = await until(r.id, 'the retried rollout completes', (x) => x.status === 'completed')
    t.same(done.devices.map((d: any) => [d.state, d.attempt]), [['succeeded', 1], ['succeeded', 0], ['succeeded', 0], ['succeeded', 0]], 'only the failed device was sent it again')
    t.same(await versions(), ['v2', 'v2', 'v2', 'v2'])
  })

  await t.test('an update lock defers the restart across a gateway restart; the restarted engine goes on; pause; rollback', async (t) => {
    await addVersion('v3')
    const held = (await webOf(A))!
    await run('docker', ['-H', A.daemon.host, 'exec', held, 'sh', '-c', 'set -C; : > /run/edgetainer/updates.lock'])
    const r = await rollout({ version: 'v3', strategy: 'rolling', wave_size: 1 })
    t.same(r.waves.map((w: any) => w.size), [1, 1, 1, 1])
    const waiting = await until(r.id, 'A held by its lock', (x) => row(x, A).state === 'installing' && row(x, A).reason)
    t.match(row(waiting, A).reason, /waiting for update lock held by `web`/, 'the rollout says why the device waits')

    await server.close()
    server = await boot()
    t.equal(server.httpPort, Number(env.EDGETAINER_HTTP_PORT), 'the gateway is back on its port')
    const after = await get(r.id)
    t.equal(after.status, 'running', 'after the restart the rollout is still running')
    t.equal(row(after, B).released_at, null, 'wave 2 not sent while the lock is held')
    await Promise.all(agents.map((a) => waitOnline(http, token, a.device_id, 30_000)))
    t.equal(await webOf(A), held, 'the held container was never killed')
    t.equal(await runs(A), 'v2')

    await run('docker', ['-H', A.daemon.host, 'exec', held, 'rm', '/run/edgetainer/updates.lock'])
    // The restarted gateway's engine sees A through and sends wave 2 by itself; pausing it then lets B finish.
    await until(r.id, 'the restarted engine sends wave 2', (x) => row(x, A).state === 'succeeded' && row(x, B).released_at)
    t.equal((await op(r.id, 'pause')).status, 'paused')
    const paused = await until(r.id, 'B finishes while paused', (x) => row(x, B).state === 'succeeded')
    t.same(paused.devices.map((d: any) => d.released_at !== null), [true, true, false, false], 'the paused rollout sent no further device')
    t.same(await versions(), ['v3', 'v3', 'v2', 'v2'])

    const back = await op(r.id, 'rollback')
    t.equal(back.status, 'rolled_back')
    t.same(back.devices.map((d: any) => d.state), ['rolled_back', 'rolled_back', 'cancelled', 'cancelled'])
    t.match(row(back, A).reason, /rolled back by .*: back to v2/, 'the devices sent v3 are told to go back to v2')
    t.match(row(back, C).reason, /not sent: the rollout was rolled back/)
    await waitFor('every agent runs v2 again', async () => (await versions()).every((v) => v === 'v2'), 60_000, 1000)
  })

  await t.test('cancel: devices not yet sent the release never get it; the one updating keeps it', async (t) => {
    await addVersion('v4')
    const r = await rollout({ version: 'v4', strategy: 'canary', canary_percent: 25 })
    await until(r.id, 'the canary is sent v4', (x) => row(x, A).released_at)
    const cancelled = await op(r.id, 'cancel')
    t.equal(cancelled.status, 'cancelled')
    // The canary is mid-update (or, on a very quick machine, already through): either way it keeps v4.
    t.ok(/cancelled while this device was updating; it keeps the release it was sent/.test(row(cancelled, A).reason ?? '') || row(cancelled, A).state === 'succeeded', row(cancelled, A).reason)
    t.same(cancelled.devices.slice(1).map((d: any) => [d.state, d.reason, d.released_at]), Array(3).fill(['cancelled', 'not sent: the rollout was cancelled', null]))
    const plan = async (a: { id: string }) => (await http.get(`/api/devices/${a.id}/deployment-plan`, as)).body.software[0].version
    t.same(await Promise.all(agents.map(plan)), ['v4', 'v2', 'v2', 'v2'], 'only the canary is told to run v4')
    await waitFor('the canary runs v4', async () => (await runs(A)) === 'v4', 60_000, 500)
    t.same(await versions(), ['v4', 'v2', 'v2', 'v2'])
    const logs = async (a: { device_id: string }) => JSON.stringify((await http.get(`/api/devices/${a.device_id}/logs?limit=200`, as)).body)
    t.match(await logs(A), /app v4: /, "the canary's agent reported v4 (the control for the next check)")
    for (const a of [B, C, D]) t.notMatch(await logs(a), /app v4/, `${a.device_id} never reported anything about v4`)
  })
})
