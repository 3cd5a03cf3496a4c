import t from 'tap'
import { loadConfig } from '../../server/config/load-config.js'
import { createLogger } from '../../server/logger.js'
import { startServer, type RunningServer } from '../../server/main.js'
import { createPostgresDatabase } from '../lib/databases.js'
import { createHttpClient } from '../lib/http-client.js'
import { driveAgents, startSimulatedAgent, type SimulatedAgent } from '../lib/simulated-agent.js'
import { ADMIN_PASSWORD, TEST_SCRYPT_COST, testGatewayEnv } from '../lib/test-gateway.js'
import { waitFor } from '../lib/wait.js'

/**
 * Two gateways share one PostgreSQL database, both running the engine. The
 * devices start on gateway A; A goes away mid-rollout; the devices reconnect
 * to B, whose engine carries the rollout on from the database. Row locks keep
 * the two engines off each other: no device is sent the release twice.
 */
t.test('a rollout survives the loss of its gateway and runs on another sharing the database', async (t) => {
  const env = testGatewayEnv(t)
  env.DATABASE_URL = await createPostgresDatabase(t)
  const config = loadConfig({ env })
  const start = () =>
    startServer(config, createLogger(config.logLevel), { passwordHashing: { cost: TEST_SCRYPT_COST }, rolloutTickMs: 100, agentHeartbeatSeconds: 1, agentRateLimit: { points: 100_000 } })
  const a = await start()
  const b = await start()
  let aClosed = false
  const closeA = async () => {
    if (!aClosed) await a.close()
    aClosed = true
  }
  t.teardown(async () => {
    await closeA()
    await b.close()
  })
  const httpA = createHttpClient(`http://127.0.0.1:${a.httpPort}`)
  const httpB = createHttpClient(`http://127.0.0.1:${b.httpPort}`)
  const token = (await httpA.post('/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })).body.token as string
  const as = { token }
  const fleet = (await httpA.post('/api/fleets', { name: 'pair' }, as)).body
  const reg = (await httpA.post('/api/provision/tokens', { fleet_id: fleet.id, max_uses: 10 }, as)).body.token as string
  const agents: SimulatedAgent[] = []
  for (let i = 0; i < 3; i++) agents.push(await startSimulatedAgent({ http: httpA, token: reg, sshPort: a.sshPort, hostPublicKey: a.hostPublicKey, outcome: () => 'ok' }))
  t.teardown(() => agents.forEach((x) => x.disconnect()))
  const driver = driveAgents(() => agents)
  t.teardown(() => driver.stop())

  const sw = (await httpA.post('/api/software', { name: 'app', docker_compose_yaml: 'services:\n  web:\n    image: app:1\n', version: 'v1' }, as)).body
  await httpA.put(`/api/software/${sw.id}`, { docker_compose_yaml: 'services:\n  web:\n    image: app:2\n', version: 'v2' }, as)
  const r = (await httpA.post('/api/rollouts', { software_id: sw.id, fleet_id: fleet.id, version: 'v2', strategy: 'rolling', wave_size: 1, soak_seconds: 1, start: true }, as)).body
  t.equal(r.status, 'running')
  const get = async (server: RunningServer) => (await createHttpClient(`http://127.0.0.1:${server.httpPort}`).get(`/api/rollouts/${r.id}`, as)).body

  await waitFor('wave 1 done', async () => (await get(b)).waves[0].counts.succeeded === 1, 30_000)
  t.equal((await get(b)).status, 'running', 'mid-rollout when gateway A goes away')
  await closeA()
  for (const x of agents) x.disconnect()
  for (const x of agents) await x.reconnect(b.sshPort)

  const done = await waitFor('the rollout completes on gateway B', async () => ((x) => (x.status === 'completed' ? x : undefined))(await get(b)), 40_000)
  t.equal(done.counts.succeeded, 3)
  for (const x of agents) t.same(x.received.filter((v) => v.startsWith('app@v2')), ['app@v2#0'], `${x.device_id} was sent v2 once`)
  const audit = (await httpB.get(`/api/audit?target_id=${r.id}`, as)).body.items.map((e: any) => e.action)
  t.same(audit.sort(), ['rollout.create', 'rollout.start'])
})
