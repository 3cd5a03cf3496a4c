import t from 'tap'
import { startTestGateway } from '../lib/test-gateway.js'
import { openApiPath } from '../../server/api/openapi.js'

t.test('every served API route is in the OpenAPI document, and nothing else', async (t) => {
  const gw = await startTestGateway(t, 'pglite')
  const doc = (await gw.http.get('/api/openapi.json')).body
  t.equal(doc.openapi, '3.1.0')
  const served = gw.server.servedRoutes().map((r) => `${r.method} ${openApiPath(r.path)}`)
  const documented = Object.entries(doc.paths as Record<string, object>).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`))
  t.ok(served.length > 20)
  t.same([...served].sort(), [...documented].sort(), 'served routes = documented operations')
  const login = doc.paths['/api/auth/login'].post
  t.equal(login.requestBody.content['application/json'].schema.properties.username.type, 'string', 'body schemas are included')
})

t.test('health and metrics', async (t) => {
  const gw = await startTestGateway(t, 'pglite')
  const health = await gw.http.get('/healthz')
  t.equal(health.status, 200)
  t.same(health.body, { status: 'ok', database: { status: 'ok', dialect: 'pglite' } })
  t.equal((await gw.http.get('/metrics')).status, 401, 'metrics need a credential')
  await gw.http.get('/api/fleets', { token: gw.adminToken })
  const metrics = await gw.http.get('/metrics', { token: gw.adminToken })
  t.equal(metrics.status, 200)
  t.match(metrics.headers.get('content-type'), /text\/plain/)
  t.match(metrics.body, /edgetainer_http_requests_total\{method="GET",route="\/api\/fleets",status="200"\} 1/)
  t.match(metrics.body, /edgetainer_http_request_duration_seconds_bucket/)
})

t.test('unknown errors do not leak internals', async (t) => {
  const gw = await startTestGateway(t, 'pglite')
  await gw.server.database.db.schema.dropTable('audit_log').execute()
  const res = await gw.http.post('/api/fleets', { name: 'will-fail' }, { token: gw.adminToken })
  t.equal(res.status, 500)
  t.same(res.body, { error: 'internal error', code: 'INTERNAL' })
})
