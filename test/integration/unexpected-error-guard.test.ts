import t from 'tap'
import { createHttpClient } from '../lib/http-client.js'
import { waitFor } from '../lib/openssh.js'
import { spawnGateway } from '../lib/spawn-gateway.js'
import { ADMIN_PASSWORD, testGatewayEnv } from '../lib/test-gateway.js'

/** Reads `edgetainer_unexpected_errors_total{kind=…}` from a Prometheus text page. */
function unexpectedErrors(metrics: string, kind: string): number {
  const line = metrics.split('\n').find((l) => l.startsWith(`edgetainer_unexpected_errors_total{kind="${kind}"}`))
  return line ? Number(line.split(' ').at(-1)) : NaN
}

t.test('an error that escapes every handler is logged and counted, and the gateway keeps serving', async (t) => {
  const gateway = await spawnGateway(t, testGatewayEnv(t, { EDGETAINER_LOG_LEVEL: 'error', TEST_RAISE_UNEXPECTED_ERRORS: '1' }))
  let logs = ''
  gateway.child.stdout!.on('data', (d) => (logs += d))
  const http = createHttpClient(`http://127.0.0.1:${gateway.httpPort}`)

  await waitFor('both errors logged', async () => (logs.match(/unexpected error; the gateway keeps serving/g) ?? []).length >= 2)
  t.equal(gateway.child.exitCode, null, 'the process is still running')
  t.equal(gateway.child.signalCode, null)

  const health = await http.get('/healthz')
  t.equal(health.status, 200, 'and still answers HTTP')
  const token = (await http.post('/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })).body.token as string
  t.equal((await http.get('/api/fleets', { token })).status, 200, 'and still serves the API from its database')

  const metrics = await http.get('/metrics', { token })
  t.equal(metrics.status, 200)
  t.equal(unexpectedErrors(metrics.body, 'uncaught_exception'), 1, 'the exception thrown from a timer is counted')
  t.equal(unexpectedErrors(metrics.body, 'unhandled_rejection'), 1, 'the unhandled rejection is counted')

  const entries = logs
    .split('\n')
    .filter((l) => l.includes('unexpected error'))
    .map((l) => JSON.parse(l) as { kind: string; err: { message: string; stack?: string } })
  t.same(entries.map((e) => e.kind).sort(), ['uncaught_exception', 'unhandled_rejection'])
  t.match(entries.find((e) => e.kind === 'uncaught_exception')!.err.message, /thrown from a timer/, 'the log says what was thrown')
  t.notMatch(logs, new RegExp(ADMIN_PASSWORD), 'and leaks no secret')
})
