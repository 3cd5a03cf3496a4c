import http from 'node:http'
import fc from 'fast-check'
import t from 'tap'
import { startTestGateway } from '../lib/test-gateway.js'

/** Status and content type of a request; a stream is closed as soon as its head arrives. */
function head(port: number, method: string, path: string, token: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; type: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}), ...headers } }, (res) => {
      const type = String(res.headers['content-type'] ?? '')
      if (type.includes('text/event-stream')) {
        req.destroy()
        return resolve({ status: res.statusCode ?? 0, type })
      }
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type }))
    })
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer to ${method} ${path}`)))
    req.on('error', reject)
    req.end(body)
  })
}

const hostileText = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.constantFrom('', 'YTox', 'YTotMQ', 'YTo5OTk5OTk5OTk5OTk5OTk5OTk5OTk', '%00', '%ZZ', '../..', 'a:1', 'YToxOw==', '1e309', '-1', 'null', '[]', '💥', '\u0000'),
)

t.test('hostile query parameters, headers and paths on the logs, release and container routes', async (t) => {
  const gw = await startTestGateway(t, 'postgres', { start: { logKeepAliveMs: 200 } })
  const { http: api, adminToken: token } = gw
  const port = gw.server.httpPort
  const device = (await api.post('/api/devices', { name: 'Fuzz', device_id: 'fuzz-logs' }, { token })).body
  const operator = await gw.tokenFor('operator')
  let cases = 0
  const statuses = new Map<number, number>()
  const judge = (status: number, what: string) => {
    statuses.set(status, (statuses.get(status) ?? 0) + 1)
    // 502 is documented: the device is offline, so its agent cannot act.
    if (status >= 500 && status !== 502) throw new Error(`${status} for ${what}`)
  }

  const query = fc.record(
    {
      before: hostileText,
      follow: fc.oneof(fc.constantFrom('1', '0', 'true', 'false', 'yes', ''), hostileText),
      limit: fc.oneof(fc.integer({ min: -5, max: 5000 }).map(String), hostileText),
      offset: fc.oneof(fc.integer({ min: -5, max: 1e9 }).map(String), hostileText),
      container: hostileText,
      since: fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), hostileText),
      attention: hostileText,
    },
    { requiredKeys: [] },
  )
  await fc.assert(
    fc.asyncProperty(query, fc.option(hostileText), fc.constantFrom(device.id, 'fuzz-logs', 'nope'), async (q, lastEventId, ref) => {
      cases++
      const qs = new URLSearchParams(q as Record<string, string>).toString()
      const headers: Record<string, string> = lastEventId !== null && /^[\x20-\x7e]*$/.test(lastEventId) ? { 'last-event-id': lastEventId } : {}
      for (const path of [`/api/devices/${encodeURIComponent(ref)}/logs?${qs}`, `/api/devices?${qs}`, `/api/devices/${encodeURIComponent(ref)}/release?${qs}`]) {
        const answer = await head(port, 'GET', path, token, headers)
        judge(answer.status, path)
        if (answer.type.includes('event-stream')) t.equal(answer.status, 200)
      }
    }),
    { numRuns: 100 },
  )

  const action = fc.record({
    service: fc.oneof(hostileText, fc.constantFrom('web', 'a'.repeat(200), '-x', 'x y')),
    verb: fc.constantFrom('restart', 'stop', 'start', 'kill', ''),
    body: fc.oneof(fc.constant(undefined), fc.json(), fc.record({ software_id: fc.oneof(fc.uuid(), hostileText) }).map((b) => JSON.stringify(b))),
  })
  await fc.assert(
    fc.asyncProperty(action, async ({ service, verb, body }) => {
      cases++
      const path = `/api/devices/${device.id}/containers/${encodeURIComponent(service)}/${verb}`
      const answer = await head(port, 'POST', path, operator, {}, body)
      judge(answer.status, `POST ${path} ${body}`)
    }),
    { numRuns: 100 },
  )
  t.comment(`ran ${cases} cases; answers by status: ${[...statuses].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`).join(' ')}`)
  t.equal((await api.get('/api/auth/me', { token })).status, 200, 'the gateway still answers')
  t.equal((await api.post(`/api/devices/${device.id}/containers/web/restart`, {}, { token: operator })).body.code, 'DEVICE_OFFLINE', 'an offline device says so')
})
