/**
 * bench/rollout: one rollout across N simulated devices that speak the agent
 * protocol (heartbeats, outbox deploy reports) over real SSH tunnels to a
 * gateway in its own process. Prints the time from start to all-succeeded
 * against its floor, the sum of the waves' soak times (each wave must soak
 * before the next starts), and the gateway's CPU per device state transition.
 *
 * Environment (defaults in brackets):
 *   BENCH_ROLLOUT_DEVICES [2000]   simulated devices
 *   BENCH_ROLLOUT_SOAK_S [2]       soak seconds per wave
 *   BENCH_ROLLOUT_WAVE_PERCENT [25] rolling waves after a 10% canary
 *   BENCH_ROLLOUT_HEARTBEAT_MS [2000] how often each device heartbeats
 *   BENCH_ROLLOUT_CONNECT [25]     SSH handshakes in flight while devices connect
 *   BENCH_ROLLOUT_TIMEOUT_S [900]  give up after this long
 */
import { createHttpClient } from '../../test/lib/http-client.js'
import { newKeyPair } from '../../test/lib/keys.js'
import { driveAgents, startSimulatedAgent, type SimulatedAgent } from '../../test/lib/simulated-agent.js'
import { spawnGateway } from '../../test/lib/spawn-gateway.js'
import { ADMIN_PASSWORD, testGatewayEnv } from '../../test/lib/test-gateway.js'
import { waitFor } from '../../test/lib/wait.js'
import { cpuSeconds } from '../lib/proc-cpu.js'
import { envInt } from '../lib/stats.js'

const devices = envInt('BENCH_ROLLOUT_DEVICES', 2000)
const soak = envInt('BENCH_ROLLOUT_SOAK_S', 2)
const wavePercent = envInt('BENCH_ROLLOUT_WAVE_PERCENT', 25)
const heartbeatMs = envInt('BENCH_ROLLOUT_HEARTBEAT_MS', 2000)
const connectInFlight = envInt('BENCH_ROLLOUT_CONNECT', 25)
const timeoutS = envInt('BENCH_ROLLOUT_TIMEOUT_S', 900)

const closers: (() => Promise<void> | void)[] = []
const t = { teardown: (fn: () => Promise<void> | void) => void closers.push(fn) }

async function main() {
  const env = testGatewayEnv(t, {
    EDGETAINER_ROLLOUT_TICK_SECONDS: '0.5',
    EDGETAINER_SSH_PORT_RANGE: `41000-${41000 + devices + 100}`,
  })
  const gw = await spawnGateway(t, env)
  const http = createHttpClient(`http://127.0.0.1:${gw.httpPort}`)
  const token = (await http.post('/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })).body.token as string
  const as = { token }
  const fleet = (await http.post('/api/fleets', { name: 'bench' }, as)).body
  const sw = (await http.post('/api/software', { name: 'app', docker_compose_yaml: 'services:\n  web:\n    image: app:1\n', version: 'v1' }, as)).body
  await http.put(`/api/software/${sw.id}`, { docker_compose_yaml: 'services:\n  web:\n    image: app:2\n', version: 'v2' }, as)

  const agents: SimulatedAgent[] = []
  const started = Date.now()
  let next = 0
  await Promise.all(
    Array.from({ length: connectInFlight }, async () => {
      while (next < devices) {
        const i = next++
        const key = newKeyPair(`bench-${i}`)
        const device = (await http.post('/api/devices', { name: `bench ${i}`, device_id: `bench-${String(i).padStart(5, '0')}`, fleet_id: fleet.id, public_key: key.publicKey }, as)).body
        agents.push(await startSimulatedAgent({ http, token: '', sshPort: gw.sshPort, hostPublicKey: gw.hostPublicKey, outcome: () => 'ok', registered: { id: device.id, device_id: device.device_id, key } }))
      }
    }),
  )
  console.log(`${devices} simulated devices connected in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  const driver = driveAgents(() => agents, heartbeatMs)
  closers.push(() => driver.stop())
  closers.push(() => agents.forEach((a) => a.disconnect()))
  await waitFor('every device online', async () => (await http.get(`/api/devices?fleet_id=${fleet.id}&status=online&limit=1`, as)).body.total === devices, 120_000, 1000)

  const cpuBefore = cpuSeconds({ gateway: gw.child.pid }).gateway!
  const t0 = Date.now()
  const r = (await http.post('/api/rollouts', { software_id: sw.id, fleet_id: fleet.id, version: 'v2', strategy: 'canary', canary_percent: 10, wave_percent: wavePercent, soak_seconds: soak, start: true }, as)).body
  const done = await waitFor('the rollout completes', async () => ((x) => (x.status === 'completed' ? x : undefined))((await http.get(`/api/rollouts/${r.id}`, as)).body), timeoutS * 1000, 500)
  const elapsed = (Date.now() - t0) / 1000
  const cpu = cpuSeconds({ gateway: gw.child.pid }).gateway! - cpuBefore
  // pending → (sent) → downloading → verifying → succeeded: at least three recorded changes per device.
  const transitions = devices * 3
  const floor = done.wave_count * soak
  console.log(`rollout of ${devices} devices in ${done.wave_count} waves: ${elapsed.toFixed(1)} s from start to all-succeeded`)
  console.log(`sum of soak times: ${floor} s; ratio ${(elapsed / floor).toFixed(2)}× (overhead ${(elapsed - floor).toFixed(1)} s)`)
  console.log(`gateway CPU: ${cpu.toFixed(1)} s over the rollout = ${((cpu * 1000) / transitions).toFixed(2)} ms per device transition (${transitions} transitions; includes serving ${devices} heartbeats every ${heartbeatMs / 1000} s)`)
}

main()
  .catch((err) => {
    console.error(err)
    process.exitCode = 1
  })
  .finally(async () => {
    for (const fn of closers.reverse()) await fn()
  })
