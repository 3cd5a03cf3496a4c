import http from 'node:http'
import fc from 'fast-check'
import { casesFor, routesOf, type FuzzCase, type FuzzRoute } from './api-fuzzer.js'
import { createPostgresDatabase, type DialectName } from './databases.js'
import { requestViaHost, startDeviceApp } from './device-app.js'
import { createHttpClient } from './http-client.js'
import { newKeyPair } from './keys.js'
import { waitFor } from './openssh.js'
import { spawnGateway } from './spawn-gateway.js'
import { connectSsh2Device } from './ssh2-device.js'
import { ADMIN_PASSWORD, testGatewayEnv } from './test-gateway.js'

interface Tap {
  teardown(fn: () => Promise<void> | void): void
  comment(...args: any[]): void
  equal(found: any, wanted: any, msg: string): unknown
  same(found: any, wanted: any, msg: string): unknown
  ok(found: any, msg: string): unknown
}

/** The documented 5xx answers: an offline device or service, an unreachable agent, the database, the agent executable not built. */
const DOCUMENTED_5XX = new Set(['DEVICE_OFFLINE', 'SERVICE_NOT_CONNECTED', 'AGENT_UNREACHABLE', 'AGENT_BAD_REPLY', 'DATABASE_UNAVAILABLE', 'AGENT_NOT_BUILT', 'GIT_FETCH_FAILED'])

/** What must never reach a client: stack frames, driver and SQL text. */
const LEAKS = /\bat [^ ]+ \(|node_modules|\.ts:\d+|SQLSTATE|syntax error at or near|violates [a-z -]*constraint|invalid byte sequence|duplicate key value|relation "|column "/

interface Answer {
  status: number
  body: string
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 })
const ANSWER_READ_LIMIT = 100_000

function send(port: number, c: FuzzCase, token: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {}
    if (c.auth === 'admin') headers.authorization = `Bearer ${token}`
    if (c.auth === 'forged') {
      headers.authorization = 'Bearer et_forged0000000000000000000000'
      headers.cookie = 'edgetainer_session=eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.; x=edgetainer_session; a b=1'
    }
    if (c.contentType) headers['content-type'] = c.contentType
    const req = http.request({ host: '127.0.0.1', port, method: c.method, path: c.url, headers, agent }, (res) => {
      // A stream (Server-Sent Events) answers with its status and then never ends: its head is the answer.
      if (res.headers['content-type']?.includes('text/event-stream')) {
        res.destroy()
        return resolve({ status: res.statusCode!, body: '' })
      }
      // The first 100 kB is all a verdict reads. A larger answer (an agent executable is tens of MB) is cut
      // there: decoding the whole of it as text cost this suite more CPU than all its requests together.
      const chunks: Buffer[] = []
      let size = 0
      const answer = () => ({ status: res.statusCode!, body: Buffer.concat(chunks).toString('utf8') })
      res.on('data', (d: Buffer) => {
        chunks.push(d)
        size += d.length
        if (size >= ANSWER_READ_LIMIT) {
          resolve(answer())
          res.destroy()
        }
      })
      res.on('end', () => resolve(answer()))
      res.on('error', reject)
    })
    req.setTimeout(20_000, () => req.destroy(new Error('no answer within 20 s')))
    req.on('error', reject)
    req.end(c.body)
  })
}

/** Why this answer is wrong, or undefined when it is acceptable. */
function judge(answer: Answer): string | undefined {
  let code: string | undefined
  try {
    code = (JSON.parse(answer.body) as { code?: string }).code
  } catch {
    code = undefined
  }
  if (answer.status >= 500 && !((answer.status === 502 || answer.status === 503) && code && DOCUMENTED_5XX.has(code))) return `${answer.status} ${code ?? answer.body.slice(0, 80)}`
  if (answer.status >= 400 && LEAKS.test(answer.body)) return `${answer.status} leaks internals: ${answer.body.slice(0, 200)}`
  return undefined
}

/**
 * The adversarial API suite: a gateway in its own process, every operation of
 * its /api/openapi.json fuzzed (as admin, anonymously and with forged
 * credentials) while a canary device service must keep answering. Fails on
 * any undocumented 5xx, leaked internals, a hang, an exit, or an error that
 * reached the gateway's last-resort handler.
 */
export async function runApiFuzzSuite(t: Tap, dialect: DialectName, runsPerRoute: number): Promise<void> {
  // Fuzzed git software may name any host: a short fetch limit keeps each sync (and the poller) brief.
  const env = testGatewayEnv(t, { EDGETAINER_GIT_FETCH_TIMEOUT_SECONDS: '3' })
  if (dialect === 'postgres') env.DATABASE_URL = await createPostgresDatabase(t)
  const gateway = await spawnGateway(t, env)
  t.teardown(() => agent.destroy())
  const port = gateway.httpPort
  const api = createHttpClient(`http://127.0.0.1:${port}`)
  const session = (await api.post('/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })).body.token as string
  // An API token, not the session: fuzzed logouts and refreshes must not end the fuzzer's own credential.
  const tokenRow = (await api.post('/api/tokens', { description: 'fuzzer' }, { token: session })).body
  const token = tokenRow.token as string
  const as = { token }

  // The canary: a connected device whose public service must answer throughout.
  const app = await startDeviceApp(t, 'canary')
  const canaryKey = newKeyPair()
  const canary = (await api.post('/api/devices', { name: 'Canary', device_id: 'canary', public_key: canaryKey.publicKey }, as)).body
  const canaryService = (await api.post(`/api/devices/${canary.id}/exposed-services`, { name: 'web', container_name: 'web', internal_port: 80, auth_required: false }, as)).body
  const device = await connectSsh2Device(t, { port: gateway.sshPort, hostPublicKey: gateway.hostPublicKey, deviceId: 'canary', key: canaryKey })
  await device.forward('web', 80, app.port)
  await waitFor('canary service connected', async () => (await api.get(`/api/devices/${canary.id}/exposed-services/${canaryService.id}`, as)).body.connected)
  const canaryAnswers = async () => {
    const res = await requestViaHost(port, 'web.canary.localhost', '/canary')
    return res.status === 200 && res.body === 'canary says hello at /canary'
  }
  t.ok(await canaryAnswers(), 'the canary answers before the fuzzing')

  // Fixtures, so fuzzed ids reach handlers and the database, not only the 404 for unknown ids.
  const fleet = (await api.post('/api/fleets', { name: 'fuzz-fleet' }, as)).body
  const target = (await api.post('/api/devices', { name: 'Target', device_id: 'fuzz-target', fleet_id: fleet.id }, as)).body
  const service = (await api.post(`/api/devices/${target.id}/exposed-services`, { name: 'svc', container_name: 'app', internal_port: 8080 }, as)).body
  const victim = (await api.post('/api/users', { username: 'victim', password: 'victim-password-123', role: 'operator' }, as)).body
  const provision = (await api.post('/api/provision/tokens', { fleet_id: fleet.id }, as)).body
  const software = (await api.post('/api/software', { name: 'fuzz-app', docker_compose_yaml: 'services:\n  app:\n    image: busybox\n' }, as)).body
  for (const [what, value] of Object.entries({ fleet, target, service, victim, provision, software })) t.ok(value?.id, `fixture ${what} created`)
  const ids = [fleet.id, target.id, victim.id, provision.id, software.id].filter(Boolean) as string[]
  const known = (param: string): string[] =>
    ({
      id: ids,
      service_id: [service.id],
      container: ['app', 'web'],
      token: [provision.token ?? 'x'],
      tokenId: [victim.id],
      host: ['localhost', 'fuzz-target.localhost'],
      version: ['1', '2'],
      a: ['1'],
      b: ['1', '2'],
    })[param] ?? ids

  const doc = (await api.get('/api/openapi.json')).body
  const routes = routesOf(doc)
  t.ok(routes.length > 40, `fuzzing ${routes.length} operations from /api/openapi.json`)

  const failures = new Map<string, string>()
  const statuses = new Map<number, number>()
  let cases = 0
  const started = Date.now()
  for (const route of routes) {
    await fc.assert(
      fc.asyncProperty(casesFor(route, known), async (c) => {
        cases++
        let verdict: string | undefined
        try {
          const answer = await send(port, c, token)
          statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1)
          verdict = judge(answer)
        } catch (err) {
          verdict = `no answer: ${(err as Error).message}`
        }
        if (gateway.child.exitCode !== null || gateway.child.signalCode !== null) throw new Error(`the gateway exited during ${c.method} ${c.url.slice(0, 200)}`)
        if (verdict) {
          const key = `${route.method} ${route.path}: ${verdict.slice(0, 160)}`
          if (!failures.has(key)) failures.set(key, `${c.auth} ${c.method} ${c.url.slice(0, 120)} ${c.contentType ?? ''} ${(c.body ?? '').slice(0, 160)}`)
        }
        if (cases % 50 === 0 && !(await canaryAnswers())) throw new Error(`the canary stopped answering after ${route.method} ${route.path}`)
        return true
      }),
      { numRuns: runsPerRoute, endOnFailure: true },
    )
  }
  t.comment(`ran ${cases} cases over ${routes.length} operations in ${Math.round((Date.now() - started) / 1000)} s (${dialect})`)
  t.comment(`answers by status: ${[...statuses].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`).join(' ')}`)
  t.same([...failures].map(([k, example]) => `${k} ← ${example}`), [], 'no undocumented 5xx, leak or hang')
  t.ok(await canaryAnswers(), 'the canary still answers after the fuzzing')
  t.equal(gateway.child.exitCode, null, 'the gateway process never exited')
  t.equal((await api.get('/api/auth/me', as)).status, 200, "the fuzzer's own credential still works (the run was not all 401s)")
  const metrics = (await api.get('/metrics', as)).body as string
  const unexpected = metrics
    .split('\n')
    .filter((l) => l.startsWith('edgetainer_unexpected_errors_total{'))
    .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0)
  t.equal(unexpected, 0, 'no error escaped to the last-resort handler')
}
