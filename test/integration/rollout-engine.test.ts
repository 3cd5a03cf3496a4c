import t from 'tap'
import { driveAgents, startSimulatedAgent, type Outcome, type SimulatedAgent } from '../lib/simulated-agent.js'
import { startTestGateway } from '../lib/test-gateway.js'
import { waitFor } from '../lib/wait.js'

/**
 * The rollout engine against simulated agents: real gateway, real SSH
 * tunnels, the real agent API (heartbeats, outbox deploy reports), with a
 * 100 ms engine tick and sub-second soak and deadline times. Docker-free, so
 * every rule is exercised in seconds; rollout-agents.test.ts does the same
 * with real agents on real dockerd.
 */
t.test('rollouts: labels, waves, failure rule, operations, deadlines, joiners', async (t) => {
  const gw = await startTestGateway(t, 'postgres', { start: { agentHeartbeatSeconds: 1, rolloutTickMs: 100, agentRateLimit: { points: 100_000 } } })
  const { http, adminToken: token } = gw
  const as = { token }
  const fleet = (await http.post('/api/fleets', { name: 'shops' }, as)).body
  const tokenRes = await http.post('/api/provision/tokens', { fleet_id: fleet.id, max_uses: 20, labels: { site: 'north', hw: 'pi4' } }, as)
  t.equal(tokenRes.status, 201)
  t.same(tokenRes.body.labels, { site: 'north', hw: 'pi4' }, 'a registration token carries labels')

  // Per version, per device: how the release fares. Tests change it as they go.
  const fate = new Map<string, (device: string) => Outcome>()
  const agents: SimulatedAgent[] = []
  const start = async () => {
    const a = await startSimulatedAgent({ http, token: tokenRes.body.token, sshPort: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey, outcome: (v, d) => fate.get(v)?.(d) ?? 'ok' })
    agents.push(a)
    return a
  }
  const began = Date.now()
  await Promise.all(Array.from({ length: 5 }, () => start()))
  t.comment(`5 simulated agents up in ${Date.now() - began} ms`)
  t.teardown(() => agents.forEach((a) => a.disconnect()))
  const driver = driveAgents(() => agents)
  t.teardown(() => driver.stop())
  const sorted = () => [...agents].sort((a, b) => (a.device_id < b.device_id ? -1 : 1))

  const sw = (await http.post('/api/software', { name: 'app', docker_compose_yaml: 'services:\n  web:\n    image: app:1\n', version: 'v1' }, as)).body
  const version = async (v: string) => t.equal((await http.put(`/api/software/${sw.id}`, { docker_compose_yaml: `services:\n  web:\n    image: app:${v}\n`, version: v }, as)).status, 200)
  await version('v2')
  const rollout = async (body: Record<string, unknown>) => {
    const res = await http.post('/api/rollouts', { software_id: sw.id, fleet_id: fleet.id, soak_seconds: 0.3, start: true, ...body }, as)
    if (res.status !== 201) throw new Error(`create: ${res.status} ${JSON.stringify(res.body)}`)
    return res.body
  }
  const get = async (id: string) => (await http.get(`/api/rollouts/${id}`, as)).body
  const until = (id: string, what: string, ok: (r: any) => boolean, ms = 20_000) => waitFor(what, async () => ((r) => (ok(r) ? r : undefined))(await get(id)), ms)
  const op = async (id: string, name: string, status = 200) => {
    const res = await http.post(`/api/rollouts/${id}/${name}`, undefined, as)
    t.equal(res.status, status, `${name}: ${JSON.stringify(res.body).slice(0, 200)}`)
    return res.body
  }

  await t.test('labels: set on devices, applied from tokens, matched by selectors', async (t) => {
    const [a, b] = sorted()
    t.same((await http.get(`/api/devices/${a!.id}`, as)).body.labels, { site: 'north', hw: 'pi4' }, 'registration applied the token labels')
    const put = await http.put(`/api/devices/${b!.id}`, { labels: { site: 'south', hw: 'pi5' } }, as)
    t.equal(put.status, 200)
    t.same(put.body.labels, { site: 'south', hw: 'pi5' })
    const list = async (selector: string) => http.get(`/api/devices?fleet_id=${fleet.id}&selector=${encodeURIComponent(selector)}`, as)
    t.same((await list('site=south')).body.items.map((d: any) => d.id), [b!.id])
    t.equal((await list('hw in (pi4,pi5)')).body.total, 5)
    t.equal((await list('site!=south,hw notin (pi5)')).body.total, 4)
    t.equal((await list('!hw')).body.total, 0)
    const bad = await list('site in north')
    t.equal(bad.status, 400)
    t.match(bad.body, { code: 'VALIDATION_FAILED', error: /selector.*expected "\(" after in/ })
    t.equal((await http.put(`/api/devices/${b!.id}`, { labels: { 'bad key': 'x' } }, as)).status, 400)
    t.equal((await http.put(`/api/devices/${b!.id}`, { labels: { site: 'north', hw: 'pi4' } }, as)).status, 200)
  })

  await t.test('canary, then rolling waves, completing; a second active rollout is a 409', async (t) => {
    const r = await rollout({ version: 'v2', strategy: 'canary', canary_percent: 20, wave_size: 2 })
    t.equal(r.status, 'running')
    t.same(r.waves.map((w: any) => w.size), [1, 2, 2], 'a canary of one device, then waves of two')
    const clash = await http.post('/api/rollouts', { software_id: sw.id, fleet_id: fleet.id, version: 'v1' }, as)
    t.equal(clash.status, 409)
    t.match(clash.body, { code: 'ROLLOUT_ACTIVE', error: /still running: finish, cancel or roll it back first/ })
    const done = await until(r.id, 'the rollout completes', (x) => x.status === 'completed')
    t.equal(done.counts.succeeded, 5)
    t.match(done.reason, /5 of 5 devices succeeded/)
    const byWave = (w: number) => done.devices.filter((d: any) => d.wave === w)
    for (let w = 1; w < 3; w++) {
      const previousDone = Math.max(...byWave(w - 1).map((d: any) => Date.parse(d.state_since)))
      for (const d of byWave(w)) t.ok(Date.parse(d.released_at) >= previousDone, `wave ${w} was sent only after wave ${w - 1} succeeded`)
    }
    t.ok(agents.every((a) => a.running.get(sw.id) === 'v2'), 'every device runs v2')
    const metrics = (await http.get('/metrics', as)).body as string
    t.match(metrics, /edgetainer_rollout_devices\{state="succeeded"\} \d+/, 'the metric is exported')
  })

  let pausedId = ''
  await t.test('a failing release pauses at the threshold; later waves never receive it; failed devices go back', async (t) => {
    await version('v3')
    fate.set('v3', () => 'fail')
    const r = await rollout({ version: 'v3', strategy: 'canary', canary_percent: 20, wave_size: 2 })
    const paused = await until(r.id, 'the rollout pauses', (x) => x.status === 'paused')
    pausedId = r.id
    t.match(paused.reason, /1 of 1 devices failed \(100% > the 20% threshold\): paused automatically/)
    const canary = paused.devices.find((d: any) => d.wave === 0)
    t.equal(canary.state, 'failed')
    t.match(canary.reason, /web exited with code 1; the device went back to v2/, "the agent's reason, in words")
    const plan = (await http.get(`/api/devices/${canary.id}/deployment-plan`, as)).body
    t.equal(plan.software[0].version, 'v2', 'the failed device is told to run its previous release')
    const later = agents.filter((a) => a.id !== canary.id)
    t.ok(later.every((a) => !a.received.some((x) => x.startsWith('app@v3'))), 'devices in later waves never received v3')
    t.ok(paused.devices.filter((d: any) => d.wave > 0).every((d: any) => d.state === 'pending' && d.released_at === null))
  })

  await t.test('retry sends the release again to the failed device only; the rollout goes on', async (t) => {
    fate.set('v3', () => 'ok')
    const r = await op(pausedId, 'retry')
    t.equal(r.status, 'running')
    const done = await until(pausedId, 'the retried rollout completes', (x) => x.status === 'completed')
    t.equal(done.counts.succeeded, 5)
    t.equal(done.devices.find((d: any) => d.wave === 0).attempt, 1, 'the canary was retried once')
    t.ok(agents.every((a) => a.running.get(sw.id) === 'v3'))
    await op(pausedId, 'retry', 409)
  })

  await t.test('resume accepts the failures so far; rollback returns everyone to the previous release', async (t) => {
    await version('v4')
    const bad = sorted()[1]!.device_id
    fate.set('v4', (d) => (d === bad ? 'crash' : 'ok'))
    const r = await rollout({ version: 'v4', strategy: 'rolling', wave_size: 2 })
    const paused = await until(r.id, 'a crash after start pauses the rollout', (x) => x.status === 'paused')
    t.match(paused.devices.find((d: any) => d.device_id === bad).reason, /container web exited with code 1/)
    await op(r.id, 'resume')
    const ended = await until(r.id, 'the resumed rollout ends', (x) => x.status === 'failed')
    t.match(ended.reason, /only 4 of 5 devices succeeded \(100% needed\)/)
    const back = await op(r.id, 'rollback')
    t.equal(back.status, 'rolled_back')
    t.ok(back.devices.every((d: any) => d.state === 'rolled_back' && /back to v3/.test(d.reason)))
    await waitFor('every device back on v3', () => agents.every((a) => a.running.get(sw.id) === 'v3'))
    await op(r.id, 'pause', 409)
  })

  await t.test('manual waves wait for advance; cancel stops the rest; joiners follow', async (t) => {
    await version('v5')
    const r = await rollout({ version: 'v5', strategy: 'manual', wave_size: 2 })
    const waiting = await until(r.id, 'wave 1 done, waiting', (x) => /advance to start wave 2/.test(x.reason ?? ''))
    t.equal(waiting.current_wave, 0)
    const joiner = await start()
    const joined = await until(r.id, 'the new device joins', (x) => x.devices.some((d: any) => d.id === joiner.id))
    t.equal(joined.devices.find((d: any) => d.id === joiner.id).wave, 0, 'a device joining the fleet joins the current wave')
    await until(r.id, 'the joiner succeeds', (x) => x.devices.find((d: any) => d.id === joiner.id).state === 'succeeded')
    await op(r.id, 'advance')
    await until(r.id, 'wave 2 done', (x) => x.waves[1].counts.succeeded === 2)
    const cancelled = await op(r.id, 'cancel')
    t.equal(cancelled.status, 'cancelled')
    const rest = cancelled.devices.filter((d: any) => d.wave === 2)
    t.ok(rest.length > 0 && rest.every((d: any) => d.state === 'cancelled' && /not sent/.test(d.reason)))
    t.ok(rest.every((d: any) => !agents.find((a) => a.id === d.id)!.received.some((x) => x.startsWith('app@v5'))), 'cancelled devices never received v5')
  })

  await t.test('an offline device is skipped after its deadline and converges when it returns', async (t) => {
    await version('v6')
    const away = sorted()[0]!
    away.disconnect()
    await waitFor('offline', async () => (await http.get(`/api/devices/${away.id}`, as)).body.status === 'offline')
    const r = await rollout({ version: 'v6', strategy: 'immediate', deadline_seconds: 0.5 })
    const done = await until(r.id, 'completed with one skipped', (x) => x.status === 'completed')
    const row = done.devices.find((d: any) => d.id === away.id)
    t.equal(row.state, 'skipped')
    t.match(row.reason, /offline for more than 0.5 s .* it updates when it reconnects/)
    t.match(done.reason, /1 skipped/)
    await away.reconnect(gw.server.sshPort)
    const caught = await until(r.id, 'the device catches up', (x) => x.devices.find((d: any) => d.id === away.id).state === 'succeeded').catch(async (err) => {
      t.comment(JSON.stringify((await get(r.id)).devices.find((d: any) => d.id === away.id)), away.online(), away.received.join(' '), JSON.stringify((await http.get(`/api/devices/${away.id}`, as)).body.status))
      throw err
    })
    t.equal(caught.counts.skipped, 0)
    t.equal(away.running.get(sw.id), 'v6')
  })
})
