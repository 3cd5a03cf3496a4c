import fc from 'fast-check'
import t from 'tap'
import { startTestGateway } from '../lib/test-gateway.js'

/** Something a client might send as a body: valid-looking fields, wrong types, junk, or text that is not JSON at all. */
const userFields = fc.record(
  {
    username: fc.oneof(fc.string(), fc.stringMatching(/^[a-z][a-z0-9._-]{1,20}$/), fc.integer()),
    email: fc.oneof(fc.string(), fc.emailAddress(), fc.constant(null), fc.integer()),
    password: fc.oneof(fc.string({ maxLength: 40 }), fc.string({ minLength: 10, maxLength: 1100 }), fc.constant(null)),
    role: fc.oneof(fc.constantFrom('viewer', 'operator', 'admin', 'root', ''), fc.integer()),
    disabled: fc.oneof(fc.boolean(), fc.string(), fc.constant(null)),
    extra: fc.anything(),
  },
  { requiredKeys: [] },
)
const tokenFields = fc.record(
  {
    description: fc.oneof(fc.string({ maxLength: 300 }), fc.integer(), fc.constant(null)),
    expires_in_days: fc.oneof(fc.integer({ min: -10, max: 5000 }), fc.double(), fc.string()),
    expires_at: fc.oneof(fc.string(), fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), fc.integer()),
  },
  { requiredKeys: [] },
)
const rawBody = fc.oneof(fc.string(), fc.constantFrom('{', '[]', 'null', '"x"', '{"password":', '\u0000'))
// Malformed percent-escapes (`%ZZ`) are express's param decoding, the error handler's business, fuzzed in api-fuzz.test.ts.
const idSegment = fc.oneof(fc.uuid(), fc.string({ minLength: 1, maxLength: 60 }).map(encodeURIComponent), fc.constantFrom('..', '%00', '00000000-0000-0000-0000-000000000000'))

t.test('user, password and token routes answer hostile input without a 5xx', async (t) => {
  const gw = await startTestGateway(t, 'postgres', { start: { accessRecheckMs: 200 } })
  const target = (await gw.http.post('/api/users', { username: 'fuzz-target', password: 'fuzz-target-password', role: 'operator' }, { token: gw.adminToken })).body
  const viewer = await gw.tokenFor('viewer')
  let cases = 0
  const statuses = new Map<number, number>()
  const check = (what: string, status: number) => {
    cases++
    statuses.set(status, (statuses.get(status) ?? 0) + 1)
    if (status >= 500) throw new Error(`${what} answered ${status}`)
  }

  await fc.assert(
    fc.asyncProperty(
      fc.oneof(userFields, rawBody),
      fc.oneof(userFields, rawBody),
      fc.oneof(tokenFields, rawBody),
      idSegment,
      idSegment,
      async (createBody, updateBody, tokenBody, id, tokenId) => {
        check('POST /api/users', (await gw.http.post('/api/users', createBody, { token: gw.adminToken })).status)
        // Password, role and disabled changes land on the target, never on the admin driving the test.
        check('PUT /api/users/:target', (await gw.http.put(`/api/users/${target.id}`, updateBody, { token: gw.adminToken })).status)
        check('PUT /api/users/:id', (await gw.http.put(`/api/users/${id}`, { email: null }, { token: gw.adminToken })).status)
        check('DELETE /api/users/:id', (await gw.http.delete(`/api/users/${id}`, { token: gw.adminToken })).status)
        check('POST /api/tokens', (await gw.http.post('/api/tokens', tokenBody, { token: viewer })).status)
        check('DELETE /api/tokens/:id', (await gw.http.delete(`/api/tokens/${tokenId}`, { token: viewer })).status)
        check('GET /api/users/:id/tokens', (await gw.http.get(`/api/users/${id}/tokens`, { token: gw.adminToken })).status)
        check('DELETE /api/users/:id/tokens/:tokenId', (await gw.http.delete(`/api/users/${id}/tokens/${tokenId}`, { token: gw.adminToken })).status)
      },
    ),
    { numRuns: 40 },
  )
  t.comment(`ran ${cases} requests; statuses ${JSON.stringify(Object.fromEntries(statuses))}`)
  t.ok(cases >= 320, 'every generated request ran')
  t.ok([...statuses.keys()].some((s) => s >= 400 && s < 500), 'hostile input met 4xx answers')
  t.equal((await gw.http.get('/healthz')).status, 200, 'the gateway is still alive')
  t.equal((await gw.http.get('/api/users', { token: gw.adminToken })).status, 200, 'and still serves the admin')
})
