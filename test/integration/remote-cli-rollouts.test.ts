import fc from 'fast-check'
import t, { type Test } from 'tap'
import { execa } from 'execa'
import { createDeviceMetricsStore } from '../../server/telemetry/device-metrics-store.js'
import { createCliRunner, EDGETAINER_BIN, isOneLineError, type CliResult } from '../lib/remote-cli.js'
import { driveAgents, startSimulatedAgent, type SimulatedAgent } from '../lib/simulated-agent.js'
import { startTestGateway } from '../lib/test-gateway.js'
import { waitFor } from '../lib/wait.js'

/**
 * `edgetainer rollouts …` and `edgetainer devices label` as users run them
 * (the real bin/edgetainer, one process per command) against a real gateway
 * whose rollout engine ticks every 100 ms, with simulated agents speaking the
 * agent protocol over real SSH (test/lib/simulated-agent.ts): no docker, so
 * a whole rollout takes a second or two.
 */
t.test('the remote CLI runs rollouts and labels devices', async (t) => {
  const gw = await startTestGateway(t, 'postgres', { start: { agentHeartbeatSeconds: 1, rolloutTickMs: 100, agentRateLimit: { points: 100_000 } } })
  const { http, adminToken: token } = gw
  const as = { token }
  const fleet = (await http.post('/api/fleets', { name: 'shops' }, as)).body
  const reg = (await http.post('/api/provision/tokens', { fleet_id: fleet.id, max_uses: 3 }, as)).body
  const agents: SimulatedAgent[] = await Promise.all(
    Array.from({ length: 3 }, () => startSimulatedAgent({ http, token: reg.token, sshPort: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey, outcome: () => 'ok' })),
  )
  t.teardown(() => agents.forEach((a) => a.disconnect()))
  const driver = driveAgents(() => agents, 300)
  t.teardown(() => driver.stop())
  const [a, b, c] = [...agents].sort((x, y) => (x.device_id < y.device_id ? -1 : 1)) as [SimulatedAgent, SimulatedAgent, SimulatedAgent]
  const sw = (await http.post('/api/software', { name: 'app', docker_compose_yaml: 'services:\n  web:\n    image: app:1\n', version: 'v1' }, as)).body
  for (const v of ['v2', 'v3']) await http.put(`/api/software/${sw.id}`, { docker_compose_yaml: `services:\n  web:\n    image: app:${v}\n`, version: v }, as)

  // Credentials from the environment, as a CI job would: no login round trip per test.
  const cli = createCliRunner(t, { EDGETAINER_URL: http.baseUrl, EDGETAINER_TOKEN: token })
  const ok = (t: Test, r: CliResult, what: string) => {
    t.equal(r.exitCode, 0, `${what}: ${r.stderr}`)
    return r
  }
  const json = (r: CliResult) => JSON.parse(r.stdout)

  await t.test('devices label sets and removes labels; devices show lists them', async (t) => {
    const [setA, setB] = await Promise.all([cli.run(['devices', 'label', a.device_id, 'site=north', 'hw=pi5', 'legacy=yes']), cli.run(['devices', 'label', b.device_id, 'site=south', '--json'])])
    t.equal(ok(t, setA, 'label a').stdout, `${a.device_id}: hw=pi5, legacy=yes, site=north\n`)
    t.same(json(ok(t, setB, 'label b')), { site: 'south' })
    const [removed, typo] = await Promise.all([cli.run(['devices', 'label', a.device_id, '--remove', 'legacy', '--json']), cli.run(['devices', 'label', a.device_id, 'site'])])
    t.same(json(ok(t, removed, 'remove')), { site: 'north', hw: 'pi5' })
    t.same((await http.get(`/api/devices/${a.id}`, as)).body.labels, { site: 'north', hw: 'pi5' }, 'the gateway holds the change')
    t.equal(typo.exitCode, 1)
    t.equal(typo.stderr, 'edgetainer: "site" is not key=value; remove a label with --remove site\n')
    const [shown, old] = await Promise.all([cli.run(['devices', 'show', a.device_id]), cli.run(['device', c.device_id])])
    t.match(ok(t, shown, 'devices show').stdout, /^labels:\s+hw=pi5, site=north$/m)
    t.match(ok(t, old, 'device').stdout, /^labels:\s+-$/m, 'a device without labels')
    t.notMatch(shown.stdout, /^docker:/m, 'nothing about docker while the agent reads its containers')

    // A device whose last heartbeat said dockerd does not answer, stored the way the agent path stores it.
    const pump = (await http.post('/api/devices', { name: 'Pump', device_id: 'docker-away', fleet_id: fleet.id }, as)).body
    const metrics = { cpu_percent: 1, memory_used_bytes: null, memory_total_bytes: null, disk_used_bytes: null, disk_total_bytes: null, uptime_seconds: 5, load_1: null, net_rx_bytes: null, net_tx_bytes: null }
    await createDeviceMetricsStore({ db: gw.server.database.db }).record(pump.id, { recorded_at: new Date(), metrics, containers: [], docker_error: 'cannot reach dockerd at unix:///var/run/docker.sock: ENOENT\u001b[2J' })
    const away = ok(t, await cli.run(['devices', 'show', 'docker-away']), 'devices show docker-away').stdout
    t.match(away, /^docker:\s+does not answer, so the containers cannot be seen: cannot reach dockerd at unix:\/\/\/var\/run\/docker\.sock: ENOENT/m)
    t.notMatch(away, /\u001b/, 'no terminal control from the device reaches the terminal')
    t.equal((await http.delete(`/api/devices/${pump.id}`, as)).status, 204)
  })

  await t.test('create, start, watch progress until completed; show and list', async (t) => {
    const created = json(ok(t, await cli.run(['rollouts', 'create', 'app', 'v2', '--fleet', 'shops', '--strategy', 'rolling', '--wave-size', '1', '--soak', '200ms', '--json']), 'create'))
    t.match(created, { status: 'draft', version: 'v2', strategy: 'rolling', settings: { wave_size: 1, soak_seconds: 0.2, canary_percent: 10, error_threshold_percent: 20, failure_action: 'pause' } }, 'left-out flags got the gateway defaults')
    // Watch from the draft on, so it sees every step however slowly the machine starts processes.
    const watch = execa(EDGETAINER_BIN, ['rollouts', 'watch', created.id, '--interval', '100ms'], { env: cli.env, extendEnv: false, reject: false, timeout: 60_000 })
    let watchOut = ''
    watch.stdout!.on('data', (chunk: Buffer) => (watchOut += chunk.toString()))
    await waitFor('watch prints the draft', () => watchOut.includes('draft'), 30_000)
    const started = ok(t, await cli.run(['rollouts', 'start', created.id]), 'start')
    t.match(started.stdout, new RegExp(`^rollout ${created.id} is running: wave 1 of 3;`))
    const watched = await watch
    t.equal(watched.exitCode, 0, `watch: ${watched.stderr}`)
    t.match(watchOut, /^\d\d:\d\d:\d\d draft not split into waves yet: /m, 'watch prints the draft')
    t.match(watchOut, /^\d\d:\d\d:\d\d running wave \d of 3: /m, 'then its progress')
    t.match(watchOut, /^\d\d:\d\d:\d\d completed wave 3 of 3: succeeded 3 \| 3 of 3 devices succeeded/m, 'and ends at completed')
    const [show, list, listJson] = await Promise.all([
      cli.run(['rollouts', 'show', created.id]),
      cli.run(['rollouts', 'list', '--fleet', 'shops']),
      cli.run(['rollouts', 'list', '--status', 'completed', '--json']),
    ])
    t.match(ok(t, show, 'show').stdout, /^status:\s+completed$/m)
    t.match(show.stdout, /^strategy:\s+rolling: waves of 1 device\(s\); success 100%; soak 0.2 s; pause above 20% failed; deadline 3600 s$/m)
    for (const agent of agents) t.match(show.stdout, new RegExp(`^${agent.device_id}\\s+\\S+\\s+\\d\\s+succeeded\\s+yes\\s+0`, 'm'), `${agent.device_id} has its row`)
    t.match(show.stdout, /^1\s+1\s+done\s+succeeded 1$/m, 'the waves table')
    t.match(ok(t, list, 'list').stdout, new RegExp(`^${created.id}\\s+app\\s+v2\\s+completed\\s+rolling\\s+fleet shops\\s+3/3`, 'm'))
    t.same(json(ok(t, listJson, 'list --json')).map((r: { id: string }) => r.id), [created.id])
    t.ok(agents.every((x) => x.running.get(sw.id) === 'v2'), 'every device runs v2')
  })

  let manual = ''
  await t.test('a second active rollout is a 409; pause and resume; watch fails when cancelled', async (t) => {
    const first = ok(t, await cli.run(['rollouts', 'create', 'app', 'v3', '--fleet', 'shops', '--selector', 'site in (north,south)', '--strategy', 'manual', '--wave-size', '1', '--soak', '200ms', '--start', '--json']), 'create')
    manual = json(first).id
    t.same(json(first).waves.map((w: { size: number }) => w.size), [1, 1], 'the selector matched the two labelled devices')
    const clash = await cli.run(['rollouts', 'create', 'app', 'v2', '--fleet', 'shops'])
    t.equal(clash.exitCode, 1, 'a 409 is exit 1')
    t.equal(clash.stderr, `edgetainer: rollout ${manual} of this software to this fleet is still running: finish, cancel or roll it back first (ROLLOUT_ACTIVE)\n`)
    t.match(ok(t, await cli.run(['rollouts', 'pause', manual]), 'pause').stdout, new RegExp(`^rollout ${manual} is paused`))
    const again = await cli.run(['rollouts', 'pause', manual])
    t.equal(again.exitCode, 1)
    t.equal(again.stderr, 'edgetainer: cannot pause a rollout that is paused (ROLLOUT_STATE)\n', "the gateway's words")
    t.equal(json(ok(t, await cli.run(['rollouts', 'resume', manual, '--json']), 'resume')).status, 'running')
    await waitFor('the first wave succeeded', async () => (await http.get(`/api/rollouts/${manual}`, as)).body.waves[0].counts.succeeded === 1, 20_000)
    t.match(ok(t, await cli.run(['rollouts', 'cancel', manual]), 'cancel').stdout, /is cancelled/)
    const watched = await cli.run(['rollouts', 'watch', manual, '--interval', '100ms'])
    t.equal(watched.exitCode, 6, 'watching a cancelled rollout exits 6')
    t.match(watched.stdout, /cancelled wave 1 of 2: succeeded 1, cancelled 1/)
    t.match(watched.stderr, new RegExp(`^edgetainer: rollout ${manual} ended cancelled`))
    t.ok(isOneLineError(watched.stderr), watched.stderr)
    const [missing, unknownOp] = await Promise.all([cli.run(['rollouts', 'show', '00000000-0000-4000-8000-000000000000']), cli.run(['rollouts', 'explode', manual])])
    t.equal(missing.exitCode, 3)
    t.match(missing.stderr, /^edgetainer: rollout 00000000-0000-4000-8000-000000000000 not found/)
    t.equal(unknownOp.exitCode, 1)
    t.ok(isOneLineError(unknownOp.stderr), unknownOp.stderr)
  })

  await t.test('hostile flag values: one line naming the problem, never a stack trace or a 5xx', async (t) => {
    const hostile = fc
      .oneof(
        fc.string({ unit: 'binary', maxLength: 40 }),
        fc.constantFrom('1e999', 'NaN', '-1', '0x10', '%', '100.5%', '99999999999999999999', '\u001b[31m', "site=north'; DROP TABLE devices;--", 'hw in (', '__proto__', '../../etc/passwd', '0'),
      )
      .map((s) => s.replace(/\u0000/g, ''))
    const argv = fc.oneof(
      fc.tuple(fc.constantFrom('--canary-percent', '--wave-size', '--success-percent', '--error-threshold', '--on-failure', '--soak', '--deadline', '--strategy', '--selector', '--device'), hostile).map(([flag, v]) =>
        ['rollouts', 'create', 'app', 'v2', ...(flag === '--device' ? [] : ['--fleet', 'shops']), `${flag}=${v}`],
      ),
      hostile.map((v) => ['rollouts', 'create', 'app', v, '--fleet', 'shops']),
      hostile.map((v) => ['rollouts', 'watch', v, '--interval', '100ms']),
      hostile.map((v) => ['rollouts', 'watch', manual, `--interval=${v}`]),
      hostile.map((v) => ['rollouts', 'list', `--status=${v}`]),
      hostile.map((v) => ['rollouts', 'resume', v]),
      hostile.map((v) => ['devices', 'label', a.device_id, v]),
      hostile.map((v) => ['devices', 'label', a.device_id, `--remove=${v}`]),
    )
    const seed = Number(process.env.FC_SEED ?? Date.now() % 1e9)
    const cases = fc.sample(argv, { numRuns: 32, seed })
    t.comment(`fast-check seed ${seed} (FC_SEED=${seed} replays it)`)
    let n = 0
    // Each case is a whole Node process: four at a time keep two cores busy. The deadline is generous: a loaded CI machine starts Node slowly.
    for (let i = 0; i < cases.length; i += 4) {
      const batch = cases.slice(i, i + 4)
      const results = await Promise.all(batch.map((args) => cli.run(args, { timeoutMs: 90_000 })))
      results.forEach((r, j) => {
        n++
        const label = JSON.stringify(batch[j])
        t.ok([0, 1, 3, 6].includes(r.exitCode), `exit ${r.exitCode} (no 5xx, no bug, no hang: -1 is a timeout) for ${label}: ${r.stderr}`)
        if (r.exitCode !== 0) t.ok(isOneLineError(r.stderr), `one clean line for ${label}: ${JSON.stringify(r.stderr)}`)
        t.notMatch(r.stderr, /unexpected error|\n\s+at /, `no stack for ${label}`)
      })
    }
    t.comment(`ran ${n} cases`)
    t.equal((await http.get('/api/rollouts', as)).status, 200, 'the gateway still answers')
  })
})
