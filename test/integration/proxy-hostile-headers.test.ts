import t from 'tap'
import fc from 'fast-check'
import pg from 'pg'
import { createPostgresDatabase } from '../lib/databases.js'
import { createHttpClient } from '../lib/http-client.js'
import { freePort, waitFor } from '../lib/openssh.js'
import { spawnGateway } from '../lib/spawn-gateway.js'
import { ADMIN_PASSWORD, testGatewayEnv } from '../lib/test-gateway.js'
import { newKeyPair } from '../lib/keys.js'
import { connectSsh2Device } from '../lib/ssh2-device.js'
import { rawRequest, startDeviceApp } from '../lib/device-app.js'

/**
 * Hostile request headers against the subdomain proxy, over raw sockets (node's
 * client refuses the bytes this needs), to a gateway in a process of its own:
 * "the process is alive" is then a fact about a PID, not about a handler.
 */

const RUNS_PER_BATCH = Number(process.env.PROXY_FUZZ_RUNS ?? 60)
const BATCHES = 4

/** Header value bytes: CR and LF would start a new header line, so they become other control bytes. */
const noCrLf = (bytes: Uint8Array) => Buffer.from(bytes.map((b) => (b === 13 ? 0 : b === 10 ? 11 : b)))

t.test('hostile request headers never take the proxy down', async (t) => {
  const databaseUrl = await createPostgresDatabase(t)
  const gateway = await spawnGateway(
    t,
    testGatewayEnv(t, {
      DATABASE_URL: databaseUrl,
      EDGETAINER_HTTP_PORT: String(await freePort()),
      EDGETAINER_SSH_PORT: String(await freePort()),
      // Errors only: each one logged while fuzzing is a failure path the proxy should not have needed.
      EDGETAINER_LOG_LEVEL: 'error',
    }),
  )
  const errorLogs: string[] = []
  let pending = ''
  gateway.child.stdout!.on('data', (d: Buffer) => {
    const lines = (pending + d.toString('utf8')).split('\n')
    pending = lines.pop()!
    for (const line of lines) if (/"level":(50|60)/.test(line)) errorLogs.push(line.slice(0, 500))
  })
  const port = gateway.httpPort
  const http = createHttpClient(`http://127.0.0.1:${port}`)
  const token = (await http.post('/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })).body.token as string
  const apiToken = (await http.post('/api/tokens', { description: 'fuzz' }, { token })).body.token as string
  const key = newKeyPair()
  const device = (await http.post('/api/devices', { name: 'Fuzz', device_id: 'fuzz-1', public_key: key.publicKey }, { token })).body
  const app = await startDeviceApp(t, 'app')
  const canaryApp = await startDeviceApp(t, 'canary')
  const create = (body: object) => http.post(`/api/devices/${device.id}/exposed-services`, body, { token })
  const open = (await create({ name: 'open', container_name: 'app', internal_port: 80, auth_required: false })).body
  await create({ name: 'secret', container_name: 'app', internal_port: 80 })
  await create({ name: 'docs', container_name: 'app', internal_port: 80, auth_required: false, url_path: '/docs' })
  const canary = (await create({ name: 'canary', container_name: 'canary', internal_port: 80, auth_required: false })).body
  const dev = await connectSsh2Device(t, { port: gateway.sshPort, hostPublicKey: gateway.hostPublicKey, deviceId: 'fuzz-1', key })
  await dev.forward('app', 80, app.port)
  await dev.forward('canary', 80, canaryApp.port)
  for (const service of [open, canary]) {
    await waitFor('service connected', async () => (await http.get(`/api/devices/${device.id}/exposed-services/${service.id}`, { token })).body.connected)
  }

  /** The process-level safety net's count, where the gateway has one: it must not have been needed. */
  async function unexpectedErrors(): Promise<number> {
    const res = await rawRequest(port, `GET /metrics HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`)
    return [...res.body.matchAll(/^edgetainer_unexpected_errors_total(?:\{[^}]*\})? (\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0)
  }
  const alive = () => gateway.child.exitCode === null && gateway.child.signalCode === null
  async function canaryAnswers(): Promise<boolean> {
    const res = await rawRequest(port, `GET /ping HTTP/1.1\r\nHost: canary.fuzz-1.localhost:${port}\r\nConnection: close\r\n\r\n`)
    if (res.status !== 200 || res.body !== 'canary says hello at /ping') t.comment(`canary: ${res.status} ${JSON.stringify(res.head + res.body).slice(0, 300)}`)
    return res.status === 200 && res.body === 'canary says hello at /ping'
  }

  const forgedJwt = [{ alg: 'HS256' }, { iss: 'edgetainer', sid: 'x' }, 'sig'].map((p) => Buffer.from(typeof p === 'string' ? p : JSON.stringify(p)).toString('base64url')).join('.')
  const ourSecrets = [token, apiToken, forgedJwt]
  const hosts = ['open', 'open', 'secret', 'secret', 'canary', 'nope'].map((s) => `${s}.fuzz-1.localhost`).concat(['fuzz-1.localhost', 'fuzz-1.localhost', 'x.y.fuzz-1.localhost', 'localhost', 'nobody.localhost'])

  const text = fc.oneof(
    fc.string({ maxLength: 60 }),
    fc.string({ unit: 'grapheme', maxLength: 30 }),
    fc.constantFrom('', ' ', '\t', 'edgetainer_session', '=', ';', ',', '"', '\\', '%00', '%0d%0a', '..', 'é', '☃', '\u{1F600}'),
  )
  // Mostly bytes Node's parser lets through (so the proxy sees them), some it must refuse.
  const bytes = fc.oneof(
    { weight: 6, arbitrary: text.map((s) => Buffer.from(s.replace(/[\r\n]/g, ' '), 'utf8')) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 80 }).map(noCrLf) },
    { weight: 1, arbitrary: fc.uint8Array({ min: 0x20, maxLength: 80 }).map(noCrLf) },
    fc.tuple(fc.constantFrom('a', '\0', '\u00ff', ';', '='), fc.constantFrom(1000, 8000, 20_000)).map(([c, n]) => Buffer.from(c.repeat(n), 'latin1')),
  )
  const cookie = fc
    .array(
      fc.oneof(
        fc.constantFrom(...ourSecrets).map((v) => `edgetainer_session=${v}`),
        fc.tuple(fc.constantFrom('edgetainer_session', ' edgetainer_session ', 'x', 'a b', '', 'EDGETAINER_SESSION'), text).map(([n, v]) => `${n}=${v}`),
        text,
      ),
      { maxLength: 5 },
    )
    .chain((pairs) => fc.constantFrom('; ', ';', ',').map((sep) => Buffer.from(pairs.join(sep).replace(/[\r\n]/g, ' '), 'utf8')))
  const authorization = fc.oneof(
    fc.constantFrom(...ourSecrets, 'et_garbage', 'app-token').chain((v) => fc.constantFrom('Bearer ', 'bearer  ', 'Basic ', 'Bearer\t', 'Bearer\u00a0', ' BEARER ').map((s) => Buffer.from(s + v, 'latin1'))),
    bytes,
  )
  const host = fc.oneof(
    {
      weight: 6,
      arbitrary: fc.tuple(fc.constantFrom(...hosts), fc.constantFrom('', `:${port}`, ':0', ':99999999', ':x', '.', ':', ':80:80')).map(([h, p]) => Buffer.from(h + p)),
    },
    { weight: 1, arbitrary: fc.tuple(text, fc.constantFrom(...hosts)).map(([a, h]) => Buffer.from(`${a.replace(/[\r\n]/g, '')}.${h}`, 'utf8')) },
    { weight: 1, arbitrary: bytes },
  )
  const forwarding = fc.constantFrom('X-Forwarded-For', 'X-Forwarded-Host', 'X-Forwarded-Proto', 'X-Forwarded-Port', 'X-Forwarded-Prefix', 'Forwarded', 'X-Real-IP')
  const header: fc.Arbitrary<[string, Buffer]> = fc.oneof(
    { weight: 3, arbitrary: fc.tuple(fc.constant('Cookie'), cookie) },
    { weight: 3, arbitrary: fc.tuple(fc.constant('Authorization'), authorization) },
    { weight: 1, arbitrary: fc.tuple(fc.constant('Host'), host) },
    { weight: 3, arbitrary: fc.tuple(forwarding, bytes) },
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom('Upgrade', 'Connection', 'Origin', 'Sec-WebSocket-Key', 'Sec-WebSocket-Version', 'Accept'), bytes) },
    { weight: 1, arbitrary: fc.tuple(fc.string({ minLength: 1, maxLength: 20 }).map((n) => n.replace(/[\r\n:]/g, '-') || 'X'), bytes) },
  )
  const hostileRequest = fc.record({
    method: fc.oneof({ weight: 4, arbitrary: fc.constant('GET') }, { weight: 1, arbitrary: fc.constantFrom('POST', 'OPTIONS', 'DELETE', 'HEAD') }),
    // No path starting `//`: the console's terminal upgrade answers `//[` with a 500 (not the proxy's; reported).
    path: fc.oneof(fc.constantFrom('/', '/docs/x', '/.edgetainer/handoff?ticket=x&next=/%5Cevil', '*', '/..%2f'), fc.stringMatching(/^\/([!-.0-~][!-~]{0,39})?$/)),
    host,
    upgrade: fc.boolean(),
    headers: fc.array(header, { maxLength: 8 }),
  })

  function encode(r: { method: string; path: string; host: Buffer; upgrade: boolean; headers: [string, Buffer][] }): Buffer {
    const lines: Buffer[] = [Buffer.from(`${r.method} ${r.path} HTTP/1.1\r\nHost: `), r.host, Buffer.from('\r\n')]
    if (r.upgrade) lines.push(Buffer.from('Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'))
    for (const [name, value] of r.headers) lines.push(Buffer.from(`${name}: `), value, Buffer.from('\r\n'))
    if (!r.upgrade) lines.push(Buffer.from('Connection: close\r\n'))
    lines.push(Buffer.from('\r\n'))
    return Buffer.concat(lines)
  }

  /** What reached the device app must carry none of ours and no forwarding claim but ours. */
  function checkDelivered(raw: string[]) {
    const pairs: [string, string][] = []
    for (let i = 0; i < raw.length; i += 2) pairs.push([raw[i]!.toLowerCase(), raw[i + 1]!])
    for (const [name, value] of pairs) {
      if (name === 'cookie') {
        for (const pair of value.split(';')) {
          const cookieName = pair.split('=')[0]!.trim()
          if (cookieName === 'edgetainer_session') throw new Error(`our session cookie reached the device: ${value.slice(0, 80)}`)
        }
      }
      if (name === 'authorization' && ourSecrets.some((s) => value.includes(s)) && /bearer/i.test(value)) throw new Error('our Bearer reached the device')
      if (name === 'x-forwarded-for' && value !== '127.0.0.1') throw new Error(`X-Forwarded-For not ours: ${value.slice(0, 80)}`)
      if (name === 'x-real-ip') throw new Error('a client X-Real-IP reached the device')
      if (name === 'x-forwarded-proto' && value !== 'http') throw new Error(`X-Forwarded-Proto not ours: ${value.slice(0, 80)}`)
      if (name === 'x-forwarded-prefix' && value !== '/docs') throw new Error(`X-Forwarded-Prefix not ours: ${value.slice(0, 80)}`)
      if (name === 'x-forwarded-host' && !/^([a-z0-9-]+\.)?fuzz-1\.localhost(:\d+)?$/.test(value)) throw new Error(`X-Forwarded-Host not ours: ${value.slice(0, 80)}`)
      if (name === 'forwarded' && !value.startsWith('for=127.0.0.1;host="')) throw new Error(`Forwarded not ours: ${value.slice(0, 80)}`)
    }
    for (const name of ['x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-port', 'forwarded', 'host']) {
      if (pairs.filter(([n]) => n === name).length !== 1) throw new Error(`expected exactly one ${name}`)
    }
    if (pairs.filter(([n]) => n === 'x-forwarded-for').length !== 1) throw new Error('expected exactly one X-Forwarded-For')
  }

  t.ok(await canaryAnswers(), 'the canary service answers before the fuzzing')
  const unexpectedBefore = await unexpectedErrors()
  let cases = 0
  const statuses = new Map<number, number>()
  for (let batch = 0; batch < BATCHES; batch++) {
    await fc.assert(
      fc.asyncProperty(hostileRequest, async (r) => {
        cases++
        const before = app.raw.length
        const res = await rawRequest(port, encode(r), 5000)
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
        if (res.status === 0 && process.env.DEBUG_FUZZ) t.comment(JSON.stringify(encode(r).toString('latin1').slice(0, 400)))
        // 502 and 503 are documented answers (device offline, service not forwarded, database down), but none of
        // that is true here: every service this test names is connected, so any 5xx is a bug.
        if (res.status >= 500) throw new Error(`answered ${res.status}: ${(res.head + res.body).slice(0, 300)}`)
        if (!alive()) throw new Error('the gateway process exited')
        for (const raw of app.raw.slice(before)) checkDelivered(raw)
      }),
      { numRuns: RUNS_PER_BATCH, endOnFailure: true, ...(process.env.FUZZ_SEED ? { seed: Number(process.env.FUZZ_SEED), path: process.env.FUZZ_PATH } : {}) },
    )
    t.ok(alive(), `batch ${batch + 1}: the gateway process is alive`)
    t.ok(await canaryAnswers(), `batch ${batch + 1}: the canary service still answers`)
  }
  t.equal(await unexpectedErrors(), unexpectedBefore, 'no error reached the process-level handlers')
  t.same(errorLogs, [], 'the gateway logged no error while being fuzzed')
  t.ok(app.raw.length > 0, `${app.raw.length} fuzzed requests reached the device app, and were checked`)
  t.comment(`ran ${cases} cases; answers by status: ${JSON.stringify(Object.fromEntries(statuses))}`)

  await t.test('with the database unreachable, a route lookup is a 503 that names it, and service resumes after', async (t) => {
    const name = new URL(databaseUrl).pathname.slice(1)
    const admin = new pg.Client({ connectionString: process.env.EDGETAINER_TEST_PG_URL })
    await admin.connect()
    t.teardown(() => admin.end())
    const setConnections = async (allowed: boolean) => {
      await admin.query(`alter database ${name} allow_connections ${allowed}`)
      if (!allowed) await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [name])
    }
    const get = (hostname: string, headers = '') => rawRequest(port, `GET / HTTP/1.1\r\nHost: ${hostname}:${port}\r\n${headers}Connection: close\r\n\r\n`, 15_000)
    await setConnections(false)
    try {
      const unknown = await get('never-seen.localhost')
      t.equal(unknown.status, 503, 'an uncached lookup cannot be answered')
      t.equal(JSON.parse(unknown.body).code, 'ROUTING_UNAVAILABLE')
      t.equal((await get('canary.fuzz-1.localhost')).status, 200, 'a cached route still serves, without the database')
      const signedIn = await get('secret.fuzz-1.localhost', `Cookie: edgetainer_session=${token}\r\n`)
      t.ok([401, 503].includes(signedIn.status), `a session that cannot be checked is refused (${signedIn.status}), never passed`)
      t.ok(alive(), 'the gateway process is alive')
    } finally {
      await setConnections(true)
    }
    await waitFor('lookups work again', async () => (await get('never-seen.localhost')).status === 404, 15_000)
    t.ok(await canaryAnswers(), 'the canary service still answers')
    t.ok(alive(), 'the gateway process is alive')
  })
})
