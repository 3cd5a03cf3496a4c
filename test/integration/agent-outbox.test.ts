import { execFileSync } from 'node:child_process'
import t from 'tap'
import { projectName } from '../../agent/deploy/stack-store.js'
import { createPostgresDatabase } from '../lib/databases.js'
import { ensureTestImage, TEST_IMAGE } from '../lib/docker-image.js'
import { runningContainer } from '../lib/docker-state.js'
import { createHttpClient } from '../lib/http-client.js'
import { freePort, waitFor } from '../lib/openssh.js'
import { spawnGateway } from '../lib/spawn-gateway.js'
import { registrationToken, startTestAgent, waitOnline } from '../lib/test-agent.js'
import { ADMIN_PASSWORD, testGatewayEnv } from '../lib/test-gateway.js'

const RECONNECT_CAP_SECONDS = 3

const compose = `services:
  ticker:
    image: ${TEST_IMAGE}
    network_mode: host
    stop_signal: SIGKILL
    command: ["sh", "-c", "i=0; while true; do echo tick $$i; i=$$((i+1)); sleep 0.1; done"]
  other:
    image: ${TEST_IMAGE}
    network_mode: host
    stop_signal: SIGKILL
    command: ["sleep", "100000"]
`

interface LogItem {
  log_type: string
  container: string | null
  message: string
  seq: number | null
}

t.test('offline, the agent keeps working; its events arrive once and in order when the gateway is back', async (t) => {
  ensureTestImage()
  // The same data dir, database and ports across restarts: the gateway a device knows comes back.
  const env = testGatewayEnv(t, {
    DATABASE_URL: await createPostgresDatabase(t),
    EDGETAINER_HTTP_PORT: String(await freePort()),
    EDGETAINER_SSH_PORT: String(await freePort()),
  })
  let gateway = await spawnGateway(t, env)
  const http = createHttpClient(`http://127.0.0.1:${gateway.httpPort}`)
  const token = (await http.post('/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })).body.token as string
  const address = { http, adminToken: token, sshPort: gateway.sshPort, hostPublicKey: gateway.hostPublicKey }
  const fleet = (await http.post('/api/fleets', { name: 'tickers' }, { token })).body
  const { agent } = await startTestAgent(t, {
    gateway: address,
    token: await registrationToken(address, fleet.id),
    config: { reconnect_max_seconds: RECONNECT_CAP_SECONDS, reconnect_base_seconds: 0.2 },
  })
  const deviceId = agent.registration.device_id
  await waitOnline(http, token, deviceId)

  const software = (await http.post('/api/software', { name: 'ticker', docker_compose_yaml: compose }, { token })).body
  const project = projectName('ticker', software.id)
  t.equal((await http.post(`/api/software/${software.id}/deploy`, { device_id: deviceId }, { token })).status, 201)
  const tickerLines = async () => {
    const items: LogItem[] = []
    for (let offset = 0; ; offset += 1000) {
      const page = (await http.get(`/api/devices/${deviceId}/logs?container=ticker&limit=1000&offset=${offset}`, { token })).body
      items.push(...page.items)
      // A short page is the last: `total` is counted apart from the page, and the ticker writes on in between
      // (comparing with it looped forever on empty pages when one line landed between the two queries).
      if (page.items.length < 1000) return items
    }
  }
  await waitFor('deployed', async () => {
    const items = (await http.get(`/api/deployments?device_id=${deviceId}`, { token })).body.items
    return items[0]?.devices[0]?.status === 'running'
  }, 45_000)
  await waitFor('ticks delivered while online', async () => (await tickerLines()).length >= 10, 45_000)

  await t.test('killed, the gateway leaves the agent working offline', async (t) => {
    await gateway.stop('SIGKILL')
    await waitFor('agent notices', () => !agent.online())
    const pendingAtStart = agent.outbox.pending
    execFileSync('docker', ['kill', (await runningContainer(project, 'other'))!.id], { stdio: 'ignore' })
    await waitFor('offline events queued', () => {
      const events = agent.outbox.peek(100_000, 1 << 30).events
      const exited = events.some((e) => e.kind === 'container' && e.service === 'other' && e.state === 'exited')
      // Long enough offline for the reconnect delays to reach the cap.
      return exited && agent.outbox.pending >= pendingAtStart + 60
    }, 30_000)
    t.ok(await runningContainer(project, 'ticker'), 'the stack keeps running')
    t.ok(agent.outbox.pending >= 60, `${agent.outbox.pending} events wait in the outbox`)
  })

  await t.test('restarted, the gateway sees the agent back within the backoff cap, and every event arrives once, in order', async (t) => {
    gateway = await spawnGateway(t, env)
    const status = await waitOnline(http, token, deviceId, (RECONNECT_CAP_SECONDS + 10) * 1000)
    const back = Date.now() - gateway.readyAt
    t.ok(back <= RECONNECT_CAP_SECONDS * 1000 + 2000, `back online ${back} ms after the gateway listened (cap ${RECONNECT_CAP_SECONDS} s)`)
    t.ok(status.online)
    await waitFor('outbox drained', () => agent.outbox.pending === 0, 30_000)

    const ticks = (await tickerLines()).filter((l) => l.log_type === 'stdout').map((l) => Number(/^tick (\d+)$/.exec(l.message)?.[1]))
    t.ok(ticks.length >= 40, `${ticks.length} ticks`)
    const expected = Array.from({ length: ticks.length }, (_, i) => ticks[0]! + i)
    t.same(ticks, expected, 'consecutive: none lost, none twice, in order across the offline period')

    const all: LogItem[] = (await http.get(`/api/devices/${deviceId}/logs?limit=1000`, { token })).body.items
    const seqs = all.filter((l) => l.log_type !== 'dropped').map((l) => l.seq)
    t.equal(new Set(seqs).size, seqs.length, 'no outbox entry stored twice')
    // Asked for by container: the agent also logs the containers of other suites on the shared dockerd,
    // which can push this one line past the first 1000 (the API pages oldest first).
    const other: LogItem[] = (await http.get(`/api/devices/${deviceId}/logs?container=other&limit=1000`, { token })).body.items
    t.ok(
      other.some((l) => l.log_type === 'container' && /running → exited/.test(l.message)),
      'the state change that happened offline arrived',
    )
  })
})
